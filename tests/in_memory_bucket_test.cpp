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

TEST_CASE(
    "An in-memory bucket's peek gives each slot the name of its item while names come and go") {
  // Names alternate, repeat, leave the bucket entirely (the oldest leaked) and come back, so that
  // the name held first is released while others stay and then held again.
  ClockedBucket b({Rate(1000, 10'000)});
  std::vector<RateItem> model;  // oldest first, one entry per slot
  std::mt19937 random(7);
  const std::vector<std::string> names = {"a", "b", "a", "c", "a-name-too-long-for-sso-buffers"};
  Millis now = 0;
  for (int step = 0; step < 400; ++step) {
    now += static_cast<Millis>(random() % 3);
    const std::string& name = names[random() % names.size()];
    const std::int64_t weight = 1 + static_cast<std::int64_t>(random() % 3);
    if (b.bucket->put(RateItem{name, now, weight})) {
      for (std::int64_t i = 0; i < weight; ++i) model.push_back(RateItem{name, now, 1});
    }
    if (step % 25 == 24) {
      const Millis cutoff = now - static_cast<Millis>(random() % 20);
      b.bucket->leak(cutoff + 10'000);
      std::erase_if(model, [&](const RateItem& slot) { return slot.timestamp < cutoff; });
    }
    REQUIRE(b.bucket->count() == static_cast<std::int64_t>(model.size()));
    for (std::size_t i = 0; i < model.size(); ++i) {
      const std::optional<RateItem> slot = b.bucket->peek(static_cast<std::int64_t>(i));
      REQUIRE(slot);
      CHECK(slot->name == model[model.size() - 1 - i].name);
      CHECK(slot->timestamp == model[model.size() - 1 - i].timestamp);
    }
  }
}
