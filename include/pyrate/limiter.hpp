// The Limiter: acquire capacity from buckets, waiting when asked to.
#pragma once

#include <chrono>
#include <concepts>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pyrate/bucket.hpp"
#include "pyrate/bucket_factory.hpp"
#include "pyrate/errors.hpp"
#include "pyrate/mutex.hpp"

namespace pyrate {

struct AcquireOptions {
  // Slots to take; 0 is admitted at once. Default 1.
  std::int64_t weight = 1;
  // Wait for room when the bucket is full. Default true.
  bool blocking = true;
  // With blocking: the longest to wait, locks included; none (the default) waits for as long
  // as it takes.
  std::optional<std::chrono::milliseconds> timeout = std::nullopt;
};

// Admits items into the buckets of a BucketFactory. Thread-safe: callers are served one at a
// time, and a blocking caller lets others in while it sleeps.
class Limiter {
 public:
  // Throws std::invalid_argument for a null factory or bucket, a negative `buffer_ms`, or an
  // invalid rate list.
  explicit Limiter(std::shared_ptr<BucketFactory> factory, Millis buffer_ms = 50);
  // Wraps `bucket` in a SingleBucketFactory that leaks it in the background.
  explicit Limiter(std::shared_ptr<AbstractBucket> bucket, Millis buffer_ms = 50);
  // A new InMemoryBucket with `rate`, leaked in the background.
  explicit Limiter(const Rate& rate, Millis buffer_ms = 50);
  // A new InMemoryBucket with `rates`, leaked in the background.
  explicit Limiter(std::vector<Rate> rates, Millis buffer_ms = 50);
  // close().
  ~Limiter();

  Limiter(const Limiter&) = delete;
  Limiter& operator=(const Limiter&) = delete;

  // Takes `options.weight` slots for an item named `name` from the bucket the factory picks.
  // Returns true when admitted. Not blocking: false at once when there is no room. Blocking:
  // sleeps until there is room, the bucket's waiting() plus buffer_ms at a time, and returns
  // false at once when the wait would end past the timeout, or when the weight can never fit.
  // The timeout also bounds the wait for the limiter's and the bucket's locks.
  // Throws std::invalid_argument for a negative weight, a negative timeout, or a timeout
  // without blocking; whatever the bucket throws (StorageError, std::logic_error when closed);
  // std::logic_error when the factory's get() returns no bucket.
  bool try_acquire(std::string_view name = "pyrate", const AcquireOptions& options = {});

  // Blocking try_acquire of `weight` slots. A template so that try_acquire(name, {}) picks the
  // overload above.
  template <std::integral W>
  bool try_acquire(std::string_view name, W weight) {
    AcquireOptions options;
    options.weight = static_cast<std::int64_t>(weight);
    return try_acquire(name, options);
  }

  // A callable with fn's signature that acquires `weight` slots named `name` (blocking, no
  // timeout) before each call of fn. When the weight can never fit it throws BucketFullError
  // and does not call fn. The callable refers to this Limiter, which must outlive it.
  template <class F>
  auto wrap(F fn, std::string name = "ratelimiter", std::int64_t weight = 1) {
    return [this, fn = std::move(fn), name = std::move(name),
            weight](auto&&... args) mutable -> decltype(auto) {
      acquire_or_throw(name, weight);
      return std::invoke(fn, std::forward<decltype(args)>(args)...);
    };
  }

  // The buckets the factory leaks.
  std::vector<std::shared_ptr<AbstractBucket>> buckets() const;
  // Stops leaking `bucket`; true if it was leaked. The bucket stays open.
  bool dispose(const AbstractBucket& bucket);
  BucketFactory& bucket_factory();

  // Stops background leaking and closes the buckets. Idempotent.
  void close();

 private:
  enum class Outcome { kAdmitted, kRefused, kNeverFits };
  Outcome acquire(std::string_view name, const AcquireOptions& options);
  void acquire_or_throw(std::string_view name, std::int64_t weight);

  std::shared_ptr<BucketFactory> factory_;
  Millis buffer_ms_;
  Mutex mutex_;
};

// A Limiter over a new InMemoryBucket of `rate_per_duration` per `duration` ms.
std::unique_ptr<Limiter> create_inmemory_limiter(std::int64_t rate_per_duration = 3,
                                                 Millis duration = 1000, Millis buffer_ms = 50);

// A Limiter over a SQLiteBucket of `rate_per_duration` per `duration` ms in the file
// `db_path` ("" = a new temporary file), under the key `bucket`.
std::unique_ptr<Limiter> create_sqlite_limiter(std::int64_t rate_per_duration = 3,
                                               Millis duration = 1000, std::string db_path = {},
                                               std::string bucket = "rate_bucket",
                                               Millis buffer_ms = 50, bool multiprocess = false);

}  // namespace pyrate
