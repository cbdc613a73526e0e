// SQLiteBucket against a raw SQLite transaction, in one run.
//
//   acquire/*     SQLiteBucket::put of a weight-1 item (the call Limiter::try_acquire makes once
//                 it holds its locks), Durability::Normal, one rate: with an empty window in a
//                 new file, with 100,000 expired slots in the file but none in the window, and
//                 with 100,000 slots in the window. Goal: 100k-in-window <= 1.25 x empty.
//   acquire/refused_100k  SQLiteBucket::admit refused by a window of 100,000 slots at its
//                 limit, its wait computed. Goal: no more than the admitted acquire with
//                 100,000 slots in the window.
//   put/*         SQLiteBucket::put throughput at Off, Normal and Full, every put admitted.
//   baseline/*    The same work done raw with SQLiteCpp on a WAL file at the same synchronous
//                 level: BEGIN IMMEDIATE; SELECT the bucket's newest row; INSERT; COMMIT, on a
//                 table (bucket, name, timestamp) indexed on (bucket, timestamp), statements
//                 prepared once. Goal: put/Normal >= 90% of baseline/Normal.
//   file_size     1,000,000 admissions with leaking on: the database and WAL sizes.
//
// After the table, a summary prints the ratios against their goals.
#include <SQLiteCpp/SQLiteCpp.h>
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <pyrate/pyrate.hpp>
#include <string>

#include "scratch/temporary_directory.hpp"
#include "sqlite/sqlite_database.hpp"

namespace {

using pyrate::Durability;
using pyrate::Millis;
using pyrate::Rate;
using pyrate::RateItem;
using pyrate::SQLiteBucket;
using pyrate::SQLiteOptions;

constexpr std::int64_t kWindowSlots = 100'000;
constexpr std::int64_t kUnlimited = 1'000'000'000;
constexpr Millis kStart = 1'700'000'000'000;  // a wall-clock time, in ms

// A directory for the run's files, removed at exit.
class BenchDir : public pyrate::TemporaryDirectory {
 public:
  BenchDir() : TemporaryDirectory("pyrate-bench") {}
  // A path for a new file; any earlier file there (and its WAL files) is removed.
  std::string fresh(const std::string& name) const {
    const std::string path = file(name);
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
    return path;
  }
};

BenchDir& bench_dir() {
  static BenchDir dir;
  return dir;
}

SQLiteOptions options_at(const std::string& path, Durability durability) {
  SQLiteOptions options;
  options.db_path = path;
  options.bucket = "bench";
  options.durability = durability;
  return options;
}

// A file whose bucket holds kWindowSlots weight-1 slots, one per ms from kStart; made once,
// copied for each benchmark run that needs it.
const std::string& prefilled_file() {
  static const std::string path = [] {
    const std::string file = bench_dir().fresh("prefilled.db");
    SQLiteBucket bucket({Rate(kUnlimited, pyrate::Duration::Week)},
                        options_at(file, Durability::Off));
    for (std::int64_t i = 0; i < kWindowSlots; ++i) {
      if (!bucket.put(RateItem{"prefill", kStart + i, 1})) std::abort();
    }
    return file;
  }();
  return path;
}

std::string copy_of_prefilled(const std::string& name) {
  const std::string path = bench_dir().fresh(name);
  std::filesystem::copy_file(prefilled_file(), path);
  return path;
}

// Puts weight-1 items stamped `first`, `first + step`, ...; every one must be admitted.
void run_puts(benchmark::State& state, SQLiteBucket& bucket, Millis first, Millis step) {
  Millis timestamp = first;
  for (auto _ : state) {
    if (!bucket.put(RateItem{"bench", timestamp, 1})) {
      state.SkipWithError("a put was refused");
      break;
    }
    timestamp += step;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_AcquireEmptyWindow(benchmark::State& state) {
  // Each item comes 1001 ms after the previous one: the 1 s window never holds another slot.
  SQLiteBucket bucket({Rate(kUnlimited, 1000)},
                      options_at(bench_dir().fresh("empty.db"), Durability::Normal));
  run_puts(state, bucket, kStart, 1001);
}

void BM_AcquireExpiredSlots(benchmark::State& state) {
  // The file holds kWindowSlots slots, all older than the 1 s window.
  SQLiteBucket bucket({Rate(kUnlimited, 1000)},
                      options_at(copy_of_prefilled("expired.db"), Durability::Normal));
  run_puts(state, bucket, kStart + kWindowSlots + 1000, 1001);
}

void BM_AcquireFullWindow(benchmark::State& state) {
  // The week-long window holds the kWindowSlots prefilled slots (and the ones put here).
  SQLiteBucket bucket({Rate(kUnlimited, pyrate::Duration::Week)},
                      options_at(copy_of_prefilled("window.db"), Durability::Normal));
  run_puts(state, bucket, kStart + kWindowSlots, 1);
}

void BM_AcquireRefused(benchmark::State& state) {
  // The same window, with a limit its prefilled slots already reach: every admit is refused
  // and computes its wait from the oldest slot of the window, 100,000 slots back.
  SQLiteBucket bucket({Rate(kWindowSlots, pyrate::Duration::Week)},
                      options_at(copy_of_prefilled("refused.db"), Durability::Normal));
  const RateItem item{"bench", kStart + kWindowSlots, 1};
  for (auto _ : state) {
    const pyrate::Decision decision = bucket.admit(item);
    if (decision.admitted || decision.retry_after <= 0) {
      state.SkipWithError("an admit was not refused with a wait");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Put(benchmark::State& state, Durability durability) {
  SQLiteBucket bucket({Rate(kUnlimited, pyrate::Duration::Week)},
                      options_at(bench_dir().fresh("put.db"), durability));
  run_puts(state, bucket, kStart, 1);
}

void BM_Baseline(benchmark::State& state, Durability durability) {
  SQLite::Database db(bench_dir().fresh("baseline.db"),
                      SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE, 5000);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(pyrate::synchronous_pragma(durability));
  db.exec(
      "CREATE TABLE log (bucket TEXT NOT NULL, name TEXT NOT NULL, timestamp INTEGER NOT NULL);"
      "CREATE INDEX log_by_bucket_time ON log (bucket, timestamp);");
  SQLite::Statement begin(db, "BEGIN IMMEDIATE");
  SQLite::Statement newest(
      db, "SELECT timestamp FROM log WHERE bucket = ?1 ORDER BY timestamp DESC LIMIT 1");
  SQLite::Statement insert(db, "INSERT INTO log (bucket, name, timestamp) VALUES (?1, ?2, ?3)");
  SQLite::Statement commit(db, "COMMIT");
  const std::string bucket = "bench";
  newest.bind(1, bucket);
  insert.bind(1, bucket);
  Millis timestamp = kStart;
  for (auto _ : state) {
    begin.exec();
    begin.reset();
    Millis last = 0;
    if (newest.executeStep()) last = newest.getColumn(0).getInt64();
    newest.reset();
    insert.bind(2, "bench");
    insert.bind(3, std::max(timestamp++, last));
    insert.exec();
    insert.reset();
    commit.exec();
    commit.reset();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_FileSize(benchmark::State& state) {
  // 1,000,000 admissions, one every 2 ms of a 1000-per-second rate, leaked every 10,000
  // admissions (20 s of the simulated clock) as a Leaker would. At Durability::Off, which
  // writes the same pages as Normal without the checkpoints' fsyncs: the sizes are the same.
  constexpr std::int64_t kAdmissions = 1'000'000;
  constexpr std::int64_t kLeakEvery = 10'000;
  const std::string path = bench_dir().fresh("size.db");
  for (auto _ : state) {
    SQLiteBucket bucket({Rate(1000, 1000)}, options_at(path, Durability::Off));
    Millis timestamp = kStart;
    for (std::int64_t i = 1; i <= kAdmissions; ++i) {
      if (!bucket.put(RateItem{"worker-7", timestamp, 1})) {
        state.SkipWithError("a put was refused");
        return;
      }
      timestamp += 2;
      if (i % kLeakEvery == 0) bucket.leak(timestamp);
    }
    state.counters["db_bytes"] = static_cast<double>(std::filesystem::file_size(path));
    state.counters["wal_bytes"] = static_cast<double>(std::filesystem::file_size(path + "-wal"));
    state.counters["slots_held"] = static_cast<double>(bucket.count());
    state.counters["admissions/s"] =
        benchmark::Counter(static_cast<double>(kAdmissions), benchmark::Counter::kIsRate);
  }
}

// The console table, and each run's real and CPU time per iteration kept for the summary.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  SummaryReporter() : ConsoleReporter(::isatty(STDOUT_FILENO) ? OO_Defaults : OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.iterations > 0 && !run.error_occurred) {
        const auto iterations = static_cast<double>(run.iterations);
        times_[run.run_name.function_name] = {run.real_accumulated_time * 1e9 / iterations,
                                              run.cpu_accumulated_time * 1e9 / iterations};
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  // Ratios of real time, then of CPU time (which a loaded machine disturbs less).
  void PrintSummary() const {
    std::printf("\nSummary (real time; CPU time in brackets)\n");
    ratio("acquire 100k in window / empty window", "acquire/full_window_100k",
          "acquire/empty_window", "<= 1.25");
    ratio("acquire 100k expired / empty window", "acquire/expired_100k", "acquire/empty_window",
          "");
    ratio("refused / admitted, 100k in window", "acquire/refused_100k", "acquire/full_window_100k",
          "<= 1.0");
    for (const char* level : {"Off", "Normal", "Full"}) {
      const std::string put = std::string("put/") + level;
      const std::string baseline = std::string("baseline/") + level;
      throughput(put, baseline, std::string(level) == "Normal" ? ">= 90%" : "");
    }
  }

 private:
  struct Times {
    double real_ns;
    double cpu_ns;
  };

  std::optional<Times> find(const std::string& name) const {
    const auto found = times_.find(name);
    if (found == times_.end()) return std::nullopt;
    return found->second;
  }
  void ratio(const char* what, const std::string& a, const std::string& b, const char* goal) const {
    const auto x = find(a);
    const auto y = find(b);
    if (!x || !y) return;
    std::printf("  %-40s %6.2f x [%.2f x]  (%.1f us / %.1f us)%s%s\n", what,
                x->real_ns / y->real_ns, x->cpu_ns / y->cpu_ns, x->real_ns / 1000,
                y->real_ns / 1000, *goal ? "  goal " : "", goal);
  }
  void throughput(const std::string& ours, const std::string& baseline, const char* goal) const {
    const auto x = find(ours);
    const auto y = find(baseline);
    if (!x || !y) return;
    std::printf("  %-40s %6.1f %% [%.1f %%]  (%.0f puts/s vs %.0f tx/s)%s%s\n",
                (ours + " vs " + baseline).c_str(), 100 * y->real_ns / x->real_ns,
                100 * y->cpu_ns / x->cpu_ns, 1e9 / x->real_ns, 1e9 / y->real_ns,
                *goal ? "  goal " : "", goal);
  }

  std::map<std::string, Times> times_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::RegisterBenchmark("acquire/empty_window", BM_AcquireEmptyWindow)->UseRealTime();
  benchmark::RegisterBenchmark("acquire/expired_100k", BM_AcquireExpiredSlots)->UseRealTime();
  benchmark::RegisterBenchmark("acquire/full_window_100k", BM_AcquireFullWindow)->UseRealTime();
  benchmark::RegisterBenchmark("acquire/refused_100k", BM_AcquireRefused)->UseRealTime();
  for (const auto& [name, durability] :
       {std::pair{"Off", Durability::Off}, std::pair{"Normal", Durability::Normal},
        std::pair{"Full", Durability::Full}}) {
    benchmark::RegisterBenchmark((std::string("put/") + name).c_str(), BM_Put, durability)
        ->UseRealTime();
    benchmark::RegisterBenchmark((std::string("baseline/") + name).c_str(), BM_Baseline, durability)
        ->UseRealTime();
  }
  benchmark::RegisterBenchmark("file_size/1M_admissions_leaking", BM_FileSize)
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kSecond);

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintSummary();
  benchmark::Shutdown();
  return 0;
}
