// The pyrate command with --db naming a redis-server that the test starts on a unix socket:
// the real binary (PYRATE_CLI_PATH), one process per invocation, as scripts run it.
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <pyrate/pyrate.hpp>
#include <pyrate/redis_bucket.hpp>
#include <string>
#include <vector>

#include "support/fake_clock.hpp"
#include "support/pyrate_process.hpp"
#include "support/redis_keys.hpp"
#include "support/redis_server.hpp"

using namespace pyrate;
using namespace pyrate::testing;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using pyrate_test::FakeClock;

namespace {

// The "held" count `status --json` reports for the bucket `name` on `url`, or -1 if absent.
long held_slots(const std::string& url, const std::string& name) {
  const Outcome status = run_pyrate({"status", "--db", url, "--json"});
  REQUIRE(status.exit_code == 0);
  const auto entry = status.out.find("\"name\": \"" + name + "\",");
  if (entry == std::string::npos) return -1;
  const std::string held = "\"held\": ";
  const auto at = status.out.find(held, entry);
  REQUIRE(at != std::string::npos);
  return std::stol(status.out.substr(at + held.size()));
}

}  // namespace

TEST_CASE("acquire processes on one Redis URL, from --db or PYRATE_DB, admit exactly the limit",
          "[redis-cli]") {
  RedisServer server({.unix_socket = true, .password = {}, .append_only = false});
  constexpr int kProcesses = 12;
  std::vector<PyrateProcess> processes;
  for (int i = 0; i < kProcesses; ++i) {
    if (i % 2 == 0) {
      processes.emplace_back(
          std::vector<std::string>{"acquire", "--db", server.url(), "--rate", "5/h", "--no-wait"});
    } else {
      processes.emplace_back(std::vector<std::string>{"acquire", "--rate", "5/h", "--no-wait"},
                             Environment{{"PYRATE_DB", server.url()}});
    }
  }
  const pyrate::testing::AcquireTally tally = pyrate::testing::tally_acquires(processes);
  CHECK(tally.admitted == 5);
  CHECK(tally.refused == kProcesses - 5);
  CHECK(slot_stamps(stored_entries(server, "default")).size() == 5);
  CHECK(held_slots(server.url(), "default") == 5);
}

TEST_CASE("exec over a Redis URL runs the command when admitted and not when refused",
          "[redis-cli]") {
  RedisServer server({.unix_socket = true, .password = {}, .append_only = false});
  const std::vector<std::string> exec{
      "exec",      "--db", server.url(), "--rate", "1/h",
      "--no-wait", "--",   "sh",         "-c",     "echo ran; exit 3"};
  const Outcome first = run_pyrate(exec);
  CHECK(first.exit_code == 3);
  CHECK(first.out == "ran\n");
  const Outcome second = run_pyrate(exec);
  CHECK(second.exit_code == 1);
  CHECK(second.out.empty());
  CHECK_THAT(second.err, StartsWith("pyrate: refused by 1/h; retry after "));
}

TEST_CASE("status over a Redis URL lists the server's buckets, as text and as JSON",
          "[redis-cli]") {
  RedisServer server({.unix_socket = true, .password = {}, .append_only = false});
  for (int i = 0; i < 3; ++i) {
    REQUIRE(run_pyrate({"acquire", "--db", server.url(), "--bucket", "api", "--rate", "3/min",
                        "--rate", "10/h"})
                .exit_code == 0);
  }
  const std::string odd = "quote\" slash/";
  REQUIRE(
      run_pyrate({"acquire", "--db", server.url(), "--bucket", odd, "--rate", "4/h"}).exit_code ==
      0);

  const Outcome text = run_pyrate({"status", "--db", server.url()});
  CHECK(text.exit_code == 0);
  CHECK(text.err.empty());
  CHECK_THAT(text.out, StartsWith("database " + server.url() + "\n"));
  CHECK_THAT(text.out, Contains("bucket \"api\": 3 slots held, next acquire waits"));
  CHECK_THAT(text.out, Contains("  3/min  [##########] 3 used, 0 remaining, next slot frees in "));
  CHECK_THAT(text.out, Contains("  10/h   [###       ] 3 used, 7 remaining, next slot frees in "));
  CHECK_THAT(text.out, Contains("bucket \"quote\\\" slash/\": 1 slot held"));

  const Outcome json = run_pyrate({"status", "--db", server.url(), "--json"});
  CHECK(json.exit_code == 0);
  CHECK_THAT(json.out, Contains("\"db\": \"" + server.url() + "\""));
  CHECK(held_slots(server.url(), "api") == 3);
  CHECK_THAT(json.out, Contains("{\"rate\": \"3/min\", \"limit\": 3, \"interval_ms\": 60000, "
                                "\"used\": 3, \"remaining\": 0, \"next_free_ms\": "));
  CHECK_THAT(json.out, Contains("\"name\": \"quote\\\" slash/\""));
  const Outcome one = run_pyrate({"status", "--db", server.url(), "--json", "--bucket", "api"});
  CHECK_THAT(one.out, Contains("\"api\"") && !Contains("quote"));

  const std::string stats = server.command({"INFO", "commandstats"}).text;
  CHECK(stats.find("cmdstat_keys:") == std::string::npos);
}

TEST_CASE("status of a Redis server without buckets lists nothing", "[redis-cli]") {
  RedisServer server({.unix_socket = true, .password = {}, .append_only = false});
  const Outcome text = run_pyrate({"status", "--db", server.url()});
  CHECK(text.exit_code == 0);
  CHECK_THAT(text.out, Contains("no buckets recorded"));
  const Outcome json = run_pyrate({"status", "--db", server.url(), "--json"});
  CHECK_THAT(json.out, Contains("\"buckets\": []"));
}

TEST_CASE("flush over a Redis URL empties one bucket and leaves the others", "[redis-cli]") {
  RedisServer server({.unix_socket = true, .password = {}, .append_only = false});
  for (const std::string bucket : {"a", "b"}) {
    REQUIRE(run_pyrate({"acquire", "--db", server.url(), "--bucket", bucket, "--rate", "5/h"})
                .exit_code == 0);
  }
  const Outcome flushed = run_pyrate({"flush", "--db", server.url(), "--bucket", "a"});
  CHECK(flushed.exit_code == 0);
  CHECK_THAT(flushed.out, Contains("flushed 1 slot from bucket \"a\""));
  CHECK(held_slots(server.url(), "a") == 0);
  CHECK(held_slots(server.url(), "b") == 1);
  const Outcome absent = run_pyrate({"flush", "--db", server.url(), "--bucket", "none"});
  CHECK(absent.exit_code == 0);
  CHECK_THAT(absent.out, Contains("nothing to flush: no bucket \"none\" in " + server.url()));
}

TEST_CASE("leak over a Redis URL removes the expired slots of every bucket, or of the one named",
          "[redis-cli]") {
  RedisServer server({.unix_socket = true, .password = {}, .append_only = false});
  // Slots stamped 10 minutes ago in buckets of 1/min: expired, yet the keys live a minute.
  const Millis past = SystemClock().now() - 600'000;
  for (const std::string name : {"old-a", "old-b"}) {
    RedisOptions options;
    options.url = server.url();
    options.bucket = name;
    RedisBucket bucket({Rate(5, Duration::Minute)}, options);
    bucket.set_clock(std::make_shared<FakeClock>(past));
    REQUIRE(bucket.put(RateItem{"x", past, 3}));
  }
  const Outcome one = run_pyrate({"leak", "--db", server.url(), "--bucket", "old-a"});
  CHECK(one.exit_code == 0);
  CHECK(one.out == "leaked 3 expired slots from bucket \"old-a\"\n");
  CHECK(held_slots(server.url(), "old-b") == 3);
  const Outcome all = run_pyrate({"leak", "--db", server.url()});
  CHECK(all.exit_code == 0);
  CHECK_THAT(all.out, Contains("leaked 0 expired slots from bucket \"old-a\""));
  CHECK_THAT(all.out, Contains("leaked 3 expired slots from bucket \"old-b\""));
}

TEST_CASE("--bucket PREFIX/NAME shares the limit of per_name_redis_factory's NAME", "[redis-cli]") {
  RedisServer server({.unix_socket = true, .password = {}, .append_only = false});
  RedisOptions options;
  options.url = server.url();
  options.bucket = "users";
  Limiter limiter(per_name_redis_factory({Rate(3, Duration::Hour)}, options));
  const AcquireOptions no_wait{1, false, std::nullopt};
  REQUIRE(limiter.try_acquire("alice", no_wait));
  REQUIRE(limiter.try_acquire("alice", no_wait));
  const std::vector<std::string> acquire{"acquire",     "--db",   server.url(), "--bucket",
                                         "users/alice", "--rate", "3/h",        "--no-wait"};
  CHECK(run_pyrate(acquire).exit_code == 0);
  CHECK(run_pyrate(acquire).exit_code == 1);
  CHECK_FALSE(limiter.try_acquire("alice", no_wait));
  CHECK(limiter.try_acquire("bob", no_wait));
}

TEST_CASE("An unreachable Redis server exits 2 with one stderr line naming the URL, no password",
          "[redis-cli]") {
  const std::vector<std::pair<std::string, std::string>> urls{
      {"unix://:s3cret@/nonexistent/pyrate.sock", "unix:///nonexistent/pyrate.sock"},
      {"redis://user:s3cret@127.0.0.1:1/2", "redis://127.0.0.1:1/2"}};
  for (const auto& [url, redacted] : urls) {
    const std::vector<std::vector<std::string>> invocations{
        {"acquire", "--db", url, "--rate", "1/s"},
        {"exec", "--db", url, "--rate", "1/s", "--", "true"},
        {"status", "--db", url},
        {"status", "--db", url, "--json"},
        {"flush", "--db", url},
        {"leak", "--db", url}};
    for (const auto& arguments : invocations) {
      CAPTURE(arguments);
      const Outcome outcome = run_pyrate(arguments);
      CHECK(outcome.exit_code == 2);
      CHECK(line_count(outcome.err) == 1);
      CHECK_THAT(outcome.err, StartsWith("pyrate: " + redacted + ": "));
      CHECK_THAT(outcome.err, !Contains("s3cret") && !Contains("user"));
      CHECK(outcome.out.empty());
    }
  }
  const Outcome from_environment =
      run_pyrate({"status"}, Environment{{"PYRATE_DB", urls[0].first}});
  CHECK(from_environment.exit_code == 2);
  CHECK_THAT(from_environment.err, StartsWith("pyrate: " + urls[0].second + ": "));
}
