// Test support for multi-process tests: forked children, memory shared with them, a clock
// they share, and a scratch directory holding a database file.
#pragma once

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <new>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "scratch/temporary_directory.hpp"

namespace pyrate::testing {

// Nanoseconds of CLOCK_MONOTONIC: one clock for every process of the machine.
inline std::int64_t monotonic_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

// Sleeps until another process or thread sets `flag`.
inline void sleep_until_set(const std::atomic<bool>& flag) {
  while (!flag.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

// A process forked to run `body`, whose int result is its exit code (an exception exits 100).
// The child never returns into the test runner. Destruction kills and reaps a child that is
// still running.
class ChildProcess {
 public:
  template <class Body>
  explicit ChildProcess(Body body) {
    std::fflush(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid_ == 0) {
      int code = 100;
      try {
        code = body();
      } catch (const std::exception& error) {
        std::fprintf(stderr, "child %d: %s\n", static_cast<int>(::getpid()), error.what());
      } catch (...) {
        std::fprintf(stderr, "child %d: unknown exception\n", static_cast<int>(::getpid()));
      }
      std::fflush(nullptr);
      ::_exit(code);
    }
  }
  ChildProcess(ChildProcess&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)), status_(other.status_) {}
  // Kills and reaps this child, then takes over `other`'s.
  ChildProcess& operator=(ChildProcess&& other) noexcept {
    if (this != &other) {
      reap_by_force();
      pid_ = std::exchange(other.pid_, -1);
      status_ = other.status_;
    }
    return *this;
  }
  ~ChildProcess() { reap_by_force(); }

  pid_t pid() const { return pid_; }
  void signal(int number) const { ::kill(pid_, number); }

  // Reaps the child; returns its exit code, or -N when signal N ended it.
  int wait() {
    if (pid_ > 0) {
      while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
      }
      pid_ = -1;
    }
    if (WIFEXITED(status_)) return WEXITSTATUS(status_);
    if (WIFSIGNALED(status_)) return -WTERMSIG(status_);
    return -1000;
  }

  // True once the child is asleep in the kernel (e.g. blocked on a lock), checked through
  // /proc; gives up after `patience`.
  bool wait_until_sleeping(std::chrono::milliseconds patience) const {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    do {
      std::ifstream stat("/proc/" + std::to_string(pid_) + "/stat");
      std::string line;
      std::getline(stat, line);
      const auto after_name = line.rfind(')');
      if (after_name != std::string::npos && after_name + 2 < line.size() &&
          line[after_name + 2] == 'S') {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    } while (std::chrono::steady_clock::now() < deadline);
    return false;
  }

 private:
  void reap_by_force() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }

  pid_t pid_ = -1;
  int status_ = 0;
};

// A T that lives in memory shared with every child forked after its creation.
template <class T>
class SharedMemory {
 public:
  template <class... Args>
  explicit SharedMemory(Args&&... args) {
    void* memory =
        ::mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap");
    value_ = new (memory) T(std::forward<Args>(args)...);
  }
  ~SharedMemory() {
    value_->~T();
    ::munmap(value_, sizeof(T));
  }
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;

  T* operator->() const { return value_; }
  T& operator*() const { return *value_; }

 private:
  T* value_;
};

// A fresh directory holding a file `db` (empty unless something writes it). Removes the
// directory and the interprocess lock objects of the files in it on destruction.
class ScratchDatabase {
 public:
  ScratchDatabase() : path_(dir_.file("db")) { std::ofstream(path_).flush(); }

  const std::filesystem::path& dir() const { return dir_.path(); }
  const std::string& path() const { return path_; }

 private:
  TemporaryDirectory dir_{"pyrate-mp"};
  std::string path_;
};

}  // namespace pyrate::testing
