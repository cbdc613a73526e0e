// How full a bucket is: what `pyrate status` shows.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pyrate/bucket.hpp"
#include "sqlite/recorded_buckets.hpp"

namespace pyrate::cli {

struct RateUsage {
  Rate rate;
  std::int64_t used = 0;               // slots in the window that ends now
  std::int64_t remaining = 0;          // rate.limit - used, never below 0
  std::optional<Millis> next_free_ms;  // until the oldest of them leaves the window; none if 0
};

struct BucketUsage {
  std::string name;
  std::int64_t held = 0;  // slots stored, expired ones not yet leaked included
  Millis wait_ms = 0;     // until an acquire of weight 1 could be admitted; 0 when it is now
  std::vector<RateUsage> rates;
};

// The use of a bucket surveyed at `now` (the survey's own now).
BucketUsage usage_at(const SurveyedBucket& bucket, Millis now);

// How much of its tightest limit `usage` uses now, for ordering buckets by fullness: the
// largest used / limit over its rates, compared exactly. True when `a` is fuller than `b`.
bool fuller(const BucketUsage& a, const BucketUsage& b);

// The slots of a bucket stamped at or after a timestamp (SQLiteBucket::count_since,
// RedisBucket::count_since).
using CountSince = std::function<std::int64_t(Millis timestamp)>;

// Measures `bucket`, stored as `name`, at its clock's now, holding its interprocess lock (if it
// has one) so that the numbers agree. Throws what the bucket throws.
BucketUsage measure_bucket(AbstractBucket& bucket, const std::string& name,
                           const CountSince& count_since);

}  // namespace pyrate::cli
