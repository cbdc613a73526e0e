#include "bucket_usage.hpp"

#include <algorithm>
#include <mutex>

namespace pyrate::cli {
namespace {

// Milliseconds from `now` until a slot stamped `timestamp` leaves a window of `interval`: a
// slot counts while its timestamp is at or after now - interval.
Millis until_expiry(Millis timestamp, Millis interval, Millis now) {
  return std::max<Millis>(0, timestamp + interval + 1 - now);
}

}  // namespace

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

}  // namespace pyrate::cli
