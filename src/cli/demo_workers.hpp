// The demo's worker processes: each takes slots from one shared SQLite bucket as fast as the
// limit lets it and reports every admission to the parent through a pipe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "pyrate/rate.hpp"

namespace pyrate::cli {

// One admission as a worker reported it.
struct Admission {
  int worker = 0;        // the worker's number
  Millis timestamp = 0;  // the slot's timestamp (Unix ms) as the file recorded it
};

// What the workers of a group do.
struct WorkerPlan {
  std::string db_path;
  std::string bucket;
  Rate rate;
  std::chrono::milliseconds work_time;  // how long a worker works after each admission
  int first_number = 1;                 // the first worker's number; the others follow
  int count = 1;
  std::chrono::steady_clock::time_point stop_at;
};

// A group of worker processes, forked by the constructor.
class WorkerGroup {
 public:
  // Forks plan.count workers. Each opens the bucket as a multiprocess SQLiteBucket with
  // plan.rate, wraps it in a Limiter and, until plan.stop_at, takes one slot (a blocking
  // acquire that gives up when no slot frees before then), reads the slot's timestamp back
  // from the file, reports it, and works for plan.work_time. A worker that cannot open the
  // file, or finds no slot of its own after an admission, exits with status 2.
  // Throws std::system_error when a pipe or a process cannot be made.
  explicit WorkerGroup(const WorkerPlan& plan);
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
