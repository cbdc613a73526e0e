// The bucket rules of DESIGN.md ("Semantics") that every AbstractBucket obeys, checked once for
// each kind of bucket: an InMemoryBucket, and a SQLiteBucket in a new temporary file. What only
// one kind does is tested beside it, in in_memory_bucket_test.cpp and sqlite_bucket_test.cpp.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <pyrate/pyrate.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/fake_clock.hpp"

using pyrate::Duration;
using pyrate::InMemoryBucket;
using pyrate::Millis;
using pyrate::Rate;
using pyrate::RateItem;
using pyrate::SQLiteBucket;
using pyrate_test::FakeClock;

namespace {

// Builds an InMemoryBucket.
struct InMemoryFixture {
  using Bucket = InMemoryBucket;
  static std::shared_ptr<Bucket> make(std::vector<Rate> rates) {
    return std::make_shared<Bucket>(std::move(rates));
  }
  // Calls the queries only this kind has (none), for the thread-safety rule.
  static void read_own_queries(Bucket&) {}
};

// Builds a SQLiteBucket in a new temporary file, deleted when the bucket is.
struct SQLiteFixture {
  using Bucket = SQLiteBucket;
  static std::shared_ptr<Bucket> make(std::vector<Rate> rates) {
    return std::make_shared<Bucket>(std::move(rates));
  }
  static void read_own_queries(Bucket& bucket) { (void)bucket.count_since(10'000); }
};

// A bucket of the fixture's kind whose clock the test drives.
template <class Fixture>
struct ClockedBucket {
  explicit ClockedBucket(std::vector<Rate> rates, Millis start = 0)
      : clock(std::make_shared<FakeClock>(start)), bucket(Fixture::make(std::move(rates))) {
    bucket->set_clock(clock);
  }
  std::shared_ptr<FakeClock> clock;
  std::shared_ptr<typename Fixture::Bucket> bucket;
};

RateItem item(Millis timestamp, std::int64_t weight = 1, std::string name = "item") {
  return RateItem{std::move(name), timestamp, weight};
}

}  // namespace

// The kinds of bucket every rule below is checked over.
#define PYRATE_BUCKET_FIXTURES InMemoryFixture, SQLiteFixture

// --- Construction and clock ------------------------------------------------------------------

TEMPLATE_TEST_CASE("The bucket constructor sorts the rates by interval", "[bucket]",
                   PYRATE_BUCKET_FIXTURES) {
  const auto bucket = TestType::make(
      {Rate(1000, Duration::Hour), Rate(5, Duration::Second), Rate(100, Duration::Minute)});
  CHECK(bucket->rates() == std::vector<Rate>{Rate(5, Duration::Second), Rate(100, Duration::Minute),
                                             Rate(1000, Duration::Hour)});
}

TEMPLATE_TEST_CASE(
    "The bucket constructor throws invalid_argument listing the rates when they are invalid",
    "[bucket]", PYRATE_BUCKET_FIXTURES) {
  try {
    TestType::make({Rate(4, Duration::Minute), Rate(5, Duration::Second)});
    FAIL("an invalid rate list was accepted");
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    CHECK_THAT(message, Catch::Contains("limit=5/1.0s"));
    CHECK_THAT(message, Catch::Contains("limit=4/1.0m"));
  }
  CHECK_THROWS_AS(TestType::make({}), std::invalid_argument);
  CHECK_THROWS_AS(TestType::make({Rate(5, 1000), Rate(20, 2000)}), std::invalid_argument);
}

TEMPLATE_TEST_CASE("failing_rate is empty before any put", "[bucket]", PYRATE_BUCKET_FIXTURES) {
  const auto bucket = TestType::make({Rate(1, 1000)});
  CHECK_FALSE(bucket->failing_rate().has_value());
}

TEMPLATE_TEST_CASE("now reads the clock given to set_clock, and a null clock is refused",
                   "[bucket]", PYRATE_BUCKET_FIXTURES) {
  const auto bucket = TestType::make({Rate(1, 1000)});
  auto clock = std::make_shared<FakeClock>(123'456);
  bucket->set_clock(clock);
  CHECK(bucket->now() == 123'456);
  clock->advance(10);
  CHECK(bucket->now() == 123'466);
  CHECK_THROWS_AS(bucket->set_clock(nullptr), std::invalid_argument);
  CHECK(bucket->now() == 123'466);
}

// --- put -------------------------------------------------------------------------------------

TEMPLATE_TEST_CASE(
    "put admits items while the window has room and refuses the one that overflows it", "[bucket]",
    PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(3, 1000)});
  CHECK(b.bucket->put(item(0)));
  CHECK(b.bucket->put(item(10)));
  CHECK(b.bucket->put(item(20)));
  CHECK(b.bucket->count() == 3);
  CHECK_FALSE(b.bucket->put(item(30)));
  CHECK(b.bucket->failing_rate() == Rate(3, 1000));
}

TEMPLATE_TEST_CASE("put refuses an item when the window is full and records nothing", "[bucket]",
                   PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(2, 1000)});
  REQUIRE(b.bucket->put(item(0, 1, "a")));
  REQUIRE(b.bucket->put(item(5, 1, "b")));
  CHECK_FALSE(b.bucket->put(item(10, 1, "c")));
  CHECK(b.bucket->count() == 2);
  CHECK(b.bucket->peek(0)->name == "b");
  CHECK(b.bucket->peek(1)->name == "a");
}

TEMPLATE_TEST_CASE(
    "put counts slots at the window's lower bound (item.timestamp - interval, inclusive)",
    "[bucket]", PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(2, 1000)});
  REQUIRE(b.bucket->put(item(0)));
  REQUIRE(b.bucket->put(item(500)));
  CHECK_FALSE(b.bucket->put(item(1000)));  // the slot at 0 is still in [0, 1000]
  CHECK(b.bucket->put(item(1001)));        // it is not in [1, 1001]
  CHECK(b.bucket->count() == 3);
}

TEMPLATE_TEST_CASE("put counts slots newer than the item", "[bucket]", PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(2, 1000)});
  REQUIRE(b.bucket->put(item(5000)));
  REQUIRE(b.bucket->put(item(5000)));
  CHECK_FALSE(b.bucket->put(item(0)));  // window [-1000, 0] is empty, but newer slots count
  CHECK(b.bucket->count() == 2);
}

TEMPLATE_TEST_CASE("An item of weight W takes W slots, all or nothing", "[bucket]",
                   PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(5, 1000)});
  CHECK(b.bucket->put(item(0, 3)));
  CHECK(b.bucket->count() == 3);
  CHECK_FALSE(b.bucket->put(item(1, 3)));
  CHECK(b.bucket->count() == 3);
  CHECK(b.bucket->put(item(1, 2)));
  CHECK(b.bucket->count() == 5);
  CHECK_FALSE(b.bucket->put(item(2, 1)));
}

TEMPLATE_TEST_CASE(
    "put checks every rate in ascending interval and sets failing_rate to the first full one",
    "[bucket]", PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(3, Duration::Minute), Rate(2, Duration::Second)});
  REQUIRE(b.bucket->put(item(0)));
  REQUIRE(b.bucket->put(item(0)));
  CHECK_FALSE(b.bucket->put(item(0)));
  CHECK(b.bucket->failing_rate() == Rate(2, Duration::Second));
  CHECK(b.bucket->put(item(1001)));  // the second is free again; the minute has 2 of 3
  CHECK_FALSE(b.bucket->put(item(1002)));
  CHECK(b.bucket->failing_rate() == Rate(3, Duration::Minute));
  // Both rates full: the narrower one is reported.
  CHECK_FALSE(b.bucket->put(item(1003, 2)));
  CHECK(b.bucket->failing_rate() == Rate(2, Duration::Second));
}

TEMPLATE_TEST_CASE("A successful put clears failing_rate", "[bucket]", PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(1, 1000)});
  REQUIRE(b.bucket->put(item(0)));
  REQUIRE_FALSE(b.bucket->put(item(1)));
  REQUIRE(b.bucket->failing_rate().has_value());
  CHECK(b.bucket->put(item(1001)));
  CHECK_FALSE(b.bucket->failing_rate().has_value());
}

TEMPLATE_TEST_CASE("Weight 0 is admitted, records nothing and leaves failing_rate as it was",
                   "[bucket]", PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(1, 1000)});
  CHECK(b.bucket->put(item(0, 0)));
  CHECK(b.bucket->count() == 0);
  CHECK_FALSE(b.bucket->failing_rate().has_value());
  REQUIRE(b.bucket->put(item(0)));
  REQUIRE_FALSE(b.bucket->put(item(1)));
  CHECK(b.bucket->put(item(2, 0)));  // full, yet weight 0 fits
  CHECK(b.bucket->count() == 1);
  CHECK(b.bucket->failing_rate() == Rate(1, 1000));
}

TEMPLATE_TEST_CASE("put throws invalid_argument for a negative weight and records nothing",
                   "[bucket]", PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(5, 1000)});
  CHECK_THROWS_AS(b.bucket->put(item(0, -1)), std::invalid_argument);
  CHECK_THROWS_AS(b.bucket->put(item(0, std::numeric_limits<std::int64_t>::min())),
                  std::invalid_argument);
  CHECK(b.bucket->count() == 0);
}

TEMPLATE_TEST_CASE("A weight above every limit is refused without overflow", "[bucket]",
                   PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(5, 1000)});
  REQUIRE(b.bucket->put(item(0, 2)));
  const RateItem huge = item(1, std::numeric_limits<std::int64_t>::max());
  CHECK_FALSE(b.bucket->put(huge));
  CHECK(b.bucket->count() == 2);
  CHECK(b.bucket->waiting(huge) == -1);
}

// --- Items older than the newest slot --------------------------------------------------------

TEMPLATE_TEST_CASE(
    "An item older than the newest slot is recorded with the newest slot's timestamp", "[bucket]",
    PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(3, 1000)});
  REQUIRE(b.bucket->put(item(1000, 1, "new")));
  CHECK(b.bucket->put(item(0, 1, "old")));  // a clock that stepped back
  CHECK(b.bucket->peek(0)->name == "old");
  CHECK(b.bucket->peek(0)->timestamp == 1000);
  CHECK(b.bucket->peek(1)->timestamp == 1000);
  CHECK(b.bucket->leak(2000) == 0);  // nothing is older than 2000 - 1000
  CHECK(b.bucket->leak(2001) == 2);
}

TEMPLATE_TEST_CASE("An item older than the newest slot is checked as if stamped with its timestamp",
                   "[bucket]", PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(2, 1000)});
  REQUIRE(b.bucket->put(item(0)));
  REQUIRE(b.bucket->put(item(5000)));
  // At 0 the window [-1000, 0] would hold 2 slots; at 5000, [4000, 5000] holds 1.
  CHECK(b.bucket->put(item(0)));
  CHECK_FALSE(b.bucket->put(item(4500)));
}

TEMPLATE_TEST_CASE(
    "An item older than the newest slot is waited for as if stamped with its timestamp", "[bucket]",
    PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(2, 1000)});
  REQUIRE(b.bucket->put(item(1000)));
  REQUIRE(b.bucket->put(item(1000)));
  const RateItem old = item(0);
  REQUIRE_FALSE(b.bucket->put(old));
  // As if stamped 1000: the slot at 1000 leaves [t - 1000, t] at t = 2001.
  CHECK(b.bucket->waiting(old) == 1001);
}

// --- leak, flush, count, peek ----------------------------------------------------------------

TEMPLATE_TEST_CASE("leak removes the slots older than the timestamp minus the widest interval",
                   "[bucket]", PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(3, 100), Rate(10, 1000)});
  REQUIRE(b.bucket->put(item(0)));
  REQUIRE(b.bucket->put(item(10, 2)));
  REQUIRE(b.bucket->put(item(500)));
  CHECK(b.bucket->leak(1000) == 0);  // the slot at 0 is not older than 1000 - 1000
  CHECK(b.bucket->leak(1001) == 1);
  CHECK(b.bucket->count() == 3);
  CHECK(b.bucket->leak(1011) == 2);
  CHECK(b.bucket->count() == 1);
  CHECK(b.bucket->peek(0)->timestamp == 500);
  CHECK(b.bucket->leak(1011) == 0);
  CHECK(b.bucket->leak(100'000) == 1);
  CHECK(b.bucket->count() == 0);
  CHECK(b.bucket->leak(200'000) == 0);
}

TEMPLATE_TEST_CASE("leak without a timestamp uses the bucket's clock", "[bucket]",
                   PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(5, 1000)});
  REQUIRE(b.bucket->put(item(0, 2)));
  REQUIRE(b.bucket->put(item(300)));
  b.clock->set(1000);
  CHECK(b.bucket->leak() == 0);
  b.clock->set(1001);
  CHECK(b.bucket->leak() == 2);
  b.clock->set(1301);
  CHECK(b.bucket->leak() == 1);
}

TEMPLATE_TEST_CASE("leak does not overflow at the extremes of the timestamp range", "[bucket]",
                   PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(5, Duration::Week)});
  constexpr Millis kMin = std::numeric_limits<Millis>::min();
  constexpr Millis kMax = std::numeric_limits<Millis>::max();
  REQUIRE(b.bucket->put(item(kMin)));
  CHECK(b.bucket->leak(kMin) == 0);
  CHECK(b.bucket->put(item(kMin + 1)));
  CHECK(b.bucket->count() == 2);
  CHECK(b.bucket->leak(kMax) == 2);
  CHECK(b.bucket->put(item(kMax)));
  CHECK(b.bucket->count() == 1);
  CHECK(b.bucket->peek(0)->timestamp == kMax);
}

TEMPLATE_TEST_CASE("flush removes every slot and clears failing_rate", "[bucket]",
                   PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(2, 1000)});
  REQUIRE(b.bucket->put(item(0, 2)));
  REQUIRE_FALSE(b.bucket->put(item(1)));
  REQUIRE(b.bucket->failing_rate().has_value());
  b.bucket->flush();
  CHECK(b.bucket->count() == 0);
  CHECK_FALSE(b.bucket->failing_rate().has_value());
  CHECK_FALSE(b.bucket->peek(0).has_value());
  CHECK(b.bucket->put(item(2, 2)));
}

TEMPLATE_TEST_CASE("count includes slots that expired but were not leaked", "[bucket]",
                   PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(2, 1000)});
  REQUIRE(b.bucket->put(item(0, 2)));
  REQUIRE(b.bucket->put(item(5000, 2)));
  CHECK(b.bucket->count() == 4);
  CHECK(b.bucket->leak(5000) == 2);
  CHECK(b.bucket->count() == 2);
}

TEMPLATE_TEST_CASE(
    "peek returns slots from the newest, with their item's name and timestamp, weight 1",
    "[bucket]", PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(10, 1000)});
  REQUIRE(b.bucket->put(item(10, 2, "a")));
  REQUIRE(b.bucket->put(item(20, 1, "b")));
  REQUIRE(b.bucket->put(item(20, 1, "a")));
  REQUIRE(b.bucket->put(item(20, 1, "a")));
  const std::vector<std::pair<std::string, Millis>> expected{
      {"a", 20}, {"a", 20}, {"b", 20}, {"a", 10}, {"a", 10}};
  REQUIRE(b.bucket->count() == 5);
  for (std::int64_t i = 0; i < 5; ++i) {
    const std::optional<RateItem> slot = b.bucket->peek(i);
    REQUIRE(slot.has_value());
    CHECK(slot->name == expected[static_cast<std::size_t>(i)].first);
    CHECK(slot->timestamp == expected[static_cast<std::size_t>(i)].second);
    CHECK(slot->weight == 1);
  }
}

TEMPLATE_TEST_CASE("peek returns nothing for a negative index or one not below count", "[bucket]",
                   PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(10, 1000)});
  CHECK_FALSE(b.bucket->peek(0).has_value());
  REQUIRE(b.bucket->put(item(0, 3)));
  CHECK_FALSE(b.bucket->peek(-1).has_value());
  CHECK_FALSE(b.bucket->peek(3).has_value());
  CHECK_FALSE(b.bucket->peek(std::numeric_limits<std::int64_t>::max()).has_value());
  CHECK_FALSE(b.bucket->peek(std::numeric_limits<std::int64_t>::min()).has_value());
  CHECK(b.bucket->peek(2).has_value());
}

TEMPLATE_TEST_CASE("peek indexes from the newest after older slots are leaked", "[bucket]",
                   PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(10, 1000)});
  REQUIRE(b.bucket->put(item(0, 2, "old")));
  REQUIRE(b.bucket->put(item(1500, 1, "mid")));
  REQUIRE(b.bucket->put(item(1600, 1, "new")));
  REQUIRE(b.bucket->leak(1500) == 2);
  CHECK(b.bucket->peek(0)->name == "new");
  CHECK(b.bucket->peek(1)->name == "mid");
  CHECK_FALSE(b.bucket->peek(2).has_value());
}

// --- waiting ---------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("waiting is 0 when every rate has room for the item", "[bucket]",
                   PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(2, 1000), Rate(5, Duration::Minute)});
  CHECK(b.bucket->waiting(item(0)) == 0);
  REQUIRE(b.bucket->put(item(0)));
  CHECK(b.bucket->waiting(item(0)) == 0);
  REQUIRE_FALSE(b.bucket->put(item(0, 2)));
  // A refused put sets failing_rate(), but waiting() looks at the item it is given.
  CHECK(b.bucket->waiting(item(0)) == 0);
}

TEMPLATE_TEST_CASE("waiting is -1 when the weight exceeds any rate's limit", "[bucket]",
                   PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(3, 1000), Rate(10, Duration::Minute)});
  CHECK(b.bucket->waiting(item(0, 4)) == -1);
  const RateItem too_heavy = item(0, 4);
  REQUIRE_FALSE(b.bucket->put(too_heavy));
  CHECK(b.bucket->failing_rate() == Rate(3, 1000));
  CHECK(b.bucket->waiting(too_heavy) == -1);
}

TEMPLATE_TEST_CASE("waiting is the time until the slot that must expire leaves the window",
                   "[bucket]", PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(3, 1000)});
  REQUIRE(b.bucket->put(item(0)));
  REQUIRE(b.bucket->put(item(100)));
  REQUIRE(b.bucket->put(item(200)));
  const RateItem one = item(250);
  const RateItem two = item(250, 2);
  REQUIRE_FALSE(b.bucket->put(one));
  // b = peek(limit - weight); wait = b.timestamp - (item.timestamp - interval) + 1.
  CHECK(b.bucket->waiting(one) == 0 - (250 - 1000) + 1);
  CHECK(b.bucket->waiting(two) == 100 - (250 - 1000) + 1);
  // The waits are exact: one millisecond earlier is still refused.
  CHECK_FALSE(b.bucket->put(item(250 + 751 - 1)));
  CHECK(b.bucket->put(item(250 + 751)));
}

TEMPLATE_TEST_CASE("waiting is the longest wait over every rate without room", "[bucket]",
                   PYRATE_BUCKET_FIXTURES) {
  // 2 per second and 3 per 10 s: at 1500 the narrow rate has room again, the wide one does not.
  ClockedBucket<TestType> b({Rate(2, 1000), Rate(3, 10'000)});
  REQUIRE(b.bucket->put(item(0)));
  REQUIRE(b.bucket->put(item(100)));
  REQUIRE(b.bucket->put(item(1200)));
  const RateItem next = item(1300);
  // The narrow window [300, 1300] holds one slot: room. The wide one holds three: the slot at
  // peek(3 - 1) = 0 must leave it, at 0 + 10'000 + 1.
  CHECK(b.bucket->waiting(next) == 0 - (1300 - 10'000) + 1);
  REQUIRE_FALSE(b.bucket->put(next));
  CHECK(b.bucket->failing_rate() == Rate(3, 10'000));
  // When both lack room the larger wait wins: at 1250 with weight 2 the narrow window [250,
  // 1250] holds one slot (wait for 1200 to leave: 1200 - 250 + 1 = 951), the wide one three
  // (wait for peek(1) = 100 to leave: 100 - (1250 - 10'000) + 1 = 8851).
  CHECK(b.bucket->waiting(item(1250, 2)) == 8851);
}

TEMPLATE_TEST_CASE("waiting is 0 once the slot that must expire is leaked", "[bucket]",
                   PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(2, 1000)});
  REQUIRE(b.bucket->put(item(0, 2)));
  const RateItem next = item(10);
  REQUIRE_FALSE(b.bucket->put(next));
  REQUIRE(b.bucket->leak(100'000) == 2);
  REQUIRE(b.bucket->failing_rate().has_value());
  CHECK(b.bucket->waiting(next) == 0);
}

// --- admit: every field of the Decision ------------------------------------------------------

TEMPLATE_TEST_CASE("admit with one rate reports the free slots and the reset of its window",
                   "[bucket][decision]", PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(3, 1000)});
  const pyrate::Decision first = b.bucket->admit(item(100));
  CHECK(first.admitted);
  CHECK_FALSE(first.failing_rate.has_value());
  CHECK(first.retry_after == 0);
  CHECK(first.tightest_rate == Rate(3, 1000));
  CHECK(first.remaining == 2);
  CHECK(first.reset_after == 1001);  // its own slot leaves at 100 + 1000 + 1
  REQUIRE(b.bucket->admit(item(400)).remaining == 1);
  const pyrate::Decision third = b.bucket->admit(item(700));
  CHECK(third.admitted);
  CHECK(third.remaining == 0);
  CHECK(third.reset_after == 100 + 1000 - 700 + 1);
  const pyrate::Decision refused = b.bucket->admit(item(800));
  CHECK_FALSE(refused.admitted);
  CHECK(refused.failing_rate == Rate(3, 1000));
  CHECK(refused.retry_after == 100 - (800 - 1000) + 1);
  CHECK(refused.tightest_rate == Rate(3, 1000));
  CHECK(refused.remaining == 0);
  CHECK(refused.reset_after == 301);
  CHECK(b.bucket->count() == 3);
}

TEMPLATE_TEST_CASE("admit with two rates names the wider one when it binds", "[bucket][decision]",
                   PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(2, 1000), Rate(3, 10'000)});
  REQUIRE(b.bucket->admit(item(0)).admitted);
  const pyrate::Decision second = b.bucket->admit(item(100));
  // After it: 0 free of 2/s, 1 free of 3/10s.
  CHECK(second.tightest_rate == Rate(2, 1000));
  CHECK(second.remaining == 0);
  CHECK(second.reset_after == 0 + 1000 - 100 + 1);
  const pyrate::Decision third = b.bucket->admit(item(1200));
  CHECK(third.admitted);
  // After it: 1 free of 2/s, 0 free of 3/10s.
  CHECK(third.tightest_rate == Rate(3, 10'000));
  CHECK(third.remaining == 0);
  CHECK(third.reset_after == 0 + 10'000 - 1200 + 1);
  const pyrate::Decision refused = b.bucket->admit(item(1300));
  CHECK_FALSE(refused.admitted);
  CHECK(refused.failing_rate == Rate(3, 10'000));
  CHECK(refused.retry_after == 0 - (1300 - 10'000) + 1);
  CHECK(refused.retry_after == b.bucket->waiting(item(1300)));
  // Ties at 0 free go to the narrower interval; here 2/s has 1 free.
  CHECK(refused.tightest_rate == Rate(3, 10'000));
  CHECK(refused.remaining == 0);
}

TEMPLATE_TEST_CASE("admit of a weight above 1 takes its slots from every rate at once",
                   "[bucket][decision]", PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(5, 1000), Rate(8, 5000)});
  const pyrate::Decision heavy = b.bucket->admit(item(0, 4));
  CHECK(heavy.admitted);
  CHECK(heavy.tightest_rate == Rate(5, 1000));
  CHECK(heavy.remaining == 1);
  const pyrate::Decision too_heavy = b.bucket->admit(item(10, 2));
  CHECK_FALSE(too_heavy.admitted);
  CHECK(too_heavy.failing_rate == Rate(5, 1000));
  // peek(5 - 2) is one of the four slots stamped 0.
  CHECK(too_heavy.retry_after == 0 - (10 - 1000) + 1);
  const pyrate::Decision never = b.bucket->admit(item(10, 6));
  CHECK_FALSE(never.admitted);
  CHECK(never.failing_rate == Rate(5, 1000));
  CHECK(never.retry_after == -1);
  const pyrate::Decision later = b.bucket->admit(item(1001, 4));
  CHECK(later.admitted);
  // After it: 1 free of 5/s, 0 free of 8/5s, whose oldest slots are stamped 0.
  CHECK(later.tightest_rate == Rate(8, 5000));
  CHECK(later.remaining == 0);
  CHECK(later.reset_after == 0 + 5000 - 1001 + 1);
}

TEMPLATE_TEST_CASE("admit of an item older than the newest slot decides at the newest slot's time",
                   "[bucket][decision]", PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(2, 1000)});
  REQUIRE(b.bucket->admit(item(500)).admitted);
  const pyrate::Decision old = b.bucket->admit(item(100));
  CHECK(old.admitted);
  CHECK(b.bucket->peek(0)->timestamp == 500);
  CHECK(old.reset_after == 1001);  // from 500, the recorded stamp
  const pyrate::Decision refused = b.bucket->admit(item(200));
  CHECK_FALSE(refused.admitted);
  CHECK(refused.retry_after == 500 - (500 - 1000) + 1);
}

TEMPLATE_TEST_CASE("admit after leak and after flush counts only the slots still held",
                   "[bucket][decision]", PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(2, 1000)});
  REQUIRE(b.bucket->admit(item(0)).admitted);
  REQUIRE(b.bucket->admit(item(600)).admitted);
  REQUIRE_FALSE(b.bucket->admit(item(700)).admitted);
  REQUIRE(b.bucket->leak(1500) == 1);
  const pyrate::Decision after_leak = b.bucket->admit(item(1550));
  CHECK(after_leak.admitted);
  CHECK(after_leak.remaining == 0);
  CHECK(after_leak.reset_after == 600 + 1000 - 1550 + 1);
  b.bucket->flush();
  const pyrate::Decision after_flush = b.bucket->admit(item(1560));
  CHECK(after_flush.admitted);
  CHECK(after_flush.remaining == 1);
  CHECK(after_flush.reset_after == 1001);
  CHECK(b.bucket->count() == 1);
}

TEMPLATE_TEST_CASE("admit of weight 0 is admitted, records nothing and reports the state",
                   "[bucket][decision]", PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(2, 1000)});
  REQUIRE(b.bucket->admit(item(0, 2)).admitted);
  REQUIRE_FALSE(b.bucket->put(item(10)));
  const pyrate::Decision nothing = b.bucket->admit(item(20, 0));
  CHECK(nothing.admitted);
  CHECK(nothing.retry_after == 0);
  CHECK(nothing.remaining == 0);
  CHECK(nothing.reset_after == 981);
  CHECK(b.bucket->count() == 2);
  CHECK(b.bucket->failing_rate() == Rate(2, 1000));
}

TEMPLATE_TEST_CASE("put is admit's verdict and sets failing_rate as admit does",
                   "[bucket][decision]", PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(1, 1000), Rate(2, 5000)});
  CHECK(b.bucket->put(item(0)));
  CHECK_FALSE(b.bucket->admit(item(10)).admitted);
  CHECK(b.bucket->failing_rate() == Rate(1, 1000));
  CHECK(b.bucket->admit(item(1001)).admitted);
  CHECK_FALSE(b.bucket->failing_rate().has_value());
  CHECK_FALSE(b.bucket->put(item(2002)));
  CHECK(b.bucket->failing_rate() == Rate(2, 5000));
}

namespace {

// The rules of DESIGN.md written as plainly as possible, one vector entry per slot: what every
// field of a Decision must be.
class ReferenceBucket {
 public:
  explicit ReferenceBucket(std::vector<Rate> sorted_rates) : rates_(std::move(sorted_rates)) {}

  pyrate::Decision admit(const RateItem& item) {
    const Millis t = slots_.empty() ? item.timestamp : std::max(item.timestamp, slots_.back());
    pyrate::Decision decision;
    decision.admitted = true;
    for (const Rate& rate : rates_) {
      if (item.weight == 0 || rate.limit - in_window(t, rate) >= item.weight) continue;
      if (decision.admitted) decision.failing_rate = rate;
      decision.admitted = false;
      if (item.weight > rate.limit) {
        decision.retry_after = -1;
      } else if (decision.retry_after >= 0) {
        const Millis bound =
            slots_[slots_.size() - 1 - static_cast<std::size_t>(rate.limit - item.weight)];
        decision.retry_after = std::max(decision.retry_after, bound - (t - rate.interval) + 1);
      }
    }
    if (decision.admitted) slots_.insert(slots_.end(), static_cast<std::size_t>(item.weight), t);
    std::int64_t fewest = std::numeric_limits<std::int64_t>::max();
    for (const Rate& rate : rates_) {
      const std::int64_t free = std::max<std::int64_t>(0, rate.limit - in_window(t, rate));
      if (free >= fewest) continue;
      fewest = free;
      decision.tightest_rate = rate;
      decision.remaining = free;
      decision.reset_after = 0;
      for (const Millis slot : slots_) {
        if (slot >= t - rate.interval) {
          decision.reset_after = slot + rate.interval - t + 1;
          break;
        }
      }
    }
    return decision;
  }
  std::int64_t leak(Millis t) {
    const auto before = slots_.size();
    std::erase_if(slots_, [&](Millis slot) { return slot < t - rates_.back().interval; });
    return static_cast<std::int64_t>(before - slots_.size());
  }
  void flush() { slots_.clear(); }
  std::int64_t count() const { return static_cast<std::int64_t>(slots_.size()); }
  std::optional<Millis> peek(std::int64_t index) const {
    if (index < 0 || index >= count()) return std::nullopt;
    return slots_[slots_.size() - 1 - static_cast<std::size_t>(index)];
  }

 private:
  std::int64_t in_window(Millis t, const Rate& rate) const {
    return std::count_if(slots_.begin(), slots_.end(),
                         [&](Millis slot) { return slot >= t - rate.interval; });
  }

  std::vector<Rate> rates_;
  std::vector<Millis> slots_;  // timestamps, oldest first
};

void check_same_decision(const pyrate::Decision& actual, const pyrate::Decision& expected) {
  REQUIRE(actual.admitted == expected.admitted);
  REQUIRE(actual.failing_rate == expected.failing_rate);
  REQUIRE(actual.retry_after == expected.retry_after);
  REQUIRE(actual.tightest_rate == expected.tightest_rate);
  REQUIRE(actual.remaining == expected.remaining);
  REQUIRE(actual.reset_after == expected.reset_after);
}

}  // namespace

TEMPLATE_TEST_CASE("Every field of every Decision matches a plain model in random sequences",
                   "[bucket][decision]", PYRATE_BUCKET_FIXTURES) {
  const std::vector<Rate> rates{Rate(4, 50), Rate(10, 400), Rate(20, 2000)};
  std::mt19937_64 random(20261201);
  for (int round = 0; round < 8; ++round) {
    ClockedBucket<TestType> b(rates);
    ReferenceBucket reference(rates);
    Millis clock = 0;
    for (int step = 0; step < 600; ++step) {
      const auto dice = random() % 100;
      if (dice < 70) {
        clock += static_cast<Millis>(random() % 40);
        // Now and then a timestamp from the past or the future, as a caller may give.
        const Millis timestamp = dice < 5    ? clock - static_cast<Millis>(random() % 3000)
                                 : dice < 10 ? clock + static_cast<Millis>(random() % 3000)
                                             : clock;
        const RateItem next{"n" + std::to_string(random() % 3), timestamp,
                            static_cast<std::int64_t>(random() % 6)};
        if (dice % 2 == 0) {
          const pyrate::Decision expected_wait = ReferenceBucket(reference).admit(next);
          REQUIRE(b.bucket->waiting(next) == expected_wait.retry_after);
        }
        check_same_decision(b.bucket->admit(next), reference.admit(next));
      } else if (dice < 85) {
        const Millis at = clock - 500 + static_cast<Millis>(random() % 3000);
        REQUIRE(b.bucket->leak(at) == reference.leak(at));
      } else if (dice < 86) {
        b.bucket->flush();
        reference.flush();
      } else {
        const auto index = static_cast<std::int64_t>(random() % 25) - 2;
        const auto slot = b.bucket->peek(index);
        REQUIRE(slot.has_value() == reference.peek(index).has_value());
        if (slot) REQUIRE(slot->timestamp == *reference.peek(index));
      }
      REQUIRE(b.bucket->count() == reference.count());
    }
  }
}

// --- close and threads -----------------------------------------------------------------------

TEMPLATE_TEST_CASE("close is idempotent", "[bucket]", PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(2, 1000)});
  REQUIRE(b.bucket->put(item(0)));
  b.bucket->close();
  CHECK_NOTHROW(b.bucket->close());
  CHECK_NOTHROW(b.bucket->close());
}

TEMPLATE_TEST_CASE(
    "After close, put, flush, count, peek and waiting throw logic_error and leak returns 0",
    "[bucket]", PYRATE_BUCKET_FIXTURES) {
  ClockedBucket<TestType> b({Rate(2, 1000)});
  REQUIRE(b.bucket->put(item(0, 2)));
  b.bucket->close();
  CHECK_THROWS_AS(b.bucket->put(item(1)), std::logic_error);
  CHECK_THROWS_AS(b.bucket->put(item(1, 0)), std::logic_error);
  CHECK_THROWS_AS(b.bucket->flush(), std::logic_error);
  CHECK_THROWS_AS(b.bucket->count(), std::logic_error);
  CHECK_THROWS_AS(b.bucket->peek(0), std::logic_error);
  CHECK_THROWS_AS(b.bucket->waiting(item(1)), std::logic_error);
  CHECK(b.bucket->leak(100'000) == 0);
  CHECK(b.bucket->leak() == 0);
}

TEMPLATE_TEST_CASE("Bucket methods are safe to call from several threads at once", "[bucket]",
                   PYRATE_BUCKET_FIXTURES) {
  // The clock stands still, so exactly `limit` of all the puts fit, whatever the interleaving,
  // while another thread leaks the expired slots and reads the bucket.
  constexpr std::int64_t kLimit = 1000;
  constexpr int kPutters = 4;
  constexpr int kPutsEach = 400;
  ClockedBucket<TestType> b({Rate(kLimit, 1000)});
  REQUIRE(b.bucket->put(item(0, 300, "expired")));
  b.clock->set(10'000);

  std::atomic<std::int64_t> admitted{0};
  std::atomic<bool> putting{true};
  std::atomic<std::int64_t> leaked{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kPutters; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPutsEach; ++i) {
        const RateItem next{"t" + std::to_string(t), b.clock->now(), 1};
        if (b.bucket->put(next)) {
          admitted.fetch_add(1);
        } else if (b.bucket->waiting(next) < 0) {
          admitted.store(-1'000'000);  // a weight of 1 always fits a limit of 1000
        }
      }
    });
  }
  std::thread reader([&] {
    while (putting.load()) {
      leaked.fetch_add(b.bucket->leak());
      const std::int64_t held = b.bucket->count();
      if (held > 0) (void)b.bucket->peek(held - 1);
      (void)b.bucket->failing_rate();
      TestType::read_own_queries(*b.bucket);
    }
  });
  for (auto& thread : threads) thread.join();
  putting.store(false);
  reader.join();
  leaked.fetch_add(b.bucket->leak());

  CHECK(admitted.load() == kLimit);
  CHECK(leaked.load() == 300);
  CHECK(b.bucket->count() == kLimit);
  CHECK(b.bucket->failing_rate() == Rate(kLimit, 1000));
}
