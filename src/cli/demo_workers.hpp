// The demo's worker processes: each takes slots from one shared SQLite bucket as fast as the
// limit lets it and reports every admission to the parent through a pipe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "pyrate/rate.hpp"

namespace pyrate::cli {

using SteadyTime = std::chrono::steady_clock::time_point;

// One admission as a worker reported it.
struct Admission {
  int worker = 0;          // the worker's number
  std::int64_t at_us = 0;  // steady_clock time, in microseconds, when try_acquire returned
};

// Microseconds of steady_clock time; the clock is shared by every process on the host.
std::int64_t steady_micros(SteadyTime time);

// A group of worker processes, forked by the constructor.
class WorkerGroup {
 public:
  // Forks `count` workers numbered `first_number` onwards. Each opens the bucket `bucket` of
  // the file `db_path` as a multiprocess SQLiteBucket with `rate`, wraps it in a Limiter and,
  // until `end`, takes one slot (a blocking acquire that gives up when no slot frees before
  // `end`), reports the admission and works for `work_time`. Throws std::system_error when a
  // pipe or a process cannot be made.
  WorkerGroup(const std::string& db_path, const std::string& bucket, const Rate& rate,
              std::chrono::milliseconds work_time, int first_number, int count, SteadyTime end);
  // Kills and reaps the workers still running.
  ~WorkerGroup();

  WorkerGroup(const WorkerGroup&) = delete;
  WorkerGroup& operator=(const WorkerGroup&) = delete;

  // Waits up to `timeout` for reports and appends them to `admissions`. Returns false once
  // every worker has exited and every report was read.
  bool read(std::chrono::milliseconds timeout, std::vector<Admission>& admissions);

  // Kills the workers still running.
  void kill();

  // Reaps the workers; returns how many did not exit with status 0.
  int wait();

 private:
  int read_fd_ = -1;
  std::vector<pid_t> pids_;
  std::string pending_;  // bytes of a report not read whole yet
};

}  // namespace pyrate::cli
