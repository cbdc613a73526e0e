#include "demo_workers.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "pyrate/limiter.hpp"
#include "pyrate/sqlite_bucket.hpp"

namespace pyrate::cli {
namespace {

// How long past the computed wait a blocked worker sleeps: small, so that the workers keep
// the window busy (the Limiter's default is 50 ms).
constexpr Millis kBufferMs = 5;

// What a worker writes for each admission; 16 bytes, so each write is atomic on a pipe.
struct Report {
  std::int32_t worker;
  std::int32_t reserved;
  std::int64_t timestamp;
};

[[noreturn]] void throw_system_error(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// The timestamp of the newest slot put under `name`: the one just admitted, as only this
// worker puts slots under its name and slots newer than it belong to other workers.
Millis recorded_timestamp(SQLiteBucket& bucket, const std::string& name) {
  for (std::int64_t index = 0;; ++index) {
    const std::optional<RateItem> slot = bucket.peek(index);
    if (!slot) throw std::runtime_error("admitted, but the file holds no slot of " + name);
    if (slot->name == name) return slot->timestamp;
  }
}

// The body of a worker process; never returns.
[[noreturn]] void work(const WorkerPlan& plan, int number, int report_fd) {
  int status = 0;
  try {
    SQLiteOptions options;
    options.db_path = plan.db_path;
    options.bucket = plan.bucket;
    options.multiprocess = true;
    const auto bucket = std::make_shared<SQLiteBucket>(std::vector<Rate>{plan.rate}, options);
    Limiter limiter(bucket, kBufferMs);
    const std::string name = "worker " + std::to_string(number);
    while (true) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= plan.stop_at) break;
      AcquireOptions acquire;
      acquire.timeout = std::chrono::ceil<std::chrono::milliseconds>(plan.stop_at - now);
      // Refused: no slot frees before stop_at, so this worker is done.
      if (!limiter.try_acquire(name, acquire)) break;
      const Report report{number, 0, recorded_timestamp(*bucket, name)};
      if (::write(report_fd, &report, sizeof report) != static_cast<ssize_t>(sizeof report)) {
        throw_system_error("report");
      }
      std::this_thread::sleep_for(plan.work_time);
    }
    limiter.close();
  } catch (const std::exception& error) {
    std::cerr << "pyrate: demo worker " << number << ": " << error.what() << '\n';
    status = 2;
  }
  ::_exit(status);
}

}  // namespace

WorkerGroup::WorkerGroup(const WorkerPlan& plan) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_system_error("pipe");
  read_fd_ = fds[0];
  std::cout.flush();
  for (int i = 0; i < plan.count; ++i) {
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
      work(plan, plan.first_number + i, fds[1]);
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
    admissions.push_back({report.worker, report.timestamp});
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
