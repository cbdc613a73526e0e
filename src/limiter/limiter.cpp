#include "pyrate/limiter.hpp"

#include <algorithm>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "core/shown_name.hpp"
#include "limiter/acquire_counters.hpp"
#include "limiter/acquire_options_check.hpp"
#include "pyrate/in_memory_bucket.hpp"
#include "pyrate/sqlite_bucket.hpp"

namespace pyrate {
namespace {

using SteadyClock = std::chrono::steady_clock;

// `ms` milliseconds after `from`; a time too far to represent means "as long as it takes".
SteadyClock::time_point after(SteadyClock::time_point from, Millis ms) {
  return steady_time_after(from, std::chrono::milliseconds(ms));
}

// Locks `lock`, giving up at `deadline` when there is one.
bool lock_until(std::unique_lock<LimiterLock>& lock,
                const std::optional<SteadyClock::time_point>& deadline) {
  if (!deadline) {
    lock.lock();
    return true;
  }
  return lock.try_lock_until(*deadline);
}

// A refusal that no bucket decided: the deadline passed while waiting for a lock.
Decision timed_out() { return Decision{}; }

}  // namespace

Limiter::Limiter(std::shared_ptr<BucketFactory> factory, Millis buffer_ms)
    : factory_(std::move(factory)),
      buffer_ms_(buffer_ms),
      counters_(std::make_unique<limiter::AcquireCounters>()) {
  if (!factory_) throw std::invalid_argument("Limiter: factory must not be null");
  sole_ = factory_->sole_bucket();
  if (buffer_ms_ < 0) {
    throw std::invalid_argument("Limiter: buffer_ms must not be negative, got " +
                                std::to_string(buffer_ms_));
  }
}

Limiter::Limiter(std::shared_ptr<AbstractBucket> bucket, Millis buffer_ms)
    : Limiter(std::make_shared<SingleBucketFactory>(std::move(bucket)), buffer_ms) {}

Limiter::Limiter(const Rate& rate, Millis buffer_ms)
    : Limiter(std::vector<Rate>{rate}, buffer_ms) {}

Limiter::Limiter(std::vector<Rate> rates, Millis buffer_ms)
    : Limiter(std::make_shared<InMemoryBucket>(std::move(rates)), buffer_ms) {}

Limiter::~Limiter() { close(); }

bool Limiter::try_acquire(std::string_view name, const AcquireOptions& options) {
  return acquire(name, options).admitted;
}

Decision Limiter::acquire(std::string_view name, const AcquireOptions& options) {
  limiter::check_acquire_options(options);
  if (options.weight == 0) return admitted_without_check();
  if (sole_ != nullptr) return acquire_item(*sole_, stamp(name, options.weight), name, options);
  auto [item, bucket] = route(name, options.weight);
  return acquire_item(*bucket, std::move(item), name, options);
}

Decision Limiter::admitted_without_check() {
  Decision nothing_to_take;
  nothing_to_take.admitted = true;
  return nothing_to_take;
}

RateItem Limiter::stamp(std::string_view name, std::int64_t weight) {
  try {
    return factory_->wrap_item(name, weight);
  } catch (...) {
    report_error(RateItem{std::string(name), 0, weight});
    throw;
  }
}

std::pair<RateItem, std::shared_ptr<AbstractBucket>> Limiter::route(std::string_view name,
                                                                    std::int64_t weight) {
  try {
    auto routed = factory_->route(name, weight);
    if (!routed.second) {
      throw std::logic_error("Limiter: the bucket factory routed an item to no bucket");
    }
    return routed;
  } catch (...) {
    report_error(RateItem{std::string(name), 0, weight});
    throw;
  }
}

Decision Limiter::acquire_item(AbstractBucket& bucket, RateItem item, std::string_view name,
                               const AcquireOptions& options) {
  try {
    Decision decision = acquire_from(bucket, item, name, options);
    if (decision.admitted) {
      counters_->admitted();
    } else {
      counters_->refused();
    }
    if (has_listener_.load(std::memory_order_acquire)) {
      if (const auto listener = listener_.load()) {
        if (decision.admitted) {
          notify(*listener, [&](AcquireListener& l) { l.on_admitted(item, decision); });
        } else {
          notify(*listener, [&](AcquireListener& l) { l.on_refused(item, decision); });
        }
      }
    }
    return decision;
  } catch (...) {
    report_error(item);
    throw;
  }
}

void Limiter::report_error(const RateItem& item) noexcept {
  counters_->error();
  if (!has_listener_.load(std::memory_order_acquire)) return;
  if (const auto listener = listener_.load()) {
    const std::exception_ptr error = std::current_exception();
    notify(*listener, [&](AcquireListener& l) { l.on_error(item, error); });
  }
}

Decision Limiter::acquire_from(AbstractBucket& bucket, RateItem& item, std::string_view name,
                               const AcquireOptions& options) {
  LimiterLock* const shared = bucket.limiter_lock();
  // One check and no lock: the decision is the answer.
  if (shared == nullptr && !options.blocking) return bucket.admit(item);

  std::optional<SteadyClock::time_point> deadline;
  if (options.timeout) deadline = after(SteadyClock::now(), options.timeout->count());

  std::unique_lock<LimiterLock> bucket_lock;
  if (shared != nullptr) {
    bucket_lock = std::unique_lock(*shared, std::defer_lock);
    if (!lock_until(bucket_lock, deadline)) return timed_out();
    item = factory_->wrap_item(name, options.weight);
  }

  while (true) {
    Decision decision = bucket.admit(item);
    if (decision.admitted || !options.blocking || decision.retry_after < 0) return decision;

    const auto now = SteadyClock::now();
    if (deadline && after(now, decision.retry_after) > *deadline) return decision;
    auto wake_at = after(after(now, decision.retry_after), buffer_ms_);
    if (deadline) wake_at = std::min(wake_at, *deadline);

    if (bucket_lock) bucket_lock.unlock();
    std::this_thread::sleep_until(wake_at);
    const Millis slept =
        std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - now).count();
    counters_->waited(slept);
    if (has_listener_.load(std::memory_order_acquire)) {
      if (const auto listener = listener_.load()) {
        notify(*listener, [&](AcquireListener& l) { l.on_waited(item, slept); });
      }
    }
    if (bucket_lock.mutex() != nullptr && !lock_until(bucket_lock, deadline)) return decision;
    item.timestamp = std::max(item.timestamp, bucket.now());
  }
}

template <class Event>
void Limiter::notify(AcquireListener& listener, Event event) noexcept {
  try {
    event(listener);
  } catch (const std::exception& error) {
    if (!listener_failed_.exchange(true)) {
      std::cerr << "pyrate: the acquire listener threw: " << error.what()
                << " (further errors from it are not reported)\n";
    }
  } catch (...) {
    if (!listener_failed_.exchange(true)) {
      std::cerr << "pyrate: the acquire listener threw a non-standard exception (further errors "
                   "from it are not reported)\n";
    }
  }
}

void Limiter::set_listener(std::shared_ptr<AcquireListener> listener) {
  const bool present = listener != nullptr;
  listener_.store(std::move(listener));
  listener_failed_.store(false);
  has_listener_.store(present, std::memory_order_release);
}

LimiterStats Limiter::stats() const { return counters_->sum(); }

void Limiter::acquire_or_throw(std::string_view name, std::int64_t weight) {
  AcquireOptions options;
  options.weight = weight;
  if (!acquire(name, options).admitted) {
    const auto quote = [](std::string_view kept) { return "'" + std::string(kept) + "'"; };
    throw BucketFullError("weight " + std::to_string(weight) + " of " +
                          core::shown_name(name, quote) + " can never fit the bucket's rates");
  }
}

std::vector<std::shared_ptr<AbstractBucket>> Limiter::buckets() const {
  return factory_->get_buckets();
}

bool Limiter::dispose(const AbstractBucket& bucket) { return factory_->dispose(bucket); }

BucketFactory& Limiter::bucket_factory() { return *factory_; }

void Limiter::close() { factory_->close(); }

std::unique_ptr<Limiter> create_inmemory_limiter(std::int64_t rate_per_duration, Millis duration,
                                                 Millis buffer_ms) {
  return std::make_unique<Limiter>(Rate(rate_per_duration, duration), buffer_ms);
}

std::unique_ptr<Limiter> create_sqlite_limiter(std::int64_t rate_per_duration, Millis duration,
                                               std::string db_path, std::string bucket,
                                               Millis buffer_ms, bool multiprocess) {
  SQLiteOptions options;
  options.db_path = std::move(db_path);
  options.bucket = std::move(bucket);
  options.multiprocess = multiprocess;
  auto sqlite_bucket = std::make_shared<SQLiteBucket>(
      std::vector<Rate>{Rate(rate_per_duration, duration)}, std::move(options));
  return std::make_unique<Limiter>(std::move(sqlite_bucket), buffer_ms);
}

}  // namespace pyrate
