// The pyrate command, run as a real binary (PYRATE_CLI_PATH): every invocation is a new
// process, as it is for the scripts that call it. Each test works in its own directory.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <pyrate/pyrate.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "scratch/temporary_directory.hpp"
#include "support/pyrate_process.hpp"
#include "support/sqlite_test_support.hpp"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using Catch::Matchers::EndsWith;
using Catch::Matchers::StartsWith;
using pyrate::testing::Environment;
using pyrate::testing::line_count;
using pyrate::testing::Outcome;
using pyrate::testing::PyrateProcess;
using pyrate::testing::run_pyrate;

namespace {

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

// Parses `json` with Python's json module, binds the document to `d`, and returns the Python
// `expression` evaluated on it, written back as JSON (json.dumps, keys sorted); "error: ..."
// when the text does not parse.
std::string python_json(const Scratch& scratch, const std::string& json,
                        const std::string& expression) {
  std::ofstream(scratch.file("document.json"), std::ios::binary) << json;
  std::ofstream(scratch.file("query.py"))
      << "import json, sys\n"
      << "try:\n"
      << "    d = json.load(open(sys.argv[1], encoding='utf-8'))\n"
      << "except ValueError as error:\n"
      << "    print('error: %s' % error)\n"
      << "    sys.exit(0)\n"
      << "print(json.dumps(" << expression << ", sort_keys=True))\n";
  const std::string command =
      "python3 '" + scratch.file("query.py") + "' '" + scratch.file("document.json") + "'";
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string result;
  char buffer[4096];
  while (const std::size_t got = std::fread(buffer, 1, sizeof buffer, pipe)) {
    result.append(buffer, got);
  }
  REQUIRE(::pclose(pipe) == 0);
  if (!result.empty() && result.back() == '\n') result.pop_back();
  return result;
}

// 0 when `status --json` of `db` exits 0 and lists the bucket "default" holding one slot; run
// in a forked child (run_unprivileged), so it reports with its result instead of CHECKs.
int status_lists_default(const std::string& db) {
  const Outcome status = run_pyrate({"status", "--db", db, "--json"});
  if (status.exit_code != 0) {
    std::fprintf(stderr, "status exited %d: %s", status.exit_code, status.err.c_str());
    return 1;
  }
  const std::regex entry("\"name\": \"default\",\\s*\"held\": 1,");
  return std::regex_search(status.out, entry) ? 0 : 2;
}

// The entries of `directory` owned by `uid`.
std::vector<std::string> owned_by(const fs::path& directory, uid_t uid) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(directory)) {
    struct stat info {};
    if (::lstat(entry.path().c_str(), &info) == 0 && info.st_uid == uid) {
      names.push_back(entry.path().filename().string());
    }
  }
  return names;
}

// 0 when the file system holding `directory` was made read-only for this process alone (no file
// can be created there): a private mount namespace in which `directory` is bind-mounted on itself
// read-only; 77 when this sandbox does not permit that.
int mount_read_only(const std::string& directory) {
  if (::unshare(CLONE_NEWNS) != 0 ||
      ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
      ::mount(directory.c_str(), directory.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return 77;
  }
  if (::mount(nullptr, directory.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) !=
      0) {
    return 77;
  }
  const std::string probe = directory + "/probe";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0) ::close(fd);
  return fd < 0 && errno == EROFS ? 0 : 3;  // even root may write nothing there
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
  const pyrate::testing::AcquireTally tally = pyrate::testing::tally_acquires(processes);
  CHECK(tally.admitted == 5);
  CHECK(tally.refused == kProcesses - 5);
  CHECK(held_slots(scratch.db(), "default") == 5);
}

TEST_CASE("acquire --no-wait on a full window exits 1 with one line saying why") {
  const Scratch scratch;
  REQUIRE(run_pyrate({"acquire", "--db", scratch.db(), "--rate", "1/h"}).exit_code == 0);
  const Outcome refused =
      run_pyrate({"acquire", "--db", scratch.db(), "--rate", "1/h", "--no-wait"});
  CHECK(refused.exit_code == 1);
  CHECK(line_count(refused.err) == 1);
  CHECK_THAT(refused.err, StartsWith("pyrate: refused by 1/h; retry after "));
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
  CHECK_THAT(timed_out.err, StartsWith("pyrate: refused by 1/min; retry after ") &&
                                Contains("than the 300 ms timeout"));
  CHECK(held_slots(scratch.db(), "default") == 1);
}

TEST_CASE("acquire whose --timeout runs out waiting for another process's lock says so") {
  const Scratch scratch;
  REQUIRE(run_pyrate({"acquire", "--db", scratch.db(), "--rate", "5/s"}).exit_code == 0);
  pyrate::InterprocessLock held(scratch.db());
  held.lock();
  const Outcome timed_out = run_pyrate({"acquire", "--db", scratch.db(), "--rate", "5/s",
                                        "--timeout", "300ms", "--conflict-exit-code", "3"});
  held.unlock();
  CHECK(timed_out.exit_code == 3);
  CHECK(line_count(timed_out.err) == 1);
  CHECK(timed_out.err ==
        "pyrate: refused: another process held bucket \"default\"'s lock for longer than the "
        "300 ms timeout\n");
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
  CHECK(outcome.err == "pyrate: refused: weight 6 can never fit 5/s, which holds at most 5\n");
  CHECK(scratch.entries().empty());
}

TEST_CASE("rates given in any order are sorted by interval before they are checked") {
  const Scratch scratch;
  CHECK(run_pyrate({"acquire", "--db", scratch.db(), "--rate", "100/min", "--rate", "5/s"})
            .exit_code == 0);
  const Outcome status = run_pyrate({"status", "--db", scratch.db()});
  CHECK(status.out.find("  5/s ") < status.out.find("  100/min "));
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

TEST_CASE("a refused acquire or exec names the full rate and the wait in one stderr line") {
  const Scratch scratch;
  const std::vector<std::string> gate{"--db",   scratch.db(), "--rate",   "2/s",
                                      "--rate", "3/h",        "--no-wait"};
  for (int i = 0; i < 3; ++i) {
    std::vector<std::string> acquire{"acquire"};
    acquire.insert(acquire.end(), gate.begin(), gate.end());
    REQUIRE(run_pyrate(acquire).exit_code == 0);
    if (i == 1) std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  }
  // Two slots in the last hour and one, a moment ago, in the last second: the narrower rate
  // has room, the wider one refuses until its oldest slot leaves the hour.
  std::vector<std::string> acquire{"acquire"};
  acquire.insert(acquire.end(), gate.begin(), gate.end());
  const Outcome refused = run_pyrate(acquire);
  CHECK(refused.exit_code == 1);
  const std::regex line("pyrate: refused by 3/h; retry after (59\\.[0-9] min|1\\.0 h)\n");
  CHECK(std::regex_match(refused.err, line));
  std::vector<std::string> exec{"exec"};
  exec.insert(exec.end(), gate.begin(), gate.end());
  exec.insert(exec.end(), {"--", "true"});
  const Outcome exec_refused = run_pyrate(exec);
  CHECK(exec_refused.exit_code == 1);
  CHECK(std::regex_match(exec_refused.err, line));
}

TEST_CASE("acquire --json prints the decision as one JSON object, admitted or refused") {
  const Scratch scratch;
  const std::vector<std::string> acquire{"acquire", "--db", scratch.db(), "--rate",   "2/min",
                                         "--rate",  "10/h", "--json",     "--no-wait"};
  const Outcome first = run_pyrate(acquire);
  CHECK(first.exit_code == 0);
  CHECK(line_count(first.out) == 1);
  CHECK(first.err.empty());
  CHECK(python_json(scratch, first.out, "sorted(d)") ==
        "[\"admitted\", \"failing_rate\", \"remaining\", \"reset_after_ms\", "
        "\"retry_after_ms\", \"tightest_rate\"]");
  CHECK(python_json(scratch, first.out,
                    "[d['admitted'], d['retry_after_ms'], d['remaining'], d['failing_rate'], "
                    "d['tightest_rate']]") == "[true, 0, 1, null, \"2/min\"]");
  CHECK(python_json(scratch, first.out, "d['reset_after_ms']") == "60001");

  REQUIRE(run_pyrate(acquire).exit_code == 0);
  const Outcome refused = run_pyrate(acquire);
  CHECK(refused.exit_code == 1);
  CHECK(line_count(refused.out) == 1);
  CHECK(line_count(refused.err) == 1);
  CHECK(python_json(scratch, refused.out,
                    "[d['admitted'], d['remaining'], d['failing_rate'], d['tightest_rate']]") ==
        "[false, 0, \"2/min\", \"2/min\"]");
  CHECK(python_json(scratch, refused.out,
                    "0 < d['retry_after_ms'] <= 60001 and d['reset_after_ms'] == "
                    "d['retry_after_ms']") == "true");

  const Outcome never =
      run_pyrate({"acquire", "--db", scratch.db(), "--rate", "2/min", "--weight", "3", "--json"});
  CHECK(never.exit_code == 1);
  CHECK(
      python_json(scratch, never.out,
                  "[d['admitted'], d['retry_after_ms'], d['failing_rate'], d['tightest_rate']]") ==
      "[false, -1, \"2/min\", null]");
}

TEST_CASE("-E N, --conflict-exit-code N, is the exit status of a refusal for acquire and exec") {
  const Scratch scratch;
  const std::vector<std::string> gate{"--db", scratch.db(), "--rate", "1/h"};
  std::vector<std::string> acquire{"acquire", "-E", "75"};
  acquire.insert(acquire.end(), gate.begin(), gate.end());
  CHECK(run_pyrate(acquire).exit_code == 0);  // admitted: 0 whatever -E says
  acquire.push_back("--no-wait");
  CHECK(run_pyrate(acquire).exit_code == 75);
  std::vector<std::string> timed{"acquire", "--conflict-exit-code=3", "--timeout", "100ms"};
  timed.insert(timed.end(), gate.begin(), gate.end());
  CHECK(run_pyrate(timed).exit_code == 3);
  std::vector<std::string> never{"acquire", "-E0", "--weight", "2"};
  never.insert(never.end(), gate.begin(), gate.end());
  CHECK(run_pyrate(never).exit_code == 0);

  // exec: a refusal and the command's own failure can now be told apart.
  std::vector<std::string> exec{"exec", "--conflict-exit-code", "75", "--no-wait"};
  exec.insert(exec.end(), gate.begin(), gate.end());
  exec.insert(exec.end(), {"--", "false"});
  CHECK(run_pyrate(exec).exit_code == 75);
  const Outcome failing = run_pyrate({"exec", "-E", "75", "--db", scratch.db(), "--bucket", "other",
                                      "--rate", "1/h", "--", "false"});
  CHECK(failing.exit_code == 1);

  for (const std::string bad : {"256", "-1", "x", ""}) {
    INFO(bad);
    const Outcome usage = run_pyrate({"acquire", "--db", scratch.db(), "--rate", "1/h", "-E", bad});
    CHECK(usage.exit_code == 2);
    CHECK(line_count(usage.err) == 1);
  }
  CHECK(run_pyrate({"status", "--db", scratch.db(), "-E", "3"}).exit_code == 2);
}

TEST_CASE("status shows per rate a bar, the slots used and remaining, and when one frees") {
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
  CHECK_THAT(status.out,
             Contains("  3/min  [##########] 3 used, 0 remaining, next slot frees in "));
  CHECK_THAT(status.out,
             Contains("  10/h   [###       ] 3 used, 7 remaining, next slot frees in "));
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
  CHECK(python_json(scratch, status.out, "sorted(b['name'] for b in d['buckets'])") ==
        "[\"plain\", \"quote\\\" back\\\\ tab\\t\"]");
  CHECK(python_json(scratch, status.out, "d['buckets'][0]['rates'][0]['rate']") == "\"2/s\"");
  const std::string odd_rate = "[b for b in d['buckets'] if b['name'] != 'plain'][0]['rates'][0]";
  CHECK(python_json(scratch, status.out, "sorted(" + odd_rate + ")") ==
        "[\"interval_ms\", \"limit\", \"next_free_ms\", \"rate\", \"remaining\", \"used\"]");
  CHECK(python_json(scratch, status.out,
                    "[" + odd_rate +
                        "[k] for k in ('rate', 'limit', 'interval_ms', 'used', "
                        "'remaining')]") == "[\"4/h\", 4, 3600000, 1, 3]");
  CHECK(python_json(scratch, status.out, "0 < " + odd_rate + "['next_free_ms'] <= 3600001") ==
        "true");
  CHECK(python_json(scratch, status.out, "[b['wait_ms'] for b in d['buckets']]") == "[0, 0]");
  const Outcome one = run_pyrate({"status", "--db", scratch.db(), "--json", "--bucket", "plain"});
  CHECK_THAT(one.out, Contains("\"plain\"") && !Contains("quote"));
}

TEST_CASE("status --top N shows the N fullest buckets and a summary that counts every bucket") {
  const Scratch scratch;
  const auto take = [&](const std::string& bucket, const std::string& rate, int weight) {
    REQUIRE(run_pyrate({"acquire", "--db", scratch.db(), "--bucket", bucket, "--rate", rate,
                        "--weight", std::to_string(weight)})
                .exit_code == 0);
  };
  take("quarter", "4/h", 1);
  take("most", "4/h", 3);
  take("full", "4/h", 4);
  take("fifth", "10/h", 2);
  const Outcome all = run_pyrate({"status", "--db", scratch.db()});
  CHECK(all.exit_code == 0);
  CHECK_THAT(all.out, EndsWith("\n4 buckets, 1 full now\n"));

  const Outcome top = run_pyrate({"status", "--db", scratch.db(), "--top", "2"});
  CHECK(top.exit_code == 0);
  CHECK_THAT(top.out, EndsWith("\n4 buckets, 1 full now; showing the 2 fullest\n"));
  CHECK(top.out.find("bucket \"full\"") < top.out.find("bucket \"most\""));
  CHECK_THAT(top.out, !Contains("quarter") && !Contains("fifth"));

  const Outcome json = run_pyrate({"status", "--db", scratch.db(), "--top", "3", "--json"});
  CHECK(json.exit_code == 0);
  CHECK(python_json(scratch, json.out, "[d['bucket_count'], d['full_count']]") == "[4, 1]");
  CHECK(python_json(scratch, json.out, "[b['name'] for b in d['buckets']]") ==
        "[\"full\", \"most\", \"quarter\"]");
  const Outcome more_than_held = run_pyrate({"status", "--db", scratch.db(), "--top", "9"});
  CHECK_THAT(more_than_held.out, EndsWith("\n4 buckets, 1 full now\n"));
}

TEST_CASE("status --top takes a positive count") {
  const Scratch scratch;
  for (const std::string value : {"0", "-1", "x", ""}) {
    const Outcome refused = run_pyrate({"status", "--db", scratch.db(), "--top", value});
    CHECK(refused.exit_code == 2);
    CHECK_THAT(refused.err, Contains("--top"));
  }
  CHECK(run_pyrate({"acquire", "--db", scratch.db(), "--rate", "1/s", "--top", "1"}).exit_code ==
        2);
}

TEST_CASE(
    "A slot stamped a day ahead makes acquire and status wait at most a minute and the rate") {
  const Scratch scratch;
  {
    pyrate::SQLiteOptions options;
    options.db_path = scratch.db();
    options.bucket = "api";
    pyrate::SQLiteBucket ahead(std::vector<pyrate::Rate>{pyrate::Rate(5, 1000)}, options);
    const pyrate::Millis tomorrow = pyrate::SystemClock().now() + 86'400'000;
    REQUIRE(ahead.put(pyrate::RateItem{"ahead", tomorrow, 5}));
  }
  const std::string allowed = std::to_string(pyrate::kClockStepTolerance + 1000 + 1);
  const Outcome refused = run_pyrate(
      {"acquire", "--db", scratch.db(), "--bucket", "api", "--rate", "5/s", "--no-wait", "--json"});
  CHECK(refused.exit_code == 1);
  CHECK(python_json(scratch, refused.out, "0 < d['retry_after_ms'] <= " + allowed) == "true");
  const Outcome status = run_pyrate({"status", "--db", scratch.db(), "--json"});
  CHECK(python_json(scratch, status.out, "0 < d['buckets'][0]['wait_ms'] <= " + allowed) == "true");
}

TEST_CASE("An acquire with a narrower rate list leaves the wider list's history in place") {
  const Scratch scratch;
  const auto acquire = [&](std::vector<std::string> rates, int weight) {
    std::vector<std::string> arguments{
        "acquire", "--db",      scratch.db(), "--bucket",
        "api",     "--no-wait", "--weight",   std::to_string(weight)};
    for (const std::string& rate : rates) {
      arguments.push_back("--rate");
      arguments.push_back(rate);
    }
    return run_pyrate(arguments).exit_code;
  };
  CHECK(acquire({"3/s", "10/day"}, 3) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  CHECK(acquire({"3/s"}, 3) == 0);  // its leak keeps the day's slots
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  CHECK(acquire({"3/s", "10/day"}, 3) == 0);
  CHECK(acquire({"3/s", "10/day"}, 2) == 1);  // 9 of 10 taken today
  CHECK(run_pyrate({"leak", "--db", scratch.db(), "--bucket", "api"}).exit_code == 0);
  CHECK(held_slots(scratch.db(), "api") == 9);
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

TEST_CASE("status only reads: no write access needed, nothing created, no owner changed") {
  // Run as "nobody" when the tests run as root: a file owned by root, 0644, in a 0755
  // directory; a read-only file in a directory everyone may write; and both while root's
  // connection holds the WAL open.
  constexpr uid_t kNobody = 65534;
  const Scratch scratch;
  fs::permissions(scratch.path(), fs::perms::owner_all | fs::perms::group_read |
                                      fs::perms::group_exec | fs::perms::others_read |
                                      fs::perms::others_exec);
  const std::string db = scratch.db();
  REQUIRE(run_pyrate({"acquire", "--db", db, "--rate", "1/h"}).exit_code == 0);
  fs::permissions(db, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                          fs::perms::others_read);
  const auto reads_and_leaves_root_able_to_write = [&](const char* variant) {
    INFO(variant);
    CHECK(pyrate_test::run_unprivileged([&] { return status_lists_default(db); }) == 0);
    CHECK(owned_by(scratch.path(), kNobody).empty());
    {
      // With the WAL held open by another connection, status reads through it.
      pyrate::SQLiteBucket holder({pyrate::Rate(1, pyrate::Duration::Hour)},
                                  pyrate_test::at(db, "holder"));
      REQUIRE(pyrate_test::exists(db + "-shm"));
      CHECK(pyrate_test::run_unprivileged([&] { return status_lists_default(db); }) == 0);
      CHECK(owned_by(scratch.path(), kNobody).empty());
    }
    const Outcome acquire =
        run_pyrate({"acquire", "--db", db, "--bucket", "root", "--rate", "9/h"});
    CHECK(acquire.exit_code == 0);
    CHECK(acquire.err.empty());
  };
  reads_and_leaves_root_able_to_write("0644 file in a 0755 directory");

  if (::geteuid() == 0) {  // only root writes a 0444 file afterwards
    fs::permissions(scratch.path(), fs::perms::all);
    fs::permissions(db, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
    reads_and_leaves_root_able_to_write("0444 file in a 0777 directory");
    fs::permissions(db, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                            fs::perms::others_read);
  }

  // A read-only mount, in a private mount namespace of a child.
  const int mounted = pyrate_test::run_in_child([&] {
    const int made = mount_read_only(scratch.path().string());
    return made != 0 ? made : status_lists_default(db);
  });
  if (mounted == 77) {
    WARN("read-only bind mount not permitted in this sandbox: that variant was skipped");
  } else {
    CHECK(mounted == 0);
  }
}

TEST_CASE("status of a count below zero shows an empty bar instead of failing") {
  // A file whose CHECK (weight > 0) was bypassed: the schema is pyrate's, the data is not.
  const Scratch scratch;
  const std::string db = scratch.db();
  REQUIRE(run_pyrate({"acquire", "--db", db, "--rate", "5/s"}).exit_code == 0);
  const std::string command = "sqlite3 '" + db +
                              "' 'PRAGMA ignore_check_constraints = 1; "
                              "UPDATE slots SET weight = -100'";
  REQUIRE(std::system(command.c_str()) == 0);
  const Outcome status = run_pyrate({"status", "--db", db});
  CHECK(status.exit_code == 0);
  CHECK_THAT(status.out, Contains("[          ]"));
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
    CHECK_THAT(status.out, Contains("5/h  [##        ] 1 used, 4 remaining"));
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

TEST_CASE(
    "a --db that is a FIFO, a device or a directory exits 2 saying it is not a regular file") {
  const Scratch scratch;
  const std::string fifo = scratch.file("fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const std::vector<std::vector<std::string>> lines{
      {"status", "--db", "/dev/null"},
      {"status", "--db", "/dev/null", "--json"},
      {"acquire", "--db", "/dev/null", "--rate", "1/s"},
      {"acquire", "--db", fifo, "--rate", "1/s"},
      {"leak", "--db", fifo},
      {"status", "--db", scratch.path()},
  };
  for (const std::vector<std::string>& arguments : lines) {
    const Outcome outcome = run_pyrate(arguments);
    CHECK(outcome.exit_code == 2);
    CHECK(outcome.out.empty());
    CHECK(line_count(outcome.err) == 1);
    CHECK_THAT(outcome.err, Contains("not a regular file"));
  }
  CHECK(fs::is_fifo(fifo));
}

TEST_CASE("a 100 KB bucket name is shortened in one-line messages, and kept whole in JSON") {
  const Scratch scratch;
  const std::string name(102'400, 'a');
  const std::string shown = "\"" + std::string(64, 'a') + "\u2026\" (102400 bytes, 102336 cut)";
  const Outcome unknown = run_pyrate({"flush", "--db", scratch.db(), "--bucket", name});
  CHECK(unknown.exit_code == 0);
  CHECK_THAT(unknown.out, Contains("no bucket " + shown + " in "));
  CHECK(unknown.out.size() < 400);
  REQUIRE(
      run_pyrate({"acquire", "--db", scratch.db(), "--bucket", name, "--rate", "5/h"}).exit_code ==
      0);
  const Outcome status = run_pyrate({"status", "--db", scratch.db()});
  CHECK_THAT(status.out, Contains("bucket " + shown + ": 1 slot held"));
  CHECK(status.out.size() < 1000);
  CHECK_THAT(run_pyrate({"status", "--db", scratch.db(), "--json"}).out,
             Contains("\"name\": \"" + name + "\""));
  const Outcome stray = run_pyrate({"acquire", "--rate", "5/h", name});
  CHECK(stray.exit_code == 2);
  CHECK(line_count(stray.err) == 1);
  CHECK_THAT(stray.err, Contains("unexpected argument '" + std::string(64, 'a') +
                                 "\u2026' (102400 bytes, 102336 cut)"));
  CHECK(stray.err.size() < 400);
}

TEST_CASE("-h and --help as an option's value are that value, not a request for help") {
  const Scratch scratch;
  const Outcome acquired =
      run_pyrate({"acquire", "--db", scratch.db(), "--bucket", "-h", "--rate", "1/s"});
  CHECK(acquired.exit_code == 0);
  CHECK(acquired.out.empty());
  CHECK(held_slots(scratch.db(), "-h") == 1);
  CHECK(
      run_pyrate({"acquire", "--db", scratch.db(), "--bucket=--help", "--rate", "1/s"}).exit_code ==
      0);
  CHECK(held_slots(scratch.db(), "--help") == 1);
  const Outcome db_named_h = run_pyrate({"status", "--db", "-h"});
  CHECK(db_named_h.exit_code == 0);
  CHECK_THAT(db_named_h.out, Contains("no buckets"));
  CHECK_THAT(run_pyrate({"acquire", "--bucket", "x", "-h"}).out,
             StartsWith("usage: pyrate acquire"));
}

TEST_CASE("status of a bucket whose window reaches past INT64_MAX shows the wait, saturated") {
  const Scratch scratch;
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  {
    pyrate::SQLiteOptions options;
    options.db_path = scratch.db();
    options.bucket = "forever";
    pyrate::SQLiteBucket bucket({pyrate::Rate(1, kMax)}, options);
    REQUIRE(bucket.put(pyrate::RateItem{"x", bucket.now(), 1}));
  }
  const Outcome status = run_pyrate({"status", "--db", scratch.db()});
  CHECK(status.exit_code == 0);
  CHECK_THAT(status.out, Contains("bucket \"forever\": 1 slot held, next acquire waits"));
  const Outcome json = run_pyrate({"status", "--db", scratch.db(), "--json"});
  CHECK_THAT(json.out, Contains("\"wait_ms\": 922337203685477"));
}

TEST_CASE("acquire and exec leave no lock object behind") {
  const Scratch scratch;
  REQUIRE(run_pyrate({"acquire", "--db", scratch.db(), "--rate", "5/s"}).exit_code == 0);
  REQUIRE(run_pyrate({"exec", "--db", scratch.db(), "--rate", "5/s", "--", "true"}).exit_code == 0);
  CHECK_FALSE(
      std::filesystem::exists("/dev/shm/" + pyrate::InterprocessLock::name_for(scratch.db())));
}

TEST_CASE("gc removes the lock objects that killed acquires left, and only those") {
  const Scratch scratch;
  REQUIRE(run_pyrate({"acquire", "--db", scratch.db(), "--rate", "1/h"}).exit_code == 0);
  const std::string object = "/dev/shm/" + pyrate::InterprocessLock::name_for(scratch.db());
  PyrateProcess waiting({"acquire", "--db", scratch.db(), "--rate", "1/h"});
  while (!std::filesystem::exists(object))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));

  const Scratch other;
  std::ofstream(other.db()).flush();
  const pyrate::InterprocessLock in_use(other.db());
  waiting.signal(SIGKILL);
  CHECK(waiting.wait().exit_code == 128 + SIGKILL);
  REQUIRE(std::filesystem::exists(object));

  const Outcome gc = run_pyrate({"gc"});
  CHECK(gc.exit_code == 0);
  CHECK_THAT(gc.out, StartsWith("removed ") && Contains(" that no process used; kept "));
  CHECK(line_count(gc.out) == 1);
  CHECK_FALSE(std::filesystem::exists(object));
  CHECK(std::filesystem::exists("/dev/shm/" + in_use.name()));
}
