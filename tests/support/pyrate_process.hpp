// The pyrate command run as a real process (the binary at PYRATE_CLI_PATH, which the test
// program must define): its exit code and what it wrote, for the CLI tests.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace pyrate::testing {

// Environment changes for one run: a value sets the variable, nullopt unsets it.
using Environment = std::map<std::string, std::optional<std::string>>;

struct Outcome {
  int exit_code = -1;  // 128 + signal when killed
  std::string out;
  std::string err;
};

// The number of lines of `text`, each ended by '\n'.
inline std::size_t line_count(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// A pyrate process started with `arguments`; wait() collects its output and exit code.
class PyrateProcess {
 public:
  explicit PyrateProcess(const std::vector<std::string>& arguments, const Environment& env = {}) {
    int out[2];
    int err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
      throw std::system_error(errno, std::generic_category(), "pipe");
    }
    pid_ = ::fork();
    if (pid_ < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      for (const auto& [name, value] : env) {
        if (value) {
          ::setenv(name.c_str(), value->c_str(), 1);
        } else {
          ::unsetenv(name.c_str());
        }
      }
      std::vector<char*> argv{const_cast<char*>(PYRATE_CLI_PATH)};
      for (const std::string& argument : arguments)
        argv.push_back(const_cast<char*>(argument.c_str()));
      argv.push_back(nullptr);
      ::execv(PYRATE_CLI_PATH, argv.data());
      ::_exit(99);
    }
    ::close(out[1]);
    ::close(err[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
  }
  PyrateProcess(const PyrateProcess&) = delete;
  PyrateProcess& operator=(const PyrateProcess&) = delete;
  PyrateProcess(PyrateProcess&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)),
        out_fd_(std::exchange(other.out_fd_, -1)),
        err_fd_(std::exchange(other.err_fd_, -1)) {}
  ~PyrateProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
    if (err_fd_ >= 0) ::close(err_fd_);
  }

  void signal(int number) const { ::kill(pid_, number); }

  Outcome wait() {
    Outcome outcome;
    std::vector<pollfd> open{{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
    while (!open.empty()) {
      if (::poll(open.data(), open.size(), -1) < 0 && errno != EINTR) break;
      for (auto it = open.begin(); it != open.end();) {
        if (it->revents == 0) {
          ++it;
          continue;
        }
        char buffer[4096];
        const ssize_t got = ::read(it->fd, buffer, sizeof buffer);
        if (got > 0) {
          (it->fd == out_fd_ ? outcome.out : outcome.err)
              .append(buffer, static_cast<std::size_t>(got));
          it->revents = 0;
          ++it;
        } else {
          it = open.erase(it);
        }
      }
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return outcome;
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
};

inline Outcome run_pyrate(const std::vector<std::string>& arguments, const Environment& env = {}) {
  return PyrateProcess(arguments, env).wait();
}

// How many of `processes` (each an acquire) exited 0, admitted, and 1, refused, waiting for each;
// checks that every one exited with one of the two.
struct AcquireTally {
  int admitted = 0;
  int refused = 0;
};
inline AcquireTally tally_acquires(std::vector<PyrateProcess>& processes) {
  AcquireTally tally;
  for (PyrateProcess& process : processes) {
    const Outcome outcome = process.wait();
    INFO(outcome.err);
    CHECK((outcome.exit_code == 0 || outcome.exit_code == 1));
    tally.admitted += outcome.exit_code == 0 ? 1 : 0;
    tally.refused += outcome.exit_code == 1 ? 1 : 0;
  }
  return tally;
}

}  // namespace pyrate::testing
