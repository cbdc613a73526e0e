#include "limiter/acquire_counters.hpp"

#include <mutex>
#include <vector>

namespace pyrate::limiter {
namespace {

// The owned shard indices no live thread holds. An index is handed from a thread that exits to
// one that starts under this mutex, so the new owner sees every count the old one stored.
class ShardIndices {
 public:
  // Never destroyed: threads may still exit after static destruction began.
  static ShardIndices& instance() {
    static ShardIndices* const indices = new ShardIndices;
    return *indices;
  }
  std::size_t take() {
    std::lock_guard lock(mutex_);
    if (free_.empty()) return AcquireCounters::kOwnedShards;
    const std::size_t index = free_.back();
    free_.pop_back();
    return index;
  }
  void give_back(std::size_t index) {
    if (index == AcquireCounters::kOwnedShards) return;
    std::lock_guard lock(mutex_);
    free_.push_back(index);
  }

 private:
  ShardIndices() {
    for (std::size_t i = AcquireCounters::kOwnedShards; i > 0; --i) free_.push_back(i - 1);
  }
  std::mutex mutex_;
  std::vector<std::size_t> free_;
};

// A thread's hold on one index, returned when the thread exits.
class ThreadShard {
 public:
  ThreadShard() : index_(ShardIndices::instance().take()) {}
  ~ThreadShard() { ShardIndices::instance().give_back(index_); }
  ThreadShard(const ThreadShard&) = delete;
  ThreadShard& operator=(const ThreadShard&) = delete;
  std::size_t index() const { return index_; }

 private:
  std::size_t index_;
};

}  // namespace

std::size_t AcquireCounters::thread_shard() {
  thread_local const ThreadShard shard;
  return shard.index();
}

LimiterStats AcquireCounters::sum() const {
  LimiterStats stats;
  for (const Shard& shard : shards_) {
    stats.admitted += shard.admitted.load(std::memory_order_relaxed);
    stats.refused += shard.refused.load(std::memory_order_relaxed);
    stats.waits += shard.waits.load(std::memory_order_relaxed);
    stats.errors += shard.errors.load(std::memory_order_relaxed);
    stats.waited_ms += shard.waited_ms.load(std::memory_order_relaxed);
  }
  return stats;
}

}  // namespace pyrate::limiter
