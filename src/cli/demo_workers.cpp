#include "demo_workers.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <system_error>
#include <thread>

#include "pyrate/limiter.hpp"
#include "pyrate/sqlite_bucket.hpp"

namespace pyrate::cli {
namespace {

// What a worker writes for each admission; 16 bytes, so each write is atomic on a pipe.
struct Report {
  std::int32_t worker;
  std::int32_t reserved;
  std::int64_t at_us;
};

[[noreturn]] void throw_system_error(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// The body of a worker process; never returns.
[[noreturn]] void work(const std::string& db_path, const std::string& bucket_name, const Rate& rate,
                       std::chrono::milliseconds work_time, int number, SteadyTime end,
                       int report_fd) {
  int status = 0;
  try {
    SQLiteOptions options;
    options.db_path = db_path;
    options.bucket = bucket_name;
    options.multiprocess = true;
    Limiter limiter(std::make_shared<SQLiteBucket>(std::vector<Rate>{rate}, options));
    const std::string name = "worker " + std::to_string(number);
    while (true) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= end) break;
      AcquireOptions acquire;
      acquire.timeout = std::chrono::ceil<std::chrono::milliseconds>(end - now);
      // Refused: no room before `end`, so this worker is done.
      if (!limiter.try_acquire(name, acquire)) break;
      const Report report{number, 0, steady_micros(std::chrono::steady_clock::now())};
      if (::write(report_fd, &report, sizeof report) != static_cast<ssize_t>(sizeof report)) {
        throw_system_error("demo worker report");
      }
      std::this_thread::sleep_for(work_time);
    }
    limiter.close();
  } catch (const std::exception& error) {
    std::cerr << "pyrate: demo worker " << number << ": " << error.what() << '\n';
    status = 2;
  }
  ::_exit(status);
}

}  // namespace

std::int64_t steady_micros(SteadyTime time) {
  return std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count();
}

WorkerGroup::WorkerGroup(const std::string& db_path, const std::string& bucket, const Rate& rate,
                         std::chrono::milliseconds work_time, int first_number, int count,
                         SteadyTime end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_system_error("pipe");
  read_fd_ = fds[0];
  std::cout.flush();
  for (int i = 0; i < count; ++i) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      const int error = errno;
      ::close(fds[1]);
      kill();
      wait();
      ::close(read_fd_);
      errno = error;
      throw_system_error("fork");
    }
    if (pid == 0) {
      ::close(fds[0]);
      work(db_path, bucket, rate, work_time, first_number + i, end, fds[1]);
    }
    pids_.push_back(pid);
  }
  ::close(fds[1]);
}

WorkerGroup::~WorkerGroup() {
  kill();
  wait();
  if (read_fd_ >= 0) ::close(read_fd_);
}

bool WorkerGroup::read(std::chrono::milliseconds timeout, std::vector<Admission>& admissions) {
  pollfd ready{read_fd_, POLLIN, 0};
  const int polled = ::poll(&ready, 1, static_cast<int>(timeout.count()));
  if (polled < 0 && errno != EINTR) throw_system_error("poll");
  if (polled <= 0) return true;
  char buffer[4096];
  const ssize_t got = ::read(read_fd_, buffer, sizeof buffer);
  if (got < 0) {
    if (errno == EINTR) return true;
    throw_system_error("read");
  }
  if (got == 0) return false;
  pending_.append(buffer, static_cast<std::size_t>(got));
  std::size_t used = 0;
  for (; pending_.size() - used >= sizeof(Report); used += sizeof(Report)) {
    Report report{};
    std::memcpy(&report, pending_.data() + used, sizeof report);
    admissions.push_back({report.worker, report.at_us});
  }
  pending_.erase(0, used);
  return true;
}

void WorkerGroup::kill() {
  for (const pid_t pid : pids_) ::kill(pid, SIGKILL);
}

int WorkerGroup::wait() {
  int failures = 0;
  for (const pid_t pid : pids_) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failures;
  }
  pids_.clear();
  return failures;
}

}  // namespace pyrate::cli
