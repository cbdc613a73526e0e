// The counters behind Limiter::stats().
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "pyrate/acquire_listener.hpp"

namespace pyrate::limiter {

// Counts admissions, refusals, waits and errors without a read-modify-write on the common
// path: each live thread owns a shard of its own (its index is handed back when it exits), and
// adds to it with a plain load and store. Threads beyond the owned shards share one more,
// written with fetch_add. Reading sums the shards with relaxed loads: each counter is exact,
// the five are not one snapshot. Thread-safe.
class AcquireCounters {
 public:
  void admitted() { add(&Shard::admitted, 1); }
  void refused() { add(&Shard::refused, 1); }
  void error() { add(&Shard::errors, 1); }
  void waited(Millis ms) {
    add(&Shard::waits, 1);
    add(&Shard::waited_ms, ms);
  }

  LimiterStats sum() const;

  // Shards owned by one thread each; more threads than this at once share the last one.
  static constexpr std::size_t kOwnedShards = 64;

 private:
  struct alignas(64) Shard {
    std::atomic<std::int64_t> admitted{0};
    std::atomic<std::int64_t> refused{0};
    std::atomic<std::int64_t> waits{0};
    std::atomic<std::int64_t> errors{0};
    std::atomic<Millis> waited_ms{0};
  };

  // The calling thread's shard index, kOwnedShards when it owns none.
  static std::size_t thread_shard();

  void add(std::atomic<std::int64_t> Shard::*counter, std::int64_t amount) {
    const std::size_t index = thread_shard();
    std::atomic<std::int64_t>& value = shards_[index].*counter;
    if (index < kOwnedShards) {
      value.store(value.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
    } else {
      value.fetch_add(amount, std::memory_order_relaxed);
    }
  }

  std::array<Shard, kOwnedShards + 1> shards_;
};

}  // namespace pyrate::limiter
