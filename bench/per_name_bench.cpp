// Per-name limits at scale: a Limiter over a PerNameBucketFactory, in memory and in one SQLite
// file, measured side by side in one run.
//
//   ninja -C build bench/per_name_bench && ./build/bench/per_name_bench [--quick] [--only S]
//
// Rows (each ratio is taken between runs interleaved in one process, medians of five):
//   in memory, N = 1, 1,000, 100,000, 1,000,000 names: non-blocking try_acquire on a random
//     resident name vs on one name (goal <= 2.0x at 1M), RSS per resident name holding one
//     slot (goal <= 200 B), and resident() and RSS after the names go idle;
//   two threads on random names of 1,000, 10,000 and 100,000 vs one thread, total throughput
//     (goal >= 1.6x);
//   SQLite, one file, N = 1, 1,000, 100,000 names: the same ratio (goal <= 1.5x at 100k), RSS
//     per resident name (goal <= 1 KB), open file descriptors;
//   the anchor's way at 1,000 names: one SQLiteBucket (one connection) per name.
// --quick stops at 100,000 in-memory and 1,000 SQLite names; --only memory, threads or sqlite
// prints one table.
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <pyrate/pyrate.hpp>
#include <string>
#include <thread>
#include <vector>

#include "scratch/temporary_directory.hpp"
#include "support/process_usage.hpp"

namespace {

using pyrate::Limiter;
using pyrate::Rate;
using pyrate::testing::open_file_descriptors;
using pyrate::testing::resident_bytes;
using SteadyClock = std::chrono::steady_clock;

// A rate no benchmark reaches, over an hour so that nothing expires during a run.
const Rate kNeverRefuses(std::int64_t{1} << 50, pyrate::Duration::Hour);

pyrate::AcquireOptions non_blocking() {
  pyrate::AcquireOptions options;
  options.blocking = false;
  return options;
}

std::vector<std::string> names_for(std::size_t count) {
  std::vector<std::string> names;
  names.reserve(count);
  for (std::size_t i = 0; i < count; ++i) names.push_back("user-" + std::to_string(i));
  return names;
}

// A cheap pseudo-random sequence (xorshift64*), so that picking a name costs next to nothing.
class RandomIndex {
 public:
  explicit RandomIndex(std::uint64_t seed) : state_(seed | 1) {}
  std::size_t below(std::size_t bound) {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return static_cast<std::size_t>((state_ * 0x2545F4914F6CDD1DULL) >> 32) % bound;
  }

 private:
  std::uint64_t state_;
};

// Nanoseconds per acquire over `calls` acquires of names[pick()].
template <class Pick>
double ns_per_acquire(Limiter& limiter, const std::vector<std::string>& names, std::size_t calls,
                      Pick pick) {
  const pyrate::AcquireOptions options = non_blocking();
  const auto start = SteadyClock::now();
  for (std::size_t i = 0; i < calls; ++i) {
    if (!limiter.try_acquire(names[pick()], options)) std::abort();
  }
  return std::chrono::duration<double, std::nano>(SteadyClock::now() - start).count() /
         static_cast<double>(calls);
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

struct Comparison {
  double one_name_ns;
  double random_name_ns;
};

// One name and random names, five rounds interleaved.
Comparison compare(Limiter& limiter, const std::vector<std::string>& names, std::size_t calls) {
  std::vector<double> one;
  std::vector<double> random;
  RandomIndex index(42);
  for (int round = 0; round < 5; ++round) {
    one.push_back(ns_per_acquire(limiter, names, calls, [] { return std::size_t{0}; }));
    random.push_back(
        ns_per_acquire(limiter, names, calls, [&] { return index.below(names.size()); }));
  }
  return Comparison{median(one), median(random)};
}

// Acquires every name once, so that each is resident holding one slot.
void touch_all(Limiter& limiter, const std::vector<std::string>& names) {
  const pyrate::AcquireOptions options = non_blocking();
  for (const std::string& name : names) {
    if (!limiter.try_acquire(name, options)) std::abort();
  }
}

void in_memory_rows(bool quick) {
  std::printf(
      "\n| in memory, names | try_acquire, 1 name | random name | ratio (goal <= 2.0x at 1M) | "
      "RSS per resident name (goal <= 200 B) | resident after the fill, then idle | RSS when idle "
      "|\n"
      "|---|---|---|---|---|---|---|\n");
  for (const std::size_t count :
       {std::size_t{1}, std::size_t{1'000}, std::size_t{100'000}, std::size_t{1'000'000}}) {
    if (quick && count > 100'000) break;
    const std::vector<std::string> names = names_for(count);
    malloc_trim(0);
    const std::int64_t rss_before = resident_bytes();
    double rss_per_name = 0;
    Comparison timing{};
    std::size_t resident_after_timing = 0;
    {
      // Nothing expires while the row is timed: every name stays resident with its slots.
      auto factory = pyrate::per_name_inmemory_factory({kNeverRefuses});
      Limiter limiter(factory);
      touch_all(limiter, names);
      rss_per_name =
          static_cast<double>(resident_bytes() - rss_before) / static_cast<double>(count);
      timing = compare(limiter, names, 200'000);
      resident_after_timing = factory->resident();
    }
    if (resident_after_timing != count) std::abort();  // the timing must not include remaking
    malloc_trim(0);
    const std::int64_t rss_before_idle = resident_bytes();
    // Slots expire after 1 s, so that the names go idle once the calls stop.
    auto factory = pyrate::per_name_inmemory_factory({Rate(std::int64_t{1} << 50, 1000)});
    factory->set_leak_interval(100);
    Limiter limiter(factory);
    touch_all(limiter, names);
    const std::size_t resident_before_idle = factory->resident();
    const auto idle_since = SteadyClock::now();
    while (factory->resident() > 0 && SteadyClock::now() - idle_since < std::chrono::seconds(30)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    malloc_trim(0);
    std::printf(
        "| %zu | %.0f ns | %.0f ns | %.2fx | %.0f B | %zu, then %zu | %+.1f MB vs before |\n",
        count, timing.one_name_ns, timing.random_name_ns,
        timing.random_name_ns / timing.one_name_ns, rss_per_name, resident_before_idle,
        factory->resident(), static_cast<double>(resident_bytes() - rss_before_idle) / 1e6);
  }
}

// Total acquires per second of `threads` threads on random names for `run`.
double throughput(Limiter& limiter, const std::vector<std::string>& names, int threads,
                  std::chrono::milliseconds run) {
  std::vector<std::thread> workers;
  std::vector<std::size_t> done(static_cast<std::size_t>(threads), 0);
  const auto stop_at = SteadyClock::now() + run;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      RandomIndex index(static_cast<std::uint64_t>(t) * 7919 + 1);
      const pyrate::AcquireOptions options = non_blocking();
      std::size_t calls = 0;
      while ((calls & 1023) != 0 || SteadyClock::now() < stop_at) {
        if (!limiter.try_acquire(names[index.below(names.size())], options)) std::abort();
        ++calls;
      }
      done[static_cast<std::size_t>(t)] = calls;
    });
  }
  for (auto& worker : workers) worker.join();
  std::size_t total = 0;
  for (const std::size_t calls : done) total += calls;
  return static_cast<double>(total) / std::chrono::duration<double>(run).count();
}

void thread_rows(bool quick) {
  std::printf(
      "\n| in memory, random names of | 1 thread | 2 threads | ratio (goal >= 1.6x) |\n"
      "|---|---|---|---|\n");
  for (const std::size_t count : {std::size_t{1'000}, std::size_t{10'000}, std::size_t{100'000}}) {
    if (quick && count > 10'000) break;
    const std::vector<std::string> names = names_for(count);
    Limiter limiter(pyrate::per_name_inmemory_factory({kNeverRefuses}));
    touch_all(limiter, names);
    std::vector<double> one;
    std::vector<double> two;
    for (int round = 0; round < 5; ++round) {
      one.push_back(throughput(limiter, names, 1, std::chrono::milliseconds(300)));
      two.push_back(throughput(limiter, names, 2, std::chrono::milliseconds(300)));
    }
    std::printf("| %zu | %.2fM/s | %.2fM/s | %.2fx |\n", count, median(one) / 1e6,
                median(two) / 1e6, median(two) / median(one));
  }
}

void sqlite_rows(bool quick) {
  pyrate::TemporaryDirectory dir("pyrate-per-name-bench");
  std::printf(
      "\n| SQLite, one file, names | try_acquire, 1 name | random name | ratio (goal <= 1.5x at "
      "100k) | RSS per resident name (goal <= 1 KB) | open fds: 1 name, all names |\n"
      "|---|---|---|---|---|---|\n");
  for (const std::size_t count : {std::size_t{1}, std::size_t{1'000}, std::size_t{100'000}}) {
    if (quick && count > 1'000) break;
    const std::vector<std::string> names = names_for(count);
    pyrate::SQLiteOptions options;
    options.db_path = dir.file("names-" + std::to_string(count) + ".db");
    options.bucket = "bench";
    options.durability = pyrate::Durability::Off;
    malloc_trim(0);
    auto factory = pyrate::per_name_sqlite_factory({kNeverRefuses}, options);
    Limiter limiter(factory);
    if (!limiter.try_acquire(names[0], non_blocking())) std::abort();
    const int fds_one = open_file_descriptors();
    const std::int64_t rss_before = resident_bytes();
    touch_all(limiter, names);
    const double rss_per_name =
        static_cast<double>(resident_bytes() - rss_before) / static_cast<double>(count);
    const int fds_all = open_file_descriptors();
    const Comparison timing = compare(limiter, names, 4'000);
    std::printf("| %zu | %.1f us | %.1f us | %.2fx | %.0f B | %d, %d |\n", count,
                timing.one_name_ns / 1e3, timing.random_name_ns / 1e3,
                timing.random_name_ns / timing.one_name_ns, rss_per_name, fds_one, fds_all);
  }

  // The anchor's way: a bucket (a connection, its statements) per name.
  constexpr std::size_t kAnchorNames = 1'000;
  const std::vector<std::string> names = names_for(kAnchorNames);
  const std::string path = dir.file("anchor.db");
  const int fds_before = open_file_descriptors();
  malloc_trim(0);
  const std::int64_t rss_before = resident_bytes();
  const auto start = SteadyClock::now();
  std::vector<std::shared_ptr<pyrate::SQLiteBucket>> buckets;
  for (const std::string& name : names) {
    pyrate::SQLiteOptions options;
    options.db_path = path;
    options.bucket = "anchor/" + name;
    options.durability = pyrate::Durability::Off;
    buckets.push_back(
        std::make_shared<pyrate::SQLiteBucket>(std::vector<Rate>{kNeverRefuses}, options));
  }
  const double open_s = std::chrono::duration<double>(SteadyClock::now() - start).count();
  const double rss_per_name =
      static_cast<double>(resident_bytes() - rss_before) / static_cast<double>(kAnchorNames);
  const int fds = open_file_descriptors() - fds_before;
  RandomIndex index(7);
  const auto acquire_start = SteadyClock::now();
  constexpr int kCalls = 4'000;
  for (int i = 0; i < kCalls; ++i) {
    auto& bucket = *buckets[index.below(kAnchorNames)];
    if (!bucket.put(pyrate::RateItem{"x", bucket.now(), 1})) std::abort();
  }
  const double put_us =
      std::chrono::duration<double, std::micro>(SteadyClock::now() - acquire_start).count() /
      kCalls;
  std::printf(
      "\n| anchor's way: one SQLiteBucket per name, 1,000 names | open all | RSS per name | "
      "fds added | put on a random name |\n|---|---|---|---|---|\n| | %.2f s | %.0f B | %d | %.1f "
      "us |\n",
      open_s, rss_per_name, fds, put_us);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string only;  // one of "memory", "threads", "sqlite"; empty for all
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::fprintf(stderr, "usage: per_name_bench [--quick] [--only memory|threads|sqlite]\n");
      return 2;
    }
  }
  if (only.empty() || only == "memory") in_memory_rows(quick);
  if (only.empty() || only == "threads") thread_rows(quick);
  if (only.empty() || only == "sqlite") sqlite_rows(quick);
  return 0;
}
