#include "bucket_usage.hpp"

#include <algorithm>
#include <mutex>

#include "core/millis_arithmetic.hpp"

namespace pyrate::cli {
namespace {

// Milliseconds from `now` until a slot stamped `timestamp` leaves a window of `interval`: a
// slot counts while its timestamp is at or after now - interval. Saturated: a file may hold any
// timestamps and rates.
Millis until_expiry(Millis timestamp, Millis interval, Millis now) {
  const Millis since = core::saturating_sub(timestamp, now);
  return std::max<Millis>(0, core::saturating_add(core::saturating_add(since, interval), 1));
}

// The rate of `usage` that uses the largest share of its limit; nullptr when it has none.
const RateUsage* fullest_rate(const BucketUsage& usage) {
  __extension__ using Wide = __int128;
  const RateUsage* fullest = nullptr;
  for (const RateUsage& rate : usage.rates) {
    if (fullest == nullptr ||
        Wide{rate.used} * fullest->rate.limit > Wide{fullest->used} * rate.rate.limit) {
      fullest = &rate;
    }
  }
  return fullest;
}

}  // namespace

BucketUsage usage_at(const SurveyedBucket& bucket, Millis now) {
  BucketUsage usage;
  usage.name = bucket.stored.name;
  usage.held = bucket.held;
  for (std::size_t i = 0; i < bucket.stored.rates.size(); ++i) {
    const Rate& rate = bucket.stored.rates[i];
    const SlotTable::Window& window = bucket.windows[i];
    RateUsage rate_usage{rate, window.used, std::max<std::int64_t>(0, rate.limit - window.used),
                         std::nullopt};
    if (window.oldest) rate_usage.next_free_ms = until_expiry(*window.oldest, rate.interval, now);
    if (window.limit_th_newest) {
      usage.wait_ms =
          std::max(usage.wait_ms, until_expiry(*window.limit_th_newest, rate.interval, now));
    }
    usage.rates.push_back(rate_usage);
  }
  return usage;
}

BucketUsage measure_bucket(AbstractBucket& bucket, const std::string& name,
                           const CountSince& count_since) {
  std::unique_lock<LimiterLock> guard;
  if (LimiterLock* lock = bucket.limiter_lock()) guard = std::unique_lock(*lock);

  BucketUsage usage;
  usage.name = name;
  usage.held = bucket.count();
  const Millis now = bucket.now();
  for (const Rate& rate : bucket.rates()) {
    RateUsage rate_usage{rate, count_since(now - rate.interval), 0, std::nullopt};
    rate_usage.remaining = std::max<std::int64_t>(0, rate.limit - rate_usage.used);
    if (rate_usage.used > 0) {
      if (const auto oldest = bucket.peek(rate_usage.used - 1)) {
        rate_usage.next_free_ms = until_expiry(oldest->timestamp, rate.interval, now);
      }
    }
    if (rate_usage.used >= rate.limit) {
      if (const auto blocking = bucket.peek(rate.limit - 1)) {
        usage.wait_ms =
            std::max(usage.wait_ms, until_expiry(blocking->timestamp, rate.interval, now));
      }
    }
    usage.rates.push_back(rate_usage);
  }
  return usage;
}

bool fuller(const BucketUsage& a, const BucketUsage& b) {
  __extension__ using Wide = __int128;
  const RateUsage* fullest_a = fullest_rate(a);
  const RateUsage* fullest_b = fullest_rate(b);
  if (fullest_a == nullptr || fullest_b == nullptr)
    return fullest_b == nullptr && fullest_a != nullptr;
  return Wide{fullest_a->used} * fullest_b->rate.limit >
         Wide{fullest_b->used} * fullest_a->rate.limit;
}

}  // namespace pyrate::cli
