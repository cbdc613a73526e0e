// The clock-step rule of bucket.hpp, for the built-in buckets (in memory and SQLite, also across
// two processes on one file; compiled with PYRATE_REDIS_CONTRACT into redis_tests, a RedisBucket
// on a redis-server of the program's own instead): a clock that steps backwards never admits
// more than a limit within a window of the bucket's current clock, and a slot stamped ahead by
// any error delays the bucket by at most the widest interval plus kClockStepTolerance.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <pyrate/pyrate.hpp>
#include <string>
#include <utility>
#include <vector>

#include "support/fake_clock.hpp"
#include "support/window_check.hpp"
#ifdef PYRATE_REDIS_CONTRACT
#include <atomic>
#include <pyrate/redis_bucket.hpp>

#include "support/redis_server.hpp"
#else
#include "support/child_process.hpp"
#endif

using pyrate::Decision;
using pyrate::InMemoryBucket;
using pyrate::kClockStepTolerance;
using pyrate::Millis;
using pyrate::Rate;
using pyrate::RateItem;
using pyrate::SQLiteBucket;
using pyrate_test::FakeClock;

namespace {

constexpr Millis kStart = 1'700'000'000'000;  // a wall-clock time in ms, far from either end

// The clock errors tried: 1 ms, 1 s, 1 h, 1 day and 10 years.
const std::vector<Millis> kSteps{1, 1'000, 3'600'000, 86'400'000, 315'360'000'000};

const std::vector<Rate> kRates{Rate(5, 1'000), Rate(20, 10'000)};

struct InMemoryFixture {
  static std::shared_ptr<pyrate::AbstractBucket> make() {
    return std::make_shared<InMemoryBucket>(kRates);
  }
};

struct SQLiteFixture {
  static std::shared_ptr<pyrate::AbstractBucket> make() {
    return std::make_shared<SQLiteBucket>(kRates);
  }
};

#ifdef PYRATE_REDIS_CONTRACT
// A RedisBucket under a new bucket name on a server that lives as long as the program.
struct RedisFixture {
  static std::shared_ptr<pyrate::AbstractBucket> make() {
    static pyrate::testing::RedisServer server;
    static std::atomic<int> buckets{0};
    pyrate::RedisOptions options;
    options.url = server.url();
    options.bucket = "clock-" + std::to_string(buckets.fetch_add(1));
    return std::make_shared<pyrate::RedisBucket>(kRates, options);
  }
};
#define CLOCK_FIXTURES RedisFixture
#else
#define CLOCK_FIXTURES InMemoryFixture, SQLiteFixture
#endif

// A caller that takes every slot it can from the clock's now until `until`: admitted at once
// when there is room, else it moves the clock on by the decision's retry_after. Returns the
// clock's time at each admission.
std::vector<Millis> greedy_admissions(pyrate::AbstractBucket& bucket, FakeClock& clock,
                                      Millis until) {
  std::vector<Millis> admitted;
  while (clock.now() < until) {
    const Decision decision = bucket.admit(RateItem{"greedy", clock.now(), 1});
    if (decision.admitted) {
      admitted.push_back(clock.now());
      continue;
    }
    REQUIRE(decision.retry_after > 0);
    clock.advance(decision.retry_after);
  }
  return admitted;
}

// Fills the narrowest rate with the clock at `at`.
void fill_narrowest(pyrate::AbstractBucket& bucket, Millis at) {
  for (std::int64_t i = 0; i < kRates.front().limit; ++i) {
    REQUIRE(bucket.admit(RateItem{"before", at, 1}).admitted);
  }
}

// A bucket of the fixture's kind whose narrowest rate was filled with its clock `step` ms ahead
// of kStart, and that clock, stepped back to kStart since.
template <class Fixture>
std::pair<std::shared_ptr<pyrate::AbstractBucket>, std::shared_ptr<FakeClock>> filled_ahead(
    Millis step) {
  auto bucket = Fixture::make();
  auto clock = std::make_shared<FakeClock>(kStart + step);
  bucket->set_clock(clock);
  fill_narrowest(*bucket, clock->now());
  clock->set(kStart);
  return {std::move(bucket), std::move(clock)};
}

// The wait the rule allows after slots stamped `error` ms ahead of the clock: the error itself
// up to the tolerance, then the window of the rate that binds, plus the inclusive bound.
Millis allowed_wait(Millis error, Millis interval) {
  return std::min(error, kClockStepTolerance) + interval + 1;
}

}  // namespace

TEMPLATE_TEST_CASE(
    "After a backward step of any size, no window of the current clock holds more than a limit",
    "[clock]", CLOCK_FIXTURES) {
  for (const Millis step : kSteps) {
    CAPTURE(step);
    const auto [bucket, clock] = filled_ahead<TestType>(step);
    // The step back: those admissions happened now, by the current clock.
    std::vector<Millis> admissions(static_cast<std::size_t>(kRates.front().limit), kStart);
    const std::vector<Millis> after =
        greedy_admissions(*bucket, *clock, kStart + kClockStepTolerance + 30'000);
    admissions.insert(admissions.end(), after.begin(), after.end());
    CHECK(pyrate::testing::respects_rates(admissions, kRates));
    REQUIRE_FALSE(after.empty());
    CHECK(after.front() > kStart + kRates.front().interval);
  }
}

TEMPLATE_TEST_CASE(
    "Slots stamped ahead by any error delay the bucket by at most the widest interval plus the "
    "tolerance",
    "[clock]", CLOCK_FIXTURES) {
  for (const Millis step : kSteps) {
    CAPTURE(step);
    const auto [bucket, clock] = filled_ahead<TestType>(step);
    const Decision refused = bucket->admit(RateItem{"next", kStart, 1});
    CHECK_FALSE(refused.admitted);
    CHECK(refused.retry_after <= allowed_wait(step, kRates.front().interval));
    CHECK(refused.reset_after <= allowed_wait(step, kRates.back().interval));
    CHECK(bucket->waiting(RateItem{"next", kStart, 1}) == refused.retry_after);
    const std::vector<Millis> after = greedy_admissions(*bucket, *clock, kStart + 80'000);
    REQUIRE_FALSE(after.empty());
    CHECK(after.front() - kStart <= allowed_wait(step, kRates.front().interval));
    // From then on the bucket admits at its limits again: 20 per 10 s over the last 10 s.
    CHECK(std::count_if(after.begin(), after.end(),
                        [](Millis at) { return at >= kStart + 70'000; }) >= kRates.back().limit);
  }
}

TEMPLATE_TEST_CASE(
    "After a forward step the bucket waits no longer than its windows need, whatever the step",
    "[clock]", CLOCK_FIXTURES) {
  for (const Millis step : kSteps) {
    CAPTURE(step);
    const auto bucket = TestType::make();
    const auto clock = std::make_shared<FakeClock>(kStart);
    bucket->set_clock(clock);
    fill_narrowest(*bucket, kStart);
    clock->set(kStart + step);
    const Decision next = bucket->admit(RateItem{"next", clock->now(), 1});
    const Millis needed = std::max<Millis>(0, kRates.front().interval + 1 - step);
    CHECK(next.admitted == (needed == 0));
    CHECK(next.retry_after == needed);
  }
}

TEMPLATE_TEST_CASE("A stamp within the tolerance ahead is kept: later items are clamped to it",
                   "[clock]", CLOCK_FIXTURES) {
  const auto bucket = TestType::make();
  const auto clock = std::make_shared<FakeClock>(kStart);
  bucket->set_clock(clock);
  const Millis ahead = kStart + kClockStepTolerance;
  REQUIRE(bucket->admit(RateItem{"ahead", ahead, 1}).admitted);
  REQUIRE(bucket->admit(RateItem{"late", kStart, 1}).admitted);
  CHECK(bucket->peek(0)->timestamp == ahead);
  CHECK(bucket->peek(1)->timestamp == ahead);
}

TEMPLATE_TEST_CASE("A decision moves slots stamped past the tolerance back to the item's ceiling",
                   "[clock]", CLOCK_FIXTURES) {
  const auto bucket = TestType::make();
  const Millis ceiling = kStart + kClockStepTolerance;
  REQUIRE(bucket->admit(RateItem{"ahead", ceiling + 1, 2}).admitted);
  CHECK(bucket->peek(0)->timestamp == ceiling + 1);
  REQUIRE(bucket->admit(RateItem{"now", kStart, 1}).admitted);
  CHECK(bucket->count() == 3);
  for (std::int64_t i = 0; i < 3; ++i) CHECK(bucket->peek(i)->timestamp == ceiling);
  // The slots moved back expire from the ceiling on, not from their old stamps.
  CHECK(bucket->leak(ceiling + kRates.back().interval + 1) == 3);
}

#ifndef PYRATE_REDIS_CONTRACT
TEST_CASE(
    "A process whose clock runs a day ahead delays another on the same file by at most the "
    "widest interval plus the tolerance") {
  const pyrate::testing::ScratchDatabase scratch;
  pyrate::SQLiteOptions options;
  options.db_path = scratch.path();
  options.multiprocess = true;
  constexpr Millis kDay = 86'400'000;
  pyrate::testing::ChildProcess ahead([&] {
    SQLiteBucket bucket(kRates, options);
    bucket.set_clock(std::make_shared<FakeClock>(kStart + kDay));
    fill_narrowest(bucket, bucket.now());
    return 0;
  });
  REQUIRE(ahead.wait() == 0);
  SQLiteBucket bucket(kRates, options);
  const auto clock = std::make_shared<FakeClock>(kStart);
  bucket.set_clock(clock);
  const std::vector<Millis> admitted = greedy_admissions(bucket, *clock, kStart + 80'000);
  REQUIRE_FALSE(admitted.empty());
  CHECK(admitted.front() - kStart <= allowed_wait(kDay, kRates.front().interval));
  CHECK(admitted.front() > kStart + kRates.front().interval);
}
#endif
