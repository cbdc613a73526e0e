// Non-blocking try_acquire through a Limiter over an InMemoryBucket, without and with an
// AcquireListener, next to the least any clocked, locked log can do, and the memory a held
// slot costs.
//
//   ninja -C build bench/in_memory_bench && ./build/bench/in_memory_bench
//
// Prints Google Benchmark's table, then the README rows: pyrate against the baseline with
// their ratio, and heap and RSS bytes per slot with 1,000,000 slots held.
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <pyrate/pyrate.hpp>
#include <string>
#include <vector>

#include "support/process_usage.hpp"

namespace {

// Live heap bytes, counted while `counting` is set (see operator new below).
std::atomic<bool> counting{false};
std::atomic<std::int64_t> live_heap_bytes{0};

}  // namespace

void* operator new(std::size_t size) {
  void* block = std::malloc(size == 0 ? 1 : size);
  if (block == nullptr) throw std::bad_alloc();
  if (counting.load(std::memory_order_relaxed)) {
    live_heap_bytes.fetch_add(static_cast<std::int64_t>(malloc_usable_size(block)),
                              std::memory_order_relaxed);
  }
  return block;
}

namespace {

void release(void* block) noexcept {
  if (block != nullptr && counting.load(std::memory_order_relaxed)) {
    live_heap_bytes.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(block)),
                              std::memory_order_relaxed);
  }
  std::free(block);
}

}  // namespace

void operator delete(void* block) noexcept { release(block); }

void operator delete(void* block, std::size_t) noexcept { release(block); }

namespace {

// A rate no benchmark reaches: every acquire is admitted and recorded.
const pyrate::Rate kNeverRefuses(std::int64_t{1} << 50, 1000);

// ---- Baseline: one clock read, a mutex, a deque push and pop. ----

std::mutex baseline_mutex;
std::deque<std::int64_t> baseline_log;

void BM_Baseline(benchmark::State& state) {
  for (auto _ : state) {
    const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    std::lock_guard lock(baseline_mutex);
    baseline_log.push_back(now);
    baseline_log.pop_front();
  }
  state.SetItemsProcessed(state.iterations());
}

// The same with the second lock this design takes (the limiter's, then the bucket's): the floor
// of any Limiter-over-bucket implementation.
std::mutex second_mutex;

void BM_BaselineTwoLocks(benchmark::State& state) {
  for (auto _ : state) {
    std::lock_guard outer(second_mutex);
    const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    std::lock_guard lock(baseline_mutex);
    baseline_log.push_back(now);
    baseline_log.pop_front();
  }
  state.SetItemsProcessed(state.iterations());
}

// A new log for every run, allocated by the thread that sets the run up.
void SetupBaseline(const benchmark::State&) {
  baseline_log = std::deque<std::int64_t>(1000, 0);  // pop_front always has something to take
}

// ---- pyrate: non-blocking try_acquire through a Limiter over an InMemoryBucket. ----

std::unique_ptr<pyrate::Limiter> limiter;

void SetupLimiter(const benchmark::State&) {
  limiter = std::make_unique<pyrate::Limiter>(kNeverRefuses);
}
void TeardownLimiter(const benchmark::State&) { limiter.reset(); }

// Non-blocking acquires of `name` until the benchmark has enough.
void try_acquire_each_iteration(benchmark::State& state, const char* name) {
  pyrate::AcquireOptions options;
  options.blocking = false;
  for (auto _ : state) {
    if (!limiter->try_acquire(name, options)) {
      state.SkipWithError("an acquire was refused");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_TryAcquire(benchmark::State& state) { try_acquire_each_iteration(state, "bench"); }

// A listener that does the least a useful one does: count admissions, relaxed.
class CountingListener final : public pyrate::AcquireListener {
 public:
  void on_admitted(const pyrate::RateItem&, const pyrate::Decision&) override {
    admitted_.fetch_add(1, std::memory_order_relaxed);
  }

 private:
  std::atomic<std::int64_t> admitted_{0};
};

void SetupLimiterWithListener(const benchmark::State& state) {
  SetupLimiter(state);
  limiter->set_listener(std::make_shared<CountingListener>());
}

// Stats are always counted; this adds the listener's call after each decision.
void BM_TryAcquireWithListener(benchmark::State& state) {
  try_acquire_each_iteration(state, "bench");
}

// A name longer than std::string's small-string buffer: wrap_item allocates its copy.
void BM_TryAcquireLongName(benchmark::State& state) {
  try_acquire_each_iteration(state, "a-name-longer-than-fifteen-characters");
}

// ---- The parts, to see where the time goes. ----

std::shared_ptr<pyrate::InMemoryBucket> bucket;

void SetupBucket(const benchmark::State&) {
  bucket = std::make_shared<pyrate::InMemoryBucket>(std::vector<pyrate::Rate>{kNeverRefuses});
}
void TeardownBucket(const benchmark::State&) { bucket.reset(); }

void BM_BucketPut(benchmark::State& state) {
  pyrate::RateItem item{"bench", 0, 1};
  for (auto _ : state) {
    item.timestamp = bucket->now();
    benchmark::DoNotOptimize(bucket->put(item));
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_BucketNow(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(bucket->now());
}

void BM_SteadyClockNow(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(std::chrono::steady_clock::now());
}

// Every one-thread run comes before the two-thread runs. A two-thread run leaves memory that
// the other thread allocated in the log, and a one-thread run after it measured up to 45% slower.
void register_benchmarks() {
  for (const int threads : {1, 2}) {
    benchmark::RegisterBenchmark("BM_Baseline", BM_Baseline)
        ->Setup(SetupBaseline)
        ->Threads(threads)
        ->UseRealTime();
    benchmark::RegisterBenchmark("BM_BaselineTwoLocks", BM_BaselineTwoLocks)
        ->Setup(SetupBaseline)
        ->Threads(threads)
        ->UseRealTime();
    benchmark::RegisterBenchmark("BM_TryAcquire", BM_TryAcquire)
        ->Setup(SetupLimiter)
        ->Teardown(TeardownLimiter)
        ->Threads(threads)
        ->UseRealTime();
    benchmark::RegisterBenchmark("BM_TryAcquireWithListener", BM_TryAcquireWithListener)
        ->Setup(SetupLimiterWithListener)
        ->Teardown(TeardownLimiter)
        ->Threads(threads)
        ->UseRealTime();
    if (threads == 1) {
      benchmark::RegisterBenchmark("BM_TryAcquireLongName", BM_TryAcquireLongName)
          ->Setup(SetupLimiter)
          ->Teardown(TeardownLimiter)
          ->Threads(threads)
          ->UseRealTime();
    }
    benchmark::RegisterBenchmark("BM_BucketPut", BM_BucketPut)
        ->Setup(SetupBucket)
        ->Teardown(TeardownBucket)
        ->Threads(threads)
        ->UseRealTime();
    benchmark::RegisterBenchmark("BM_BucketNow", BM_BucketNow)
        ->Setup(SetupBucket)
        ->Teardown(TeardownBucket)
        ->Threads(threads)
        ->UseRealTime();
    benchmark::RegisterBenchmark("BM_SteadyClockNow", BM_SteadyClockNow)
        ->Threads(threads)
        ->UseRealTime();
  }
}

// Keeps each benchmark's time per acquire (the median when repeated) for the README rows.
class RecordingReporter final : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      if (run.run_type == Run::RT_Iteration && !medians_.contains(run.run_name.str())) {
        times_[run.run_name.str()] = {run.GetAdjustedRealTime(), run.GetAdjustedCPUTime()};
      } else if (run.aggregate_name == "median") {
        medians_[run.run_name.str()] = true;
        times_[run.run_name.str()] = {run.GetAdjustedRealTime(), run.GetAdjustedCPUTime()};
      }
    }
  }
  struct Times {
    double real_ns;
    double cpu_ns;
  };
  std::optional<Times> times(const std::string& name) const {
    const auto found = times_.find(name);
    if (found == times_.end()) return std::nullopt;
    return found->second;
  }

 private:
  std::map<std::string, Times> times_;
  std::map<std::string, bool> medians_;
};

void print_speed_rows(const RecordingReporter& reporter) {
  std::printf(
      "\n| non-blocking try_acquire, in-memory | pyrate | baseline (clock + mutex + deque) | "
      "ratio |\n|---|---|---|---|\n");
  struct Variant {
    const char* benchmark;
    const char* label;
  };
  static constexpr Variant kVariants[] = {
      {"BM_TryAcquire", "stats on, no listener"},
      {"BM_TryAcquireWithListener", "stats on, a listener set"}};
  for (const int threads : {1, 2}) {
    const std::string suffix = "/real_time/threads:" + std::to_string(threads);
    const auto base = reporter.times("BM_Baseline" + suffix);
    if (!base) continue;
    const char* plural = threads == 1 ? "" : "s";
    for (const Variant& variant : kVariants) {
      const auto ours = reporter.times(variant.benchmark + suffix);
      if (!ours) continue;
      std::printf("| %s, %d thread%s, wall time per call | %.1f ns | %.1f ns | %.2fx |\n",
                  variant.label, threads, plural, ours->real_ns, base->real_ns,
                  ours->real_ns / base->real_ns);
      std::printf("| %s, %d thread%s, CPU time per call | %.1f ns | %.1f ns | %.2fx |\n",
                  variant.label, threads, plural, ours->cpu_ns, base->cpu_ns,
                  ours->cpu_ns / base->cpu_ns);
    }
  }
}

// ---- Memory per held slot. ----

using pyrate::testing::resident_bytes;

struct SlotCost {
  double heap_bytes;
  double rss_bytes;
};

// Fills a bucket with `slots` weight-1 items made by `item_for(i)` and measures what it holds.
template <class ItemFor>
SlotCost cost_per_slot(std::int64_t slots, ItemFor item_for) {
  live_heap_bytes.store(0);
  counting.store(true);
  const std::int64_t rss_before = resident_bytes();
  SlotCost cost{};
  {
    pyrate::InMemoryBucket held(std::vector<pyrate::Rate>{pyrate::Rate(slots, 1'000'000'000)});
    held.set_clock(std::make_shared<pyrate::MonotonicClock>());
    const std::int64_t heap_before = live_heap_bytes.load();
    for (std::int64_t i = 0; i < slots; ++i) {
      if (!held.put(item_for(i))) std::abort();
    }
    if (held.count() != slots) std::abort();
    cost.heap_bytes =
        static_cast<double>(live_heap_bytes.load() - heap_before) / static_cast<double>(slots);
    cost.rss_bytes =
        static_cast<double>(resident_bytes() - rss_before) / static_cast<double>(slots);
  }
  counting.store(false);
  malloc_trim(0);
  return cost;
}

void print_memory_rows() {
  constexpr std::int64_t kSlots = 1'000'000;
  const std::string name = "a-typical-client-name";  // longer than the small-string buffer
  const std::string other = "another-client-name";
  const SlotCost distinct = cost_per_slot(kSlots, [&](std::int64_t i) {
    return pyrate::RateItem{name, i, 1};
  });
  const SlotCost alternating = cost_per_slot(kSlots, [&](std::int64_t i) {
    return pyrate::RateItem{i % 2 == 0 ? name : other, i, 1};
  });
  const SlotCost unique = cost_per_slot(kSlots, [&](std::int64_t i) {
    return pyrate::RateItem{"client-" + std::to_string(i), i, 1};
  });
  const SlotCost same = cost_per_slot(kSlots, [&](std::int64_t) {
    return pyrate::RateItem{name, 0, 1};
  });
  std::printf(
      "\n| 1,000,000 weight-1 slots held | heap bytes/slot | RSS bytes/slot |\n"
      "|---|---|---|\n");
  std::printf("| distinct timestamps, one name | %.1f | %.1f |\n", distinct.heap_bytes,
              distinct.rss_bytes);
  std::printf("| distinct timestamps, two names alternating | %.1f | %.1f |\n",
              alternating.heap_bytes, alternating.rss_bytes);
  std::printf("| distinct timestamps, a new name for every slot (worst case) | %.1f | %.1f |\n",
              unique.heap_bytes, unique.rss_bytes);
  std::printf("| same timestamp and name | %.3f | %.3f |\n", same.heap_bytes, same.rss_bytes);
}

// `--no-memory` skips the memory rows (for profiling the speed benchmarks alone).
bool take_flag(int& argc, char** argv, const std::string& flag) {
  for (int i = 1; i < argc; ++i) {
    if (argv[i] != flag) continue;
    for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
    --argc;
    return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const bool memory = !take_flag(argc, argv, "--no-memory");
  register_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RecordingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  print_speed_rows(reporter);
  if (memory) print_memory_rows();
  return 0;
}
