// The Limiter: acquire capacity from buckets, waiting when asked to.
#pragma once

#include <atomic>
#include <chrono>
#include <concepts>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pyrate/acquire_listener.hpp"
#include "pyrate/bucket.hpp"
#include "pyrate/bucket_factory.hpp"
#include "pyrate/decision.hpp"
#include "pyrate/errors.hpp"
#include "pyrate/export.hpp"

namespace pyrate {

namespace limiter {
class AcquireCounters;
}

struct PYRATE_EXPORT AcquireOptions {
  // Slots to take; 0 is admitted at once. Default 1.
  std::int64_t weight = 1;
  // Wait for room when the bucket is full. Default true.
  bool blocking = true;
  // With blocking: the longest to wait, locks included; none (the default) waits for as long
  // as it takes.
  std::optional<std::chrono::milliseconds> timeout = std::nullopt;
};

// Admits items into the buckets of a BucketFactory. Thread-safe, with no lock of its own:
// acquires on different buckets, and on one bucket, run in parallel, each bucket deciding
// atomically (AbstractBucket::admit); a bucket shared with other processes is locked through
// its limiter_lock() around each check.
class PYRATE_EXPORT Limiter {
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

  // Takes `options.weight` slots for an item named `name` from the bucket the factory picks,
  // and returns the decision of the last check: admitted, or refused. Not blocking: refused at
  // once when there is no room. Blocking: sleeps until there is room, the decision's
  // retry_after plus buffer_ms at a time (capped at the deadline), and is refused at once
  // when the wait would end past the timeout or when the weight can never fit (retry_after
  // -1). The timeout also bounds the wait for the bucket's limiter_lock(); a refusal for that
  // lock carries no rate and retry_after 0. Weight 0 is admitted at once, with no check.
  // Throws std::invalid_argument for a negative weight, a negative timeout, or a timeout
  // without blocking; whatever the factory or bucket throws (StorageError, std::logic_error
  // when closed); std::logic_error when the factory's get() returns no bucket.
  Decision acquire(std::string_view name = "pyrate", const AcquireOptions& options = {});

  // acquire(name, options).admitted.
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

  // Calls `listener` on every acquire from now on (see AcquireListener); nullptr removes it.
  // The Limiter shares ownership of it; an acquire under way may still call the listener it
  // started with. Thread-safe.
  void set_listener(std::shared_ptr<AcquireListener> listener);

  // What the acquires did since construction. Each counter is exact; the five are read one
  // after another, not as one snapshot. Thread-safe.
  LimiterStats stats() const;

  // Stops background leaking and closes the buckets. Idempotent.
  void close();

 private:
  void acquire_or_throw(std::string_view name, std::int64_t weight);
  // The decision for a weight of 0: admitted, with no check.
  static Decision admitted_without_check();
  // factory_->wrap_item(name, weight); reports what it throws (report_error) and rethrows.
  RateItem stamp(std::string_view name, std::int64_t weight);
  // factory_->route(name, weight), never with a null bucket (std::logic_error); reports what
  // it throws and rethrows.
  std::pair<RateItem, std::shared_ptr<AbstractBucket>> route(std::string_view name,
                                                             std::int64_t weight);
  // acquire_from(), then the stats and the listener for its decision, or for its error (which
  // it rethrows).
  Decision acquire_item(AbstractBucket& bucket, RateItem item, std::string_view name,
                        const AcquireOptions& options);
  // Counts the error being handled and passes it to the listener, with `item`.
  void report_error(const RateItem& item) noexcept;
  Decision acquire_from(AbstractBucket& bucket, RateItem& item, std::string_view name,
                        const AcquireOptions& options);
  // Calls `event` on the listener, reporting what it throws once per listener.
  template <class Event>
  void notify(AcquireListener& listener, Event event) noexcept;

  std::shared_ptr<BucketFactory> factory_;
  AbstractBucket* sole_ = nullptr;  // factory_->sole_bucket(), asked once
  Millis buffer_ms_;
  std::unique_ptr<limiter::AcquireCounters> counters_;
  std::atomic<bool> has_listener_{false};
  std::atomic<std::shared_ptr<AcquireListener>> listener_;
  std::atomic<bool> listener_failed_{false};
};

// A Limiter over a new InMemoryBucket of `rate_per_duration` per `duration` ms.
PYRATE_EXPORT std::unique_ptr<Limiter> create_inmemory_limiter(std::int64_t rate_per_duration = 3,
                                                               Millis duration = 1000,
                                                               Millis buffer_ms = 50);

// A Limiter over a SQLiteBucket of `rate_per_duration` per `duration` ms in the file
// `db_path` ("" = a new temporary file), under the key `bucket`.
PYRATE_EXPORT std::unique_ptr<Limiter> create_sqlite_limiter(
    std::int64_t rate_per_duration = 3, Millis duration = 1000, std::string db_path = {},
    std::string bucket = "rate_bucket", Millis buffer_ms = 50, bool multiprocess = false);

}  // namespace pyrate
