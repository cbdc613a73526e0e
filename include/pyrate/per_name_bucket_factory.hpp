// One bucket per item name: a limit for each user, API key or client address.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "pyrate/bucket_factory.hpp"
#include "pyrate/export.hpp"
#include "pyrate/rate.hpp"
#include "pyrate/sqlite_bucket.hpp"

namespace pyrate {

// Routes each item to the bucket of its name, made by `make(name)` on first use, so that every
// name has a limit of its own:
//
//   Limiter limiter(per_name_sqlite_factory({Rate(10, Duration::Second)}, options));
//   limiter.try_acquire(api_key);
//
// Memory follows the names in use, not every name ever seen: a bucket with no slot inside its
// widest interval may be dropped from memory (never while an acquire uses it, nor while any
// caller holds it) and is made again by `make(name)` on its next use; persistent buckets are
// made from the slots their store still holds, so nothing is forgotten. Dropping happens on
// the factory's leaker thread, every leak_interval(): it leaks the buckets held in memory (or,
// given a bulk leak, the whole store at once) and drops the idle ones. The thread starts with
// the first bucket made, so a set_leak_interval() before the first acquire applies from the
// first sweep.
//
// Thread-safe: names are spread over shards with a lock each, so acquires on different names
// rarely wait for each other, and a bucket is made outside every lock.
class PYRATE_EXPORT PerNameBucketFactory final : public BucketFactory {
 public:
  using Maker = std::function<std::shared_ptr<AbstractBucket>(std::string_view name)>;
  // Removes the expired slots of every bucket `make` ever made, held in memory or not, in as
  // few steps as the store allows, judged by the store's own clock. Returns the slots removed.
  using BulkLeak = std::function<std::int64_t()>;

  // `make` must return a new open bucket for `name` (never null), and be callable from several
  // threads at once. Without `bulk_leak`, the leaker leaks each bucket held in memory and drops
  // one when its leak leaves it empty. With it, the leaker calls it instead, and drops a bucket
  // once the newest stamp this factory gave it is older than its widest interval.
  // Throws std::invalid_argument for an empty `make`.
  explicit PerNameBucketFactory(Maker make, BulkLeak bulk_leak = nullptr);
  // Stops leaking; the buckets are closed only by close().
  ~PerNameBucketFactory() override;

  // An item of `name` stamped with the now() of its bucket, made if needed.
  // Throws what `make` throws; std::logic_error after close() or when `make` returns null.
  RateItem wrap_item(std::string_view name, std::int64_t weight = 1) override;
  // The bucket of `item.name`, made if needed. Throws as wrap_item does.
  std::shared_ptr<AbstractBucket> get(const RateItem& item) override;
  // wrap_item and get with one lookup.
  std::pair<RateItem, std::shared_ptr<AbstractBucket>> route(std::string_view name,
                                                             std::int64_t weight) override;

  // The buckets held in memory now.
  std::size_t resident() const;
  // The buckets held in memory.
  std::vector<std::shared_ptr<AbstractBucket>> get_buckets() const override;
  // Drops `bucket` from memory (it stays open for whoever holds it); true if it was held.
  bool dispose(const AbstractBucket& bucket) override;
  // Stops leaking, closes every bucket held in memory and forgets them; later calls of
  // wrap_item and get throw std::logic_error. Idempotent.
  void close() override;

 private:
  class Shards;
  void sweep();

  std::unique_ptr<Shards> shards_;
};

// A factory whose every name gets its own InMemoryBucket of `rates`.
// Throws std::invalid_argument for an invalid rate list.
PYRATE_EXPORT std::shared_ptr<PerNameBucketFactory> per_name_inmemory_factory(
    std::vector<Rate> rates);

// A factory whose every name gets its own SQLiteBucket of `rates` in the file
// `options.db_path`, stored under the key `options.bucket + "/" + name` (so `pyrate status`
// lists it and `pyrate acquire --bucket PREFIX/NAME` shares its limit). Every name of the file
// shares one SQLite connection, one set of prepared statements and, with
// `options.multiprocess`, one inter-process lock; leaking takes one statement for all names.
// Throws as the SQLiteBucket constructor does, at once, for the file.
PYRATE_EXPORT std::shared_ptr<PerNameBucketFactory> per_name_sqlite_factory(std::vector<Rate> rates,
                                                                            SQLiteOptions options);

}  // namespace pyrate
