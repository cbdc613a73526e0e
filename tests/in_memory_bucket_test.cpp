// InMemoryBucket: what only the in-memory bucket does. The rules every bucket obeys, and the
// randomized check against a plain model, are in bucket_contract_test.cpp.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <pyrate/pyrate.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/fake_clock.hpp"

using pyrate::InMemoryBucket;
using pyrate::Millis;
using pyrate::Rate;
using pyrate::RateItem;
using pyrate_test::FakeClock;

TEST_CASE("An in-memory bucket has no limiter lock") {
  InMemoryBucket bucket({Rate(1, 1000)});
  CHECK(bucket.limiter_lock() == nullptr);
}

namespace {

// An in-memory bucket whose clock the test drives.
struct ClockedBucket {
  explicit ClockedBucket(std::vector<Rate> rates, Millis start = 0)
      : clock(std::make_shared<FakeClock>(start)),
        bucket(std::make_shared<InMemoryBucket>(std::move(rates))) {
    bucket->set_clock(clock);
  }
  std::shared_ptr<FakeClock> clock;
  std::shared_ptr<InMemoryBucket> bucket;
};

}  // namespace

TEST_CASE("An in-memory bucket numbers its slots again instead of overflowing") {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  ClockedBucket b({Rate(kMax, 1)});
  REQUIRE(b.bucket->put(RateItem{"a", 0, kMax}));
  REQUIRE(b.bucket->leak(2) == kMax);
  REQUIRE(b.bucket->put(RateItem{"b", 2, kMax}));
  CHECK(b.bucket->count() == kMax);
  CHECK(b.bucket->peek(0)->timestamp == 2);
  CHECK(b.bucket->peek(kMax - 1)->name == "b");
}

TEST_CASE("An in-memory bucket refuses to hold more than 2^63 - 1 slots and records nothing") {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  ClockedBucket b({Rate(kMax, 1)});
  REQUIRE(b.bucket->put(RateItem{"a", 0, kMax}));
  CHECK_THROWS_AS(b.bucket->put(RateItem{"b", 2, 1}), std::overflow_error);
  CHECK(b.bucket->count() == kMax);
  CHECK(b.bucket->peek(0)->name == "a");
}
