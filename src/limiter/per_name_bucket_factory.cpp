#include "pyrate/per_name_bucket_factory.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>

#include "core/rate_list.hpp"
#include "core/sliding_window.hpp"
#include "pyrate/in_memory_bucket.hpp"
#include "sync/mutex.hpp"

namespace pyrate {
namespace {

// Hashes and compares std::string keys with std::string_view ones, so lookups copy no name.
struct NameHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view name) const noexcept {
    return std::hash<std::string_view>{}(name);
  }
};

// A bucket held in memory, with the newest stamp wrap_item gave it.
struct Resident {
  std::shared_ptr<AbstractBucket> bucket;
  Millis newest_stamp;
};

// The names of one shard and their buckets, behind the shard's lock. A cache line of its own,
// so that threads on different shards do not take the line of each other's lock.
struct alignas(64) Shard {
  Mutex mutex;
  std::unordered_map<std::string, Resident, NameHash, std::equal_to<>> buckets;
};

}  // namespace

// The residents, spread over shards by the hash of their name.
class PerNameBucketFactory::Shards {
 public:
  // `start_sweeping` runs once, after the first bucket is kept.
  Shards(Maker make, BulkLeak bulk_leak, std::function<void()> start_sweeping)
      : make_(std::move(make)),
        bulk_leak_(std::move(bulk_leak)),
        start_sweeping_(std::move(start_sweeping)) {}

  // The resident of `name`, made first if there is none.
  std::shared_ptr<AbstractBucket> find_or_make(std::string_view name) {
    for (;;) {
      {
        Shard& shard = shard_of(name);
        std::lock_guard lock(shard.mutex);
        throw_if_closed();
        const auto found = shard.buckets.find(name);
        if (found != shard.buckets.end()) return found->second.bucket;
      }
      make_resident(name);
    }
  }

  // route(): an item stamped by its bucket's clock, which becomes the bucket's newest stamp,
  // and the bucket.
  std::pair<RateItem, std::shared_ptr<AbstractBucket>> stamp(std::string_view name,
                                                             std::int64_t weight) {
    for (;;) {
      {
        Shard& shard = shard_of(name);
        std::lock_guard lock(shard.mutex);
        throw_if_closed();
        const auto found = shard.buckets.find(name);
        if (found != shard.buckets.end()) {
          Resident& resident = found->second;
          RateItem item{std::string(name), resident.bucket->now(), weight};
          // Only a bulk leak judges idleness by it. Written only when it moves, so that
          // threads acquiring one name mostly read it.
          if (bulk_leak_ && item.timestamp > resident.newest_stamp) {
            resident.newest_stamp = item.timestamp;
          }
          return {std::move(item), resident.bucket};
        }
      }
      make_resident(name);
    }
  }

  std::size_t resident() const { return resident_.load(std::memory_order_relaxed); }

  std::vector<std::shared_ptr<AbstractBucket>> buckets() {
    std::vector<std::shared_ptr<AbstractBucket>> all;
    for (Shard& shard : shards_) {
      std::lock_guard lock(shard.mutex);
      for (const auto& [name, resident] : shard.buckets) all.push_back(resident.bucket);
    }
    return all;
  }

  bool drop(const AbstractBucket& bucket) {
    for (Shard& shard : shards_) {
      std::lock_guard lock(shard.mutex);
      const auto found =
          std::find_if(shard.buckets.begin(), shard.buckets.end(),
                       [&](const auto& entry) { return entry.second.bucket.get() == &bucket; });
      if (found == shard.buckets.end()) continue;
      shard.buckets.erase(found);
      resident_.fetch_sub(1, std::memory_order_relaxed);
      return true;
    }
    return false;
  }

  // Leaks the residents (or the whole store), then drops every resident that is idle and that
  // nobody but the shard holds.
  void sweep() {
    if (bulk_leak_) bulk_leak_();
    for (Shard& shard : shards_) {
      std::vector<std::shared_ptr<AbstractBucket>> to_leak;
      if (!bulk_leak_) {
        std::lock_guard lock(shard.mutex);
        for (const auto& [name, resident] : shard.buckets) to_leak.push_back(resident.bucket);
      }
      for (const auto& bucket : to_leak) bucket->leak(bucket->now());
      to_leak.clear();
      std::lock_guard lock(shard.mutex);
      std::erase_if(shard.buckets, [&](const auto& entry) {
        const Resident& resident = entry.second;
        // Held only here: no acquire has it, and one that starts must take this lock first.
        if (resident.bucket.use_count() != 1 || !idle(resident)) return false;
        resident_.fetch_sub(1, std::memory_order_relaxed);
        return true;
      });
    }
  }

  // Closes and forgets every resident; later lookups throw.
  void close() {
    for (Shard& shard : shards_) {
      std::unordered_map<std::string, Resident, NameHash, std::equal_to<>> closing;
      {
        std::lock_guard lock(shard.mutex);
        closed_.store(true, std::memory_order_relaxed);
        closing.swap(shard.buckets);
      }
      for (auto& [name, resident] : closing) resident.bucket->close();
      resident_.fetch_sub(closing.size(), std::memory_order_relaxed);
    }
  }

 private:
  static constexpr std::size_t kShards = 64;

  // Makes the bucket of `name` outside every lock and keeps it, unless another thread kept
  // one meanwhile.
  void make_resident(std::string_view name) {
    std::shared_ptr<AbstractBucket> made = make_(name);
    if (!made) throw std::logic_error("PerNameBucketFactory: make returned no bucket");
    const Millis made_at = made->now();
    {
      Shard& shard = shard_of(name);
      std::lock_guard lock(shard.mutex);
      throw_if_closed();
      if (!shard.buckets.try_emplace(std::string(name), Resident{made, made_at}).second) {
        made->close();
        return;
      }
      resident_.fetch_add(1, std::memory_order_relaxed);
    }
    if (!sweeping_.exchange(true, std::memory_order_acq_rel)) start_sweeping_();
  }

  Shard& shard_of(std::string_view name) { return shards_[NameHash{}(name) % kShards]; }

  void throw_if_closed() const {
    if (closed_.load(std::memory_order_relaxed))
      throw std::logic_error("PerNameBucketFactory: the factory is closed");
  }

  // No slot inside the widest interval: with a bulk leak, judged by the newest stamp given;
  // otherwise the bucket's own leak left it empty.
  bool idle(const Resident& resident) const {
    if (!bulk_leak_) return resident.bucket->count() == 0;
    const Millis widest = resident.bucket->rates().back().interval;
    return resident.newest_stamp < core::window_start(resident.bucket->now(), widest);
  }

  const Maker make_;
  const BulkLeak bulk_leak_;
  const std::function<void()> start_sweeping_;
  std::atomic<bool> sweeping_{false};
  std::array<Shard, kShards> shards_;
  std::atomic<std::size_t> resident_{0};
  std::atomic<bool> closed_{false};  // set under every shard's lock in turn, read under one
};

PerNameBucketFactory::PerNameBucketFactory(Maker make, BulkLeak bulk_leak) {
  if (!make) throw std::invalid_argument("PerNameBucketFactory: make must not be empty");
  shards_ = std::make_unique<Shards>(std::move(make), std::move(bulk_leak),
                                     [this] { schedule_sweep([this] { shards_->sweep(); }); });
}

PerNameBucketFactory::~PerNameBucketFactory() { stop_leaking(); }

RateItem PerNameBucketFactory::wrap_item(std::string_view name, std::int64_t weight) {
  return shards_->stamp(name, weight).first;
}

std::pair<RateItem, std::shared_ptr<AbstractBucket>> PerNameBucketFactory::route(
    std::string_view name, std::int64_t weight) {
  return shards_->stamp(name, weight);
}

std::shared_ptr<AbstractBucket> PerNameBucketFactory::get(const RateItem& item) {
  return shards_->find_or_make(item.name);
}

std::size_t PerNameBucketFactory::resident() const { return shards_->resident(); }

std::vector<std::shared_ptr<AbstractBucket>> PerNameBucketFactory::get_buckets() const {
  return shards_->buckets();
}

bool PerNameBucketFactory::dispose(const AbstractBucket& bucket) { return shards_->drop(bucket); }

void PerNameBucketFactory::close() {
  stop_leaking();
  shards_->close();
}

std::shared_ptr<PerNameBucketFactory> per_name_inmemory_factory(std::vector<Rate> rates) {
  return std::make_shared<PerNameBucketFactory>(
      [rates = core::sorted_rate_list(std::move(rates))](std::string_view) {
        return std::make_shared<InMemoryBucket>(rates);
      });
}

}  // namespace pyrate
