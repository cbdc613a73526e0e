// The pyrate command, run as a real binary (PYRATE_CLI_PATH): every invocation is a new
// process, as it is for the scripts that call it. Each test works in its own directory.
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "scratch/temporary_directory.hpp"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using Catch::Matchers::EndsWith;
using Catch::Matchers::StartsWith;

namespace {

// Environment changes for one run: a value sets the variable, nullopt unsets it.
using Environment = std::map<std::string, std::optional<std::string>>;

struct Outcome {
  int exit_code = -1;  // 128 + signal when killed
  std::string out;
  std::string err;
};

// The number of lines of `text`, each ended by '\n'.
std::size_t line_count(const std::string& text) {
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

Outcome run_pyrate(const std::vector<std::string>& arguments, const Environment& env = {}) {
  return PyrateProcess(arguments, env).wait();
}

// A fresh directory, removed with its contents and their lock objects at the end of the test.
class Scratch : public pyrate::TemporaryDirectory {
 public:
  Scratch() : TemporaryDirectory("pyrate-cli-test") {}
  std::string db() const { return file("limits.db"); }
  // The names of the entries below the directory, recursively.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::recursive_directory_iterator(path())) {
      names.push_back(fs::relative(entry.path(), path()).string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// An environment with none of the variables that choose the default database.
Environment isolated(const Scratch& scratch) {
  return {{"PYRATE_DB", std::nullopt},
          {"XDG_STATE_HOME", std::nullopt},
          {"HOME", (scratch.path() / "home").string()}};
}

// The "held" count `status --json` reports for the bucket `name`, or nullopt if it is absent.
std::optional<long> held_slots(const std::string& db, const std::string& name) {
  const Outcome status = run_pyrate({"status", "--db", db, "--json"});
  REQUIRE(status.exit_code == 0);
  const std::regex entry("\"name\": \"" + name + "\",\\s*\"held\": (\\d+)");
  std::smatch match;
  if (!std::regex_search(status.out, match, entry)) return std::nullopt;
  return std::stol(match[1].str());
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("--version prints the version and exits 0") {
  const Outcome outcome = run_pyrate({"--version"});
  CHECK(outcome.exit_code == 0);
  CHECK_THAT(outcome.out, StartsWith("pyrate ") && EndsWith("\n"));
  CHECK(outcome.err.empty());
}

TEST_CASE("--help is there for the command and for every subcommand") {
  const Outcome general = run_pyrate({"--help"});
  CHECK(general.exit_code == 0);
  CHECK_THAT(general.out, Contains("usage: pyrate"));
  for (const std::string subcommand : {"acquire", "exec", "status", "flush", "leak", "demo"}) {
    INFO(subcommand);
    const Outcome help = run_pyrate({subcommand, "--help"});
    CHECK(help.exit_code == 0);
    CHECK_THAT(help.out, StartsWith("usage: pyrate " + subcommand));
    CHECK(help.err.empty());
    CHECK(run_pyrate({"help", subcommand}).out == help.out);
  }
}

TEST_CASE("concurrent acquire processes on one file admit exactly the limit") {
  const Scratch scratch;
  constexpr int kProcesses = 16;
  std::vector<PyrateProcess> processes;
  for (int i = 0; i < kProcesses; ++i) {
    processes.emplace_back(
        std::vector<std::string>{"acquire", "--db", scratch.db(), "--rate", "5/h", "--no-wait"});
  }
  int admitted = 0;
  int refused = 0;
  for (PyrateProcess& process : processes) {
    const Outcome outcome = process.wait();
    INFO(outcome.err);
    CHECK((outcome.exit_code == 0 || outcome.exit_code == 1));
    admitted += outcome.exit_code == 0 ? 1 : 0;
    refused += outcome.exit_code == 1 ? 1 : 0;
  }
  CHECK(admitted == 5);
  CHECK(refused == kProcesses - 5);
  CHECK(held_slots(scratch.db(), "default") == 5);
}

TEST_CASE("acquire --no-wait on a full window exits 1 with one line saying why") {
  const Scratch scratch;
  REQUIRE(run_pyrate({"acquire", "--db", scratch.db(), "--rate", "1/h"}).exit_code == 0);
  const Outcome refused =
      run_pyrate({"acquire", "--db", scratch.db(), "--rate", "1/h", "--no-wait"});
  CHECK(refused.exit_code == 1);
  CHECK(line_count(refused.err) == 1);
  CHECK_THAT(refused.err, Contains("refused") && Contains("limit=1/1.0h"));
  CHECK(refused.out.empty());
}

TEST_CASE("a blocking acquire waits for the window to slide, then is admitted") {
  const Scratch scratch;
  const std::vector<std::string> acquire{"acquire", "--db", scratch.db(), "--rate", "1/s"};
  REQUIRE(run_pyrate(acquire).exit_code == 0);
  const auto start = std::chrono::steady_clock::now();
  const Outcome waited = run_pyrate(acquire);
  CHECK(waited.exit_code == 0);
  CHECK(seconds_since(start) > 0.5);
  // The second acquire leaked before it waited, while the first slot was still in the window.
  CHECK(held_slots(scratch.db(), "default") == 2);
}

TEST_CASE("acquire with a --timeout shorter than the wait exits 1 without taking a slot") {
  const Scratch scratch;
  REQUIRE(run_pyrate({"acquire", "--db", scratch.db(), "--rate", "1/min"}).exit_code == 0);
  const Outcome timed_out =
      run_pyrate({"acquire", "--db", scratch.db(), "--rate", "1/min", "--timeout", "300ms"});
  CHECK(timed_out.exit_code == 1);
  CHECK(line_count(timed_out.err) == 1);
  CHECK_THAT(timed_out.err, Contains("300ms"));
  CHECK(held_slots(scratch.db(), "default") == 1);
}

TEST_CASE("acquire with a --timeout long enough waits and is admitted") {
  const Scratch scratch;
  const std::vector<std::string> acquire{"acquire", "--db",      scratch.db(), "--rate",
                                         "1/500ms", "--timeout", "10s"};
  REQUIRE(run_pyrate(acquire).exit_code == 0);
  CHECK(run_pyrate(acquire).exit_code == 0);
}

TEST_CASE("--weight takes that many slots, all or nothing") {
  const Scratch scratch;
  const std::vector<std::string> acquire{"acquire", "--db",      scratch.db(), "--rate",
                                         "5/h",     "--no-wait", "--weight",   "3"};
  CHECK(run_pyrate(acquire).exit_code == 0);
  CHECK(held_slots(scratch.db(), "default") == 3);
  CHECK(run_pyrate(acquire).exit_code == 1);
  CHECK(held_slots(scratch.db(), "default") == 3);
}

TEST_CASE("a weight no rate can ever hold exits 1 with a message and writes nothing") {
  const Scratch scratch;
  const Outcome outcome = run_pyrate(
      {"acquire", "--db", scratch.db(), "--rate", "5/s", "--rate", "100/min", "--weight", "6"});
  CHECK(outcome.exit_code == 1);
  CHECK(line_count(outcome.err) == 1);
  CHECK_THAT(outcome.err, Contains("weight 6") && Contains("limit=5/1.0s"));
  CHECK(scratch.entries().empty());
}

TEST_CASE("rates given in any order are sorted by interval before they are checked") {
  const Scratch scratch;
  CHECK(run_pyrate({"acquire", "--db", scratch.db(), "--rate", "100/min", "--rate", "5/s"})
            .exit_code == 0);
  const Outcome status = run_pyrate({"status", "--db", scratch.db()});
  CHECK(status.out.find("per 1.0s") < status.out.find("per 1.0min"));
}

TEST_CASE("acquire also leaks the bucket's expired slots") {
  const Scratch scratch;
  const std::vector<std::string> acquire{"acquire", "--db", scratch.db(), "--rate", "5/100ms"};
  REQUIRE(run_pyrate(acquire).exit_code == 0);
  REQUIRE(run_pyrate(acquire).exit_code == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  REQUIRE(run_pyrate(acquire).exit_code == 0);
  CHECK(held_slots(scratch.db(), "default") == 1);
}

TEST_CASE("buckets with different names keep separate windows in one file") {
  const Scratch scratch;
  for (const std::string bucket : {"a", "b"}) {
    CHECK(run_pyrate(
              {"acquire", "--db", scratch.db(), "--bucket", bucket, "--rate", "1/h", "--no-wait"})
              .exit_code == 0);
  }
  CHECK(run_pyrate({"acquire", "--db", scratch.db(), "--bucket", "a", "--rate", "1/h", "--no-wait"})
            .exit_code == 1);
}

TEST_CASE("exec runs the command in place of pyrate and exits with its code") {
  const Scratch scratch;
  const Outcome seven =
      run_pyrate({"exec", "--db", scratch.db(), "--rate", "5/h", "--", "sh", "-c", "exit 7"});
  CHECK(seven.exit_code == 7);
  const Outcome echoed =
      run_pyrate({"exec", "--db", scratch.db(), "--rate", "5/h", "--", "echo", "--rate", "hello"});
  CHECK(echoed.exit_code == 0);
  CHECK(echoed.out == "--rate hello\n");
  CHECK(held_slots(scratch.db(), "default") == 2);
}

TEST_CASE("exec of a command that cannot be found exits 127 without taking a slot") {
  const Scratch scratch;
  REQUIRE(run_pyrate({"acquire", "--db", scratch.db(), "--rate", "5/h"}).exit_code == 0);
  const Outcome missing = run_pyrate(
      {"exec", "--db", scratch.db(), "--rate", "5/h", "--", "pyrate-no-such-command-xyz", "arg"});
  CHECK(missing.exit_code == 127);
  CHECK(line_count(missing.err) == 1);
  CHECK_THAT(missing.err, Contains("pyrate-no-such-command-xyz") && Contains("not found"));
  const Outcome missing_path = run_pyrate(
      {"exec", "--db", scratch.db(), "--rate", "5/h", "--", (scratch.path() / "nope").string()});
  CHECK(missing_path.exit_code == 127);
  CHECK(held_slots(scratch.db(), "default") == 1);
}

TEST_CASE("exec of a file that is not executable exits 126 without taking a slot") {
  const Scratch scratch;
  const fs::path script = scratch.path() / "script.sh";
  std::ofstream(script) << "#!/bin/sh\nexit 0\n";
  fs::permissions(script, fs::perms::owner_read | fs::perms::owner_write);
  const Outcome outcome =
      run_pyrate({"exec", "--db", scratch.db(), "--rate", "5/h", "--", script.string()});
  CHECK(outcome.exit_code == 126);
  CHECK(line_count(outcome.err) == 1);
  CHECK_FALSE(fs::exists(scratch.db()));
}

TEST_CASE("exec refused exits 1 without running the command") {
  const Scratch scratch;
  REQUIRE(run_pyrate({"acquire", "--db", scratch.db(), "--rate", "1/h"}).exit_code == 0);
  const fs::path marker = scratch.path() / "ran";
  const Outcome refused = run_pyrate(
      {"exec", "--db", scratch.db(), "--rate", "1/h", "--no-wait", "--", "touch", marker.string()});
  CHECK(refused.exit_code == 1);
  CHECK(line_count(refused.err) == 1);
  CHECK_FALSE(fs::exists(marker));
}

TEST_CASE("status shows held slots, a bar per rate and the wait for the next slot") {
  const Scratch scratch;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(run_pyrate({"acquire", "--db", scratch.db(), "--bucket", "api", "--rate", "3/min",
                        "--rate", "10/h"})
                .exit_code == 0);
  }
  const Outcome status = run_pyrate({"status", "--db", scratch.db()});
  CHECK(status.exit_code == 0);
  CHECK(status.err.empty());
  CHECK_THAT(status.out, Contains("bucket \"api\": 3 slots held, next acquire waits"));
  CHECK_THAT(status.out, Contains("[##########] 3/3 per 1.0min"));
  CHECK_THAT(status.out, Contains("[###       ] 3/10 per 1.0h"));
  CHECK_THAT(status.out, Contains("next slot frees in"));
}

TEST_CASE("status --json lists every bucket by name, names escaped") {
  const Scratch scratch;
  const std::string odd = "quote\" back\\ tab\t";
  REQUIRE(
      run_pyrate({"acquire", "--db", scratch.db(), "--bucket", odd, "--rate", "4/h"}).exit_code ==
      0);
  REQUIRE(run_pyrate({"acquire", "--db", scratch.db(), "--bucket", "plain", "--rate", "2/s"})
              .exit_code == 0);
  const Outcome status = run_pyrate({"status", "--db", scratch.db(), "--json"});
  CHECK(status.exit_code == 0);
  CHECK_THAT(status.out, StartsWith("{") && EndsWith("}\n"));
  CHECK_THAT(status.out, Contains("\"name\": \"quote\\\" back\\\\ tab\\t\""));
  CHECK_THAT(status.out, Contains("\"name\": \"plain\""));
  CHECK_THAT(status.out, Contains("{\"limit\": 4, \"interval_ms\": 3600000, \"used\": 1, "
                                  "\"next_free_ms\": "));
  CHECK_THAT(status.out, Contains("\"wait_ms\": 0"));
  const Outcome one = run_pyrate({"status", "--db", scratch.db(), "--json", "--bucket", "plain"});
  CHECK_THAT(one.out, Contains("\"plain\"") && !Contains("quote"));
}

TEST_CASE("status of a file that does not exist lists nothing and creates nothing") {
  const Scratch scratch;
  const Outcome text = run_pyrate({"status", "--db", scratch.db()});
  CHECK(text.exit_code == 0);
  CHECK_THAT(text.out, Contains("no buckets"));
  const Outcome json = run_pyrate({"status", "--db", scratch.db(), "--json"});
  CHECK(json.exit_code == 0);
  CHECK_THAT(json.out, Contains("\"buckets\": []"));
  const Outcome by_default = run_pyrate({"status"}, isolated(scratch));
  CHECK(by_default.exit_code == 0);
  CHECK(scratch.entries().empty());
}

TEST_CASE("flush empties one bucket and leaves the others") {
  const Scratch scratch;
  for (const std::string bucket : {"a", "b"}) {
    REQUIRE(run_pyrate({"acquire", "--db", scratch.db(), "--bucket", bucket, "--rate", "5/h"})
                .exit_code == 0);
  }
  const Outcome flushed = run_pyrate({"flush", "--db", scratch.db(), "--bucket", "a"});
  CHECK(flushed.exit_code == 0);
  CHECK_THAT(flushed.out, Contains("flushed 1 slot"));
  CHECK(held_slots(scratch.db(), "a") == 0);
  CHECK(held_slots(scratch.db(), "b") == 1);
  const Outcome unknown = run_pyrate({"flush", "--db", scratch.db(), "--bucket", "zzz"});
  CHECK(unknown.exit_code == 0);
  CHECK_THAT(unknown.out, Contains("no bucket \"zzz\""));
}

TEST_CASE("leak removes expired slots from every bucket, or from the one named") {
  const Scratch scratch;
  for (const std::string bucket : {"a", "b", "c"}) {
    REQUIRE(run_pyrate({"acquire", "--db", scratch.db(), "--bucket", bucket, "--rate", "5/100ms"})
                .exit_code == 0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const Outcome one = run_pyrate({"leak", "--db", scratch.db(), "--bucket", "c"});
  CHECK(one.exit_code == 0);
  CHECK(line_count(one.out) == 1);
  CHECK(held_slots(scratch.db(), "c") == 0);
  CHECK(held_slots(scratch.db(), "a") == 1);
  const Outcome all = run_pyrate({"leak", "--db", scratch.db()});
  CHECK(all.exit_code == 0);
  CHECK_THAT(all.out, Contains("leaked 1 expired slot from bucket \"a\""));
  CHECK_THAT(all.out, Contains("leaked 1 expired slot from bucket \"b\""));
  CHECK(held_slots(scratch.db(), "a") == 0);
  CHECK(held_slots(scratch.db(), "b") == 0);
}

TEST_CASE("the database is --db, else PYRATE_DB, else XDG_STATE_HOME, else HOME") {
  const Scratch scratch;
  const std::vector<std::string> acquire{"acquire", "--rate", "5/h"};
  Environment env = isolated(scratch);

  SECTION("--db wins over PYRATE_DB") {
    env["PYRATE_DB"] = (scratch.path() / "env.db").string();
    auto arguments = acquire;
    arguments.insert(arguments.end(), {"--db", (scratch.path() / "flag.db").string()});
    CHECK(run_pyrate(arguments, env).exit_code == 0);
    CHECK(fs::exists(scratch.path() / "flag.db"));
    CHECK_FALSE(fs::exists(scratch.path() / "env.db"));
  }
  SECTION("PYRATE_DB wins over XDG_STATE_HOME") {
    env["PYRATE_DB"] = (scratch.path() / "env.db").string();
    env["XDG_STATE_HOME"] = (scratch.path() / "state").string();
    CHECK(run_pyrate(acquire, env).exit_code == 0);
    CHECK(fs::exists(scratch.path() / "env.db"));
    CHECK_FALSE(fs::exists(scratch.path() / "state"));
  }
  SECTION("an empty PYRATE_DB falls through to XDG_STATE_HOME, whose directories are created") {
    env["PYRATE_DB"] = "";
    env["XDG_STATE_HOME"] = (scratch.path() / "state").string();
    CHECK(run_pyrate(acquire, env).exit_code == 0);
    CHECK(fs::exists(scratch.path() / "state" / "pyrate" / "limits.db"));
    CHECK(held_slots((scratch.path() / "state" / "pyrate" / "limits.db").string(), "default") == 1);
  }
  SECTION("without either, ~/.local/state/pyrate/limits.db, directories created") {
    CHECK(run_pyrate(acquire, env).exit_code == 0);
    CHECK(fs::exists(scratch.path() / "home" / ".local" / "state" / "pyrate" / "limits.db"));
    const Outcome status = run_pyrate({"status"}, env);
    CHECK_THAT(status.out, Contains("1/5 per 1.0h"));
  }
}

TEST_CASE("bad input exits 2 with one line on stderr and writes nothing") {
  const Scratch scratch;
  const Environment env = isolated(scratch);
  const std::string db = scratch.db();
  const std::vector<std::vector<std::string>> cases{
      {},
      {"frob"},
      {"--frob"},
      {"acquire", "--db", db},
      {"acquire", "--db", db, "--rate", "0/s"},
      {"acquire", "--db", db, "--rate", "5/"},
      {"acquire", "--db", db, "--rate", "abc"},
      {"acquire", "--db", db, "--rate", "5/-1s"},
      {"acquire", "--db", db, "--rate", "5/2x"},
      {"acquire", "--db", db, "--rate", "10/s", "--rate", "5/min"},
      {"acquire", "--db", db, "--rate", "10/s", "--rate", "100/2s"},
      {"acquire", "--db", db, "--rate", "5/s", "--weight", "0"},
      {"acquire", "--db", db, "--rate", "5/s", "--weight", "-1"},
      {"acquire", "--db", db, "--rate", "5/s", "--weight", "x"},
      {"acquire", "--db", db, "--rate", "5/s", "--no-wait", "--timeout", "1s"},
      {"acquire", "--db", db, "--rate", "5/s", "--timeout", "-2s"},
      {"acquire", "--db", db, "--rate", "5/s", "--timeout", "soon"},
      {"acquire", "--db", db, "--rate", "5/s", "--unknown"},
      {"acquire", "--rate", "5/s", "stray"},
      {"exec", "--db", db, "--rate", "5/s"},
      {"exec", "--db", db, "--rate", "5/s", "true"},
      {"exec", "--db", db, "--rate", "0/s", "--", "true"},
      {"status", "--db", db, "--rate", "5/s"},
      {"flush", "--db", db, "--no-wait"},
      {"leak", "--db"},
      {"demo", "--db", db},
  };
  for (const auto& arguments : cases) {
    std::string shown;
    for (const std::string& argument : arguments) shown += argument + " ";
    INFO("pyrate " << shown);
    const Outcome outcome = run_pyrate(arguments, env);
    CHECK(outcome.exit_code == 2);
    CHECK(line_count(outcome.err) == 1);
    CHECK_THAT(outcome.err, StartsWith("pyrate: "));
    CHECK(outcome.out.empty());
  }
  CHECK(scratch.entries().empty());
}

TEST_CASE("an unwritable database path exits 2 with one line and writes nothing") {
  const Scratch scratch;
  const fs::path file = scratch.path() / "file";
  std::ofstream(file) << "not a directory";
  const std::string below_file = (file / "limits.db").string();
  for (const std::vector<std::string>& arguments :
       {std::vector<std::string>{"acquire", "--db", below_file, "--rate", "5/s"},
        std::vector<std::string>{"exec", "--db", below_file, "--rate", "5/s", "--", "true"},
        std::vector<std::string>{"acquire", "--db", (scratch.path() / "no" / "dir.db").string(),
                                 "--rate", "5/s"}}) {
    const Outcome outcome = run_pyrate(arguments, isolated(scratch));
    CHECK(outcome.exit_code == 2);
    CHECK(line_count(outcome.err) == 1);
  }
  Environment env = isolated(scratch);
  env["XDG_STATE_HOME"] = (file / "state").string();
  const Outcome default_location = run_pyrate({"acquire", "--rate", "5/s"}, env);
  CHECK(default_location.exit_code == 2);
  CHECK(line_count(default_location.err) == 1);
  CHECK_THAT(default_location.err, Contains("cannot create"));
  CHECK(scratch.entries() == std::vector<std::string>{"file"});
}

TEST_CASE("a file that is not a database exits 2 with one line and is left untouched") {
  const Scratch scratch;
  const std::string garbage(4096, 'x');
  std::ofstream(scratch.db(), std::ios::binary) << garbage;
  for (const std::vector<std::string>& arguments :
       {std::vector<std::string>{"acquire", "--db", scratch.db(), "--rate", "5/s"},
        std::vector<std::string>{"status", "--db", scratch.db()},
        std::vector<std::string>{"status", "--db", scratch.db(), "--json"},
        std::vector<std::string>{"flush", "--db", scratch.db()},
        std::vector<std::string>{"leak", "--db", scratch.db()}}) {
    INFO(arguments.front());
    const Outcome outcome = run_pyrate(arguments);
    CHECK(outcome.exit_code == 2);
    CHECK(line_count(outcome.err) == 1);
    CHECK(outcome.out.empty());
  }
  CHECK(read_file(scratch.db()) == garbage);
  CHECK(scratch.entries() == std::vector<std::string>{"limits.db"});
}

TEST_CASE("demo shows workers sharing the limit across a restart and ends with the verdict") {
  const Outcome demo = run_pyrate({"demo"});
  INFO(demo.out << demo.err);
  CHECK(demo.exit_code == 0);
  CHECK(demo.err.empty());
  CHECK_THAT(demo.out, Contains("w1") && Contains("w8") && Contains("restart"));
  const std::regex verdict("max in any 1 s window: (\\d+) \\(limit (\\d+)\\)\n$");
  std::smatch match;
  REQUIRE(std::regex_search(demo.out, match, verdict));
  CHECK(std::stoi(match[1].str()) <= std::stoi(match[2].str()));
  CHECK(std::stoi(match[1].str()) > 0);
}

namespace {

// How many processes run the pyrate binary with the arguments `arguments`.
int processes_running(const std::vector<std::string>& arguments) {
  std::string wanted(PYRATE_CLI_PATH);
  wanted.push_back('\0');
  for (const std::string& argument : arguments) {
    wanted += argument;
    wanted.push_back('\0');
  }
  int found = 0;
  std::error_code ignored;
  for (const auto& entry : fs::directory_iterator("/proc", ignored)) {
    if (read_file(entry.path() / "cmdline") == wanted) ++found;
  }
  return found;
}

}  // namespace

TEST_CASE("demo interrupted by SIGINT stops its workers, removes its files, dies of the signal") {
  const Scratch scratch;
  PyrateProcess demo({"demo"}, {{"TMPDIR", scratch.path().string()}});
  // Until the workers run, with their database in a directory of the scratch directory.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (processes_running({"demo"}) < 5 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(processes_running({"demo"}) == 5);
  REQUIRE(scratch.entries().size() > 0);
  demo.signal(SIGINT);
  const Outcome outcome = demo.wait();
  INFO(outcome.out << outcome.err);
  CHECK(outcome.exit_code == 128 + SIGINT);
  CHECK_THAT(outcome.out, Contains("interrupted"));
  CHECK(scratch.entries().empty());
  CHECK(processes_running({"demo"}) == 0);
}
