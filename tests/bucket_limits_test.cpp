// Buckets at the limits of std::int64_t and Millis: rates, weights and timestamps near the
// bounds, and puts that would overflow the slot count. Every number a bucket reports stays
// exact or saturates; a count that cannot be held is refused with std::overflow_error and
// records nothing. Checked for an InMemoryBucket and a SQLiteBucket (the RedisBucket, whose
// scripts count in doubles, refuses such rates: see redis_bucket_test.cpp).
#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <memory>
#include <pyrate/pyrate.hpp>
#include <stdexcept>
#include <vector>

#include "support/fake_clock.hpp"

using pyrate::Decision;
using pyrate::InMemoryBucket;
using pyrate::Millis;
using pyrate::Rate;
using pyrate::RateItem;
using pyrate::SQLiteBucket;
using pyrate_test::FakeClock;

namespace {

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr Millis kMin = std::numeric_limits<Millis>::min();

// A bucket of type Bucket (in a new temporary file for SQLite) whose clock the test drives.
template <class Bucket>
std::shared_ptr<Bucket> make_bucket(std::vector<Rate> rates) {
  auto bucket = std::make_shared<Bucket>(std::move(rates));
  bucket->set_clock(std::make_shared<FakeClock>(0));
  return bucket;
}

RateItem item(Millis timestamp, std::int64_t weight = 1) {
  return RateItem{"item", timestamp, weight};
}

// The Decision's waits never wrap: retry_after is -1 or not negative, reset_after and
// remaining are not negative.
void check_unwrapped(const Decision& decision) {
  CHECK(decision.retry_after >= -1);
  CHECK(decision.reset_after >= 0);
  CHECK(decision.remaining >= 0);
}

}  // namespace

TEMPLATE_TEST_CASE("A rate of INT64_MAX slots per INT64_MAX ms admits, refuses and waits exactly",
                   "[limits]", InMemoryBucket, SQLiteBucket) {
  const auto bucket = make_bucket<TestType>({Rate(kMax, kMax)});
  const Decision admitted = bucket->admit(item(0, kMax));
  CHECK(admitted.admitted);
  CHECK(admitted.remaining == 0);
  CHECK(admitted.reset_after == kMax);  // 0 + kMax - 0 + 1, saturated
  CHECK(bucket->count() == kMax);
  for (int i = 0; i < 10; ++i) {  // repeated full-limit puts: each refused, nothing wraps
    const Decision refused = bucket->admit(item(i, kMax));
    CHECK_FALSE(refused.admitted);
    CHECK(refused.failing_rate == Rate(kMax, kMax));
    // Until the slots at 0 leave the window: 0 - i + kMax + 1, saturated at i = 0.
    CHECK(refused.retry_after == (i == 0 ? kMax : kMax - i + 1));
    check_unwrapped(refused);
  }
  CHECK(bucket->count() == kMax);
  CHECK(bucket->waiting(item(5)) == kMax - 4);
  CHECK(bucket->peek(kMax - 1)->timestamp == 0);
}

TEMPLATE_TEST_CASE(
    "Full-limit puts that would pass 2^63 - 1 slots throw overflow_error and record "
    "nothing",
    "[limits]", InMemoryBucket, SQLiteBucket) {
  const auto bucket = make_bucket<TestType>({Rate(kMax, 1)});
  REQUIRE(bucket->put(item(0, kMax)));
  // The window of 1 ms at 10 is empty, but the bucket cannot hold kMax more slots until the
  // old ones are leaked.
  for (int i = 0; i < 10; ++i)
    CHECK_THROWS_AS(bucket->put(item(10 + i, kMax)), std::overflow_error);
  CHECK(bucket->count() == kMax);
  CHECK(bucket->peek(0)->timestamp == 0);
  CHECK_FALSE(bucket->failing_rate().has_value());
  CHECK(bucket->leak(20) == kMax);
  for (Millis t = 20; t < 30; t += 2) {  // each full-limit put after a leak
    REQUIRE(bucket->put(item(t, kMax)));
    CHECK(bucket->count() == kMax);
    CHECK(bucket->leak(t + 2) == kMax);
  }
  CHECK(bucket->count() == 0);
}

TEMPLATE_TEST_CASE("Weights near INT64_MAX fit or never fit, without overflow", "[limits]",
                   InMemoryBucket, SQLiteBucket) {
  const auto bucket = make_bucket<TestType>({Rate(kMax - 1, 1000), Rate(kMax, 2000)});
  const Decision never = bucket->admit(item(0, kMax));
  CHECK_FALSE(never.admitted);
  CHECK(never.retry_after == -1);
  CHECK(bucket->waiting(item(0, kMax)) == -1);
  REQUIRE(bucket->put(item(0, kMax - 1)));
  const Decision full = bucket->admit(item(500, 2));
  CHECK_FALSE(full.admitted);
  CHECK(full.failing_rate == Rate(kMax - 1, 1000));
  CHECK(full.retry_after == 1501);  // until the slots at 0 leave the 2000 ms window
  check_unwrapped(full);
  CHECK(bucket->put(item(1001, 1)));  // the 1000 ms window moved on, and 2000 ms holds one more
  CHECK(bucket->count() == kMax);
}

TEMPLATE_TEST_CASE("Timestamps at INT64_MIN and INT64_MAX give decisions that never wrap",
                   "[limits]", InMemoryBucket, SQLiteBucket) {
  const auto bucket = make_bucket<TestType>({Rate(1, kMax)});
  const Decision first = bucket->admit(item(kMin));
  CHECK(first.admitted);
  CHECK(first.reset_after == kMax);  // kMin + kMax - kMin + 1, saturated
  const Decision at_min = bucket->admit(item(kMin + 1));
  CHECK_FALSE(at_min.admitted);
  CHECK(at_min.retry_after == kMax);
  check_unwrapped(at_min);
  // At kMax the window [0, kMax] no longer holds the slot at kMin.
  const Decision at_max = bucket->admit(item(kMax));
  CHECK(at_max.admitted);
  CHECK(at_max.reset_after == kMax);  // kMax + kMax - kMax + 1, saturated
  const Decision after = bucket->admit(item(kMax));
  CHECK_FALSE(after.admitted);
  CHECK(after.retry_after == kMax);
  check_unwrapped(after);
  CHECK(bucket->waiting(item(kMin)) == kMax);  // stamped as the newest slot, kMax
  CHECK(bucket->count() == 2);
}

TEMPLATE_TEST_CASE("waiting with an interval near INT64_MAX saturates instead of wrapping to 0",
                   "[limits]", InMemoryBucket, SQLiteBucket) {
  const auto bucket = make_bucket<TestType>({Rate(2, kMax / 2), Rate(3, kMax)});
  REQUIRE(bucket->put(item(100, 2)));
  CHECK(bucket->waiting(item(100)) == kMax / 2 + 1);
  // The wider rate: 100 - (100 - kMax) + 1, saturated.
  CHECK(bucket->waiting(item(100, 2)) == kMax);
  CHECK(bucket->waiting(item(100, 3)) == -1);
  const Decision refused = bucket->admit(item(200, 2));
  CHECK(refused.retry_after == 100 - 200 + kMax + 1);
  check_unwrapped(refused);
}
