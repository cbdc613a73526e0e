// RedisBucket against the same server, in one run (the bench starts its own redis-server on a
// loopback port, without persistence; every connection is TCP over loopback).
//
//   acquire/*       RedisBucket::put of a weight-1 item stamped by the caller (one EVALSHA), one
//                   rate: an empty window in a new bucket, 100,000 entries in the bucket but
//                   none in the window, and 100,000 in the window. Goal: 100k-in-window <= 1.25
//                   x empty.
//   acquire/server_clock  now() from the server's TIME, then put: the two round trips a Limiter
//                   makes per admission with the default clock.
//   baseline/evalsha_return_1  a raw hiredis EVALSHA of "return 1" on one connection. Goal:
//                   acquire/empty_window >= 0.5 x its throughput.
//   weight/*        put of weight 1, 100 and 1,000; counter entries_per_put (ZCARD / puts).
//   pyrate_limiter/weight_*  PyrateLimiter's RedisBucket algorithm, scripted the same way
//                   (EVALSHA on one connection): ZCOUNT per rate, then one ZADD member per unit.
//   processes/*     1 and 4 processes admitting on one bucket for 1 s each: admissions per second.
//
// Counter server_us: the server's own time per EVALSHA (INFO commandstats), which a loaded
// machine disturbs less than real time. After the table, a summary prints the ratios side by
// side, real time first, server time in brackets.
#include <benchmark/benchmark.h>
#include <hiredis/hiredis.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <pyrate/pyrate.hpp>
#include <pyrate/redis_bucket.hpp>
#include <string>
#include <vector>

#include "support/child_process.hpp"
#include "support/redis_keys.hpp"
#include "support/redis_server.hpp"

namespace {

using pyrate::Millis;
using pyrate::Rate;
using pyrate::RateItem;
using pyrate::RedisBucket;
using pyrate::RedisOptions;

constexpr std::int64_t kWindowEntries = 100'000;
constexpr std::int64_t kUnlimited = 1'000'000'000'000;
constexpr Millis kStart = 1'700'000'000'000;

pyrate::testing::RedisServer& server() {
  static pyrate::testing::RedisServer instance;
  return instance;
}

RedisOptions bucket_options(const std::string& bucket) {
  RedisOptions options;
  options.url = server().url();
  options.bucket = bucket;
  return options;
}

// The server's own account of its EVALSHA calls (INFO commandstats): calls and microseconds
// spent running them, which a loaded machine's scheduling does not inflate.
struct ScriptTime {
  double calls = 0;
  double usec = 0;

  static ScriptTime now() {
    const std::string info = server().command({"INFO", "commandstats"}).text;
    ScriptTime time;
    const auto at = info.find("cmdstat_evalsha:calls=");
    if (at == std::string::npos) return time;
    std::sscanf(info.c_str() + at, "cmdstat_evalsha:calls=%lf,usec=%lf", &time.calls, &time.usec);
    return time;
  }
};

// Sets the counter server_us: microseconds of server time per EVALSHA since `start`.
void count_server_time(benchmark::State& state, const ScriptTime& start) {
  const ScriptTime end = ScriptTime::now();
  if (end.calls > start.calls) {
    state.counters["server_us"] = (end.usec - start.usec) / (end.calls - start.calls);
  }
}

// A bucket named `name` holding kWindowEntries weight-1 entries, one per ms from kStart.
std::unique_ptr<RedisBucket> prefilled(const std::string& name, const std::vector<Rate>& rates) {
  auto bucket = std::make_unique<RedisBucket>(rates, bucket_options(name));
  bucket->flush();
  for (std::int64_t i = 0; i < kWindowEntries; ++i) {
    if (!bucket->put(RateItem{"prefill", kStart + i, 1})) std::abort();
  }
  return bucket;
}

// Puts items of `weight` stamped `first`, `first + step`, ...; every one must be admitted.
void run_puts(benchmark::State& state, RedisBucket& bucket, Millis first, Millis step,
              std::int64_t weight = 1) {
  Millis timestamp = first;
  const ScriptTime start = ScriptTime::now();
  for (auto _ : state) {
    if (!bucket.put(RateItem{"bench", timestamp, weight})) {
      state.SkipWithError("a put was refused");
      break;
    }
    timestamp += step;
  }
  count_server_time(state, start);
  state.SetItemsProcessed(state.iterations());
}

void BM_AcquireEmptyWindow(benchmark::State& state) {
  RedisBucket bucket({Rate(kUnlimited, 1000)}, bucket_options("empty"));
  bucket.flush();
  run_puts(state, bucket, kStart, 1001);
}

void BM_AcquireExpired(benchmark::State& state) {
  const auto bucket = prefilled("expired", {Rate(kUnlimited, 1000)});
  run_puts(state, *bucket, kStart + kWindowEntries + 1000, 1001);
}

void BM_AcquireFullWindow(benchmark::State& state) {
  const auto bucket = prefilled("window", {Rate(kUnlimited, pyrate::Duration::Week)});
  run_puts(state, *bucket, kStart + kWindowEntries, 1);
}

void BM_AcquireServerClock(benchmark::State& state) {
  RedisBucket bucket({Rate(kUnlimited, 1000)}, bucket_options("server_clock"));
  const ScriptTime start = ScriptTime::now();
  for (auto _ : state) {
    if (!bucket.put(RateItem{"bench", bucket.now(), 1})) {
      state.SkipWithError("a put was refused");
      break;
    }
  }
  count_server_time(state, start);
  state.SetItemsProcessed(state.iterations());
}

// One hiredis connection to the bench's server, with the commands a baseline needs.
class RawConnection {
 public:
  RawConnection() : context_(redisConnect("127.0.0.1", server().port())) {
    if (context_ == nullptr || context_->err) std::abort();
  }
  ~RawConnection() { redisFree(context_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // Runs a command; aborts on a failed or error reply. Returns its integer or string.
  std::string run(const std::vector<std::string>& arguments) {
    std::vector<const char*> pointers;
    std::vector<std::size_t> lengths;
    for (const std::string& argument : arguments) {
      pointers.push_back(argument.data());
      lengths.push_back(argument.size());
    }
    auto* reply = static_cast<redisReply*>(redisCommandArgv(
        context_, static_cast<int>(arguments.size()), pointers.data(), lengths.data()));
    if (reply == nullptr || reply->type == REDIS_REPLY_ERROR) std::abort();
    std::string value = reply->type == REDIS_REPLY_INTEGER ? std::to_string(reply->integer)
                        : reply->str                       ? std::string(reply->str, reply->len)
                                                           : std::string();
    freeReplyObject(reply);
    return value;
  }

 private:
  redisContext* context_;
};

void BM_BaselineEvalsha(benchmark::State& state) {
  RawConnection connection;
  const std::string sha = connection.run({"SCRIPT", "LOAD", "return 1"});
  const ScriptTime start = ScriptTime::now();
  for (auto _ : state) connection.run({"EVALSHA", sha, "0"});
  count_server_time(state, start);
  state.SetItemsProcessed(state.iterations());
}

void BM_Weight(benchmark::State& state) {
  const std::string name = "weight" + std::to_string(state.range(0));
  RedisBucket bucket({Rate(kUnlimited, pyrate::Duration::Week)}, bucket_options(name));
  bucket.flush();
  run_puts(state, bucket, kStart, 1, state.range(0));
  const auto entries = server().command({"ZCARD", pyrate::testing::entries_key(name)}).integer;
  state.counters["entries_per_put"] =
      static_cast<double>(entries) / static_cast<double>(state.iterations());
}

// Modelled on PyrateLimiter 3's RedisBucket put script: a ZCOUNT per rate, then one ZADD
// member per unit of weight.
constexpr const char* kPyrateLimiterScript = R"lua(
local bucket = KEYS[1]
local now = ARGV[1]
local space_required = tonumber(ARGV[2])
local item_name = ARGV[3]
local rates_count = tonumber(ARGV[4])
for i = 1, rates_count do
  local offset = (i - 1) * 2
  local interval = tonumber(ARGV[5 + offset])
  local limit = tonumber(ARGV[5 + offset + 1])
  local count = redis.call('ZCOUNT', bucket, now - interval, now)
  if limit - tonumber(count) < space_required then return i - 1 end
end
for i = 1, space_required do
  redis.call('ZADD', bucket, now, item_name .. i .. now)
end
return -1
)lua";

void BM_PyrateLimiter(benchmark::State& state) {
  RawConnection connection;
  const std::string key = "pyrate_limiter_bench:" + std::to_string(state.range(0));
  connection.run({"DEL", key});
  const std::string sha = connection.run({"SCRIPT", "LOAD", kPyrateLimiterScript});
  const std::string weight = std::to_string(state.range(0));
  const std::string interval = std::to_string(static_cast<Millis>(pyrate::Duration::Week));
  const std::string limit = std::to_string(kUnlimited);
  Millis timestamp = kStart;
  const ScriptTime start = ScriptTime::now();
  for (auto _ : state) {
    if (connection.run({"EVALSHA", sha, "1", key, std::to_string(timestamp++), weight, "bench", "1",
                        interval, limit}) != "-1") {
      state.SkipWithError("a put was refused");
      break;
    }
  }
  count_server_time(state, start);
  state.counters["entries_per_put"] =
      std::stod(connection.run({"ZCARD", key})) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations());
}

void BM_Processes(benchmark::State& state) {
  const auto processes = static_cast<int>(state.range(0));
  const std::string name = "processes" + std::to_string(processes);
  for (auto _ : state) {
    pyrate::testing::SharedMemory<std::atomic<std::int64_t>> admitted(0);
    std::vector<pyrate::testing::ChildProcess> children;
    for (int p = 0; p < processes; ++p) {
      children.emplace_back([&] {
        RedisBucket bucket({Rate(kUnlimited, 1000)}, bucket_options(name));
        pyrate::SystemClock clock;
        const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(1);
        std::int64_t count = 0;
        while (std::chrono::steady_clock::now() < end) {
          if (bucket.put(RateItem{"bench", clock.now(), 1})) ++count;
        }
        admitted->fetch_add(count);
        return 0;
      });
    }
    for (auto& child : children) {
      if (child.wait() != 0) state.SkipWithError("a child failed");
    }
    state.counters["admissions/s"] = static_cast<double>(admitted->load());
  }
}

// The console table, and each run's time per iteration and counters kept for the summary.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  SummaryReporter() : ConsoleReporter(::isatty(STDOUT_FILENO) ? OO_Defaults : OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.iterations > 0 && !run.error_occurred) {
        Result& result = results_[run.benchmark_name()];
        result.real_ns = run.real_accumulated_time * 1e9 / static_cast<double>(run.iterations);
        for (const auto& [counter, value] : run.counters) result.counters[counter] = value.value;
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void PrintSummary() const {
    std::printf("\nSummary (real time; the server's time per script in brackets)\n");
    time_ratio("acquire 100k in window / empty window", "acquire/full_window_100k/real_time",
               "acquire/empty_window/real_time", "<= 1.25 x");
    time_ratio("acquire 100k expired / empty window", "acquire/expired_100k/real_time",
               "acquire/empty_window/real_time", "");
    throughput_ratio("acquire vs raw EVALSHA return 1", "acquire/empty_window/real_time",
                     "baseline/evalsha_return_1/real_time", ">= 0.5 x");
    throughput_ratio("acquire, server clock vs raw EVALSHA", "acquire/server_clock/real_time",
                     "baseline/evalsha_return_1/real_time", "");
    for (const char* weight : {"1", "100", "1000"}) {
      const std::string ours = std::string("weight/") + weight + "/real_time";
      if (const Result* result = find(ours)) {
        std::printf("  %-44s %8.1f us  entries per put %.3f\n",
                    (std::string("pyrate weight ") + weight).c_str(), result->real_ns / 1000,
                    result->counters.at("entries_per_put"));
      }
      const std::string theirs = std::string("pyrate_limiter/weight/") + weight + "/real_time";
      if (const Result* result = find(theirs)) {
        std::printf("  %-44s %8.1f us  entries per put %.3f\n",
                    (std::string("PyrateLimiter's way, weight ") + weight).c_str(),
                    result->real_ns / 1000, result->counters.at("entries_per_put"));
        time_ratio((std::string("  PyrateLimiter's way / pyrate, weight ") + weight).c_str(),
                   theirs, ours, "");
      }
    }
    const Result* one = find("processes/1/iterations:1/real_time");
    const Result* four = find("processes/4/iterations:1/real_time");
    if (one && four) {
      const double a = one->counters.at("admissions/s");
      const double b = four->counters.at("admissions/s");
      std::printf("  %-44s %8.2f x  (%.0f vs %.0f admissions/s)\n", "4 processes / 1 process",
                  b / a, b, a);
    }
  }

 private:
  struct Result {
    double real_ns = 0;
    std::map<std::string, double> counters;
  };

  static double server_us(const Result& result) {
    const auto found = result.counters.find("server_us");
    return found == result.counters.end() ? 0 : found->second;
  }
  const Result* find(const std::string& name) const {
    const auto found = results_.find(name);
    return found == results_.end() ? nullptr : &found->second;
  }
  void time_ratio(const char* what, const std::string& a, const std::string& b,
                  const char* goal) const {
    const Result* x = find(a);
    const Result* y = find(b);
    if (!x || !y) return;
    std::printf("  %-44s %8.2f x [%.2f x]  (%.1f us / %.1f us)%s%s\n", what,
                x->real_ns / y->real_ns, server_us(*x) / server_us(*y), x->real_ns / 1000,
                y->real_ns / 1000, *goal ? "  goal " : "", goal);
  }
  void throughput_ratio(const char* what, const std::string& ours, const std::string& baseline,
                        const char* goal) const {
    const Result* x = find(ours);
    const Result* y = find(baseline);
    if (!x || !y) return;
    std::printf("  %-44s %8.2f x [%.2f x]  (%.0f/s vs %.0f/s)%s%s\n", what, y->real_ns / x->real_ns,
                server_us(*y) / server_us(*x), 1e9 / x->real_ns, 1e9 / y->real_ns,
                *goal ? "  goal " : "", goal);
  }

  std::map<std::string, Result> results_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::RegisterBenchmark("acquire/empty_window", BM_AcquireEmptyWindow)->UseRealTime();
  benchmark::RegisterBenchmark("acquire/expired_100k", BM_AcquireExpired)->UseRealTime();
  benchmark::RegisterBenchmark("acquire/full_window_100k", BM_AcquireFullWindow)->UseRealTime();
  benchmark::RegisterBenchmark("acquire/server_clock", BM_AcquireServerClock)->UseRealTime();
  benchmark::RegisterBenchmark("baseline/evalsha_return_1", BM_BaselineEvalsha)->UseRealTime();
  benchmark::RegisterBenchmark("weight", BM_Weight)->Arg(1)->Arg(100)->Arg(1000)->UseRealTime();
  benchmark::RegisterBenchmark("pyrate_limiter/weight", BM_PyrateLimiter)
      ->Arg(1)
      ->Arg(100)
      ->UseRealTime();
  benchmark::RegisterBenchmark("processes", BM_Processes)
      ->Arg(1)
      ->Arg(4)
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kSecond);

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  server();
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintSummary();
  benchmark::Shutdown();
  return 0;
}
