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
#include <vector>

#include "fake_clock.hpp"

using pyrate::Duration;
using pyrate::InMemoryBucket;
using pyrate::Millis;
using pyrate::Rate;
using pyrate::RateItem;
using pyrate_test::FakeClock;

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

RateItem item(Millis timestamp, std::int64_t weight = 1, std::string name = "item") {
  return RateItem{std::move(name), timestamp, weight};
}

}  // namespace

TEST_CASE("The bucket constructor sorts the rates by interval") {
  const InMemoryBucket bucket(
      {Rate(1000, Duration::Hour), Rate(5, Duration::Second), Rate(100, Duration::Minute)});
  CHECK(bucket.rates() == std::vector<Rate>{Rate(5, Duration::Second), Rate(100, Duration::Minute),
                                            Rate(1000, Duration::Hour)});
}

TEST_CASE(
    "The bucket constructor throws invalid_argument listing the rates when they are invalid") {
  try {
    InMemoryBucket bucket({Rate(4, Duration::Minute), Rate(5, Duration::Second)});
    FAIL("an invalid rate list was accepted");
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    CHECK_THAT(message, Catch::Contains("limit=5/1.0s"));
    CHECK_THAT(message, Catch::Contains("limit=4/1.0m"));
  }
  CHECK_THROWS_AS(InMemoryBucket({}), std::invalid_argument);
  CHECK_THROWS_AS(InMemoryBucket({Rate(5, 1000), Rate(20, 2000)}), std::invalid_argument);
}

TEST_CASE("failing_rate is empty before any put") {
  const InMemoryBucket bucket({Rate(1, 1000)});
  CHECK_FALSE(bucket.failing_rate().has_value());
}

TEST_CASE("now reads the clock given to set_clock, and a null clock is refused") {
  InMemoryBucket bucket({Rate(1, 1000)});
  auto clock = std::make_shared<FakeClock>(123'456);
  bucket.set_clock(clock);
  CHECK(bucket.now() == 123'456);
  clock->advance(10);
  CHECK(bucket.now() == 123'466);
  CHECK_THROWS_AS(bucket.set_clock(nullptr), std::invalid_argument);
  CHECK(bucket.now() == 123'466);
}

TEST_CASE("An in-memory bucket has no limiter lock") {
  InMemoryBucket bucket({Rate(1, 1000)});
  CHECK(bucket.limiter_lock() == nullptr);
}

TEST_CASE("put admits items while the window has room and refuses the one that overflows it") {
  ClockedBucket b({Rate(3, 1000)});
  CHECK(b.bucket->put(item(0)));
  CHECK(b.bucket->put(item(10)));
  CHECK(b.bucket->put(item(20)));
  CHECK(b.bucket->count() == 3);
  CHECK_FALSE(b.bucket->put(item(30)));
}

TEST_CASE("put refuses an item when the window is full and records nothing") {
  ClockedBucket b({Rate(2, 1000)});
  REQUIRE(b.bucket->put(item(0, 1, "a")));
  REQUIRE(b.bucket->put(item(5, 1, "b")));
  CHECK_FALSE(b.bucket->put(item(10, 1, "c")));
  CHECK(b.bucket->count() == 2);
  CHECK(b.bucket->peek(0)->name == "b");
  CHECK(b.bucket->peek(1)->name == "a");
}

TEST_CASE("put counts slots at the window's lower bound (item.timestamp - interval, inclusive)") {
  ClockedBucket b({Rate(2, 1000)});
  REQUIRE(b.bucket->put(item(0)));
  REQUIRE(b.bucket->put(item(500)));
  CHECK_FALSE(b.bucket->put(item(1000)));  // the slot at 0 is still in [0, 1000]
  CHECK(b.bucket->put(item(1001)));        // it is not in [1, 1001]
  CHECK(b.bucket->count() == 3);
}

TEST_CASE("put counts slots newer than the item") {
  ClockedBucket b({Rate(2, 1000)});
  REQUIRE(b.bucket->put(item(5000)));
  REQUIRE(b.bucket->put(item(5000)));
  CHECK_FALSE(b.bucket->put(item(0)));  // window [-1000, 0] is empty, but newer slots count
  CHECK(b.bucket->count() == 2);
}

TEST_CASE("An item of weight W takes W slots, all or nothing") {
  ClockedBucket b({Rate(5, 1000)});
  CHECK(b.bucket->put(item(0, 3)));
  CHECK(b.bucket->count() == 3);
  CHECK_FALSE(b.bucket->put(item(1, 3)));
  CHECK(b.bucket->count() == 3);
  CHECK(b.bucket->put(item(1, 2)));
  CHECK(b.bucket->count() == 5);
  CHECK_FALSE(b.bucket->put(item(2, 1)));
}

TEST_CASE(
    "put checks every rate in ascending interval and sets failing_rate to the first full one") {
  ClockedBucket b({Rate(3, Duration::Minute), Rate(2, Duration::Second)});
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

TEST_CASE("A successful put clears failing_rate") {
  ClockedBucket b({Rate(1, 1000)});
  REQUIRE(b.bucket->put(item(0)));
  REQUIRE_FALSE(b.bucket->put(item(1)));
  REQUIRE(b.bucket->failing_rate().has_value());
  CHECK(b.bucket->put(item(1001)));
  CHECK_FALSE(b.bucket->failing_rate().has_value());
}

TEST_CASE("Weight 0 is admitted, records nothing and leaves failing_rate as it was") {
  ClockedBucket b({Rate(1, 1000)});
  CHECK(b.bucket->put(item(0, 0)));
  CHECK(b.bucket->count() == 0);
  CHECK_FALSE(b.bucket->failing_rate().has_value());
  REQUIRE(b.bucket->put(item(0)));
  REQUIRE_FALSE(b.bucket->put(item(1)));
  CHECK(b.bucket->put(item(2, 0)));  // full, yet weight 0 fits
  CHECK(b.bucket->count() == 1);
  CHECK(b.bucket->failing_rate() == Rate(1, 1000));
}

TEST_CASE("put throws invalid_argument for a negative weight and records nothing") {
  ClockedBucket b({Rate(5, 1000)});
  CHECK_THROWS_AS(b.bucket->put(item(0, -1)), std::invalid_argument);
  CHECK_THROWS_AS(b.bucket->put(item(0, std::numeric_limits<std::int64_t>::min())),
                  std::invalid_argument);
  CHECK(b.bucket->count() == 0);
}

TEST_CASE("A weight above every limit is refused without overflow") {
  ClockedBucket b({Rate(5, 1000)});
  REQUIRE(b.bucket->put(item(0, 2)));
  const RateItem huge = item(1, std::numeric_limits<std::int64_t>::max());
  CHECK_FALSE(b.bucket->put(huge));
  CHECK(b.bucket->count() == 2);
  CHECK(b.bucket->waiting(huge) == -1);
}

TEST_CASE("An item older than the newest slot is recorded with the newest slot's timestamp") {
  ClockedBucket b({Rate(3, 1000)});
  REQUIRE(b.bucket->put(item(1000, 1, "new")));
  CHECK(b.bucket->put(item(0, 1, "old")));  // a clock that stepped back
  CHECK(b.bucket->peek(0)->name == "old");
  CHECK(b.bucket->peek(0)->timestamp == 1000);
  CHECK(b.bucket->peek(1)->timestamp == 1000);
  CHECK(b.bucket->leak(2000) == 0);  // nothing is older than 2000 - 1000
  CHECK(b.bucket->leak(2001) == 2);
}

TEST_CASE("An item older than the newest slot is checked as if stamped with its timestamp") {
  ClockedBucket b({Rate(2, 1000)});
  REQUIRE(b.bucket->put(item(0)));
  REQUIRE(b.bucket->put(item(5000)));
  // At 0 the window [-1000, 0] would hold 2 slots; at 5000, [4000, 5000] holds 1.
  CHECK(b.bucket->put(item(0)));
  CHECK_FALSE(b.bucket->put(item(4500)));
}

TEST_CASE("An item older than the newest slot is waited for as if stamped with its timestamp") {
  ClockedBucket b({Rate(2, 1000)});
  REQUIRE(b.bucket->put(item(1000)));
  REQUIRE(b.bucket->put(item(1000)));
  const RateItem old = item(0);
  REQUIRE_FALSE(b.bucket->put(old));
  // As if stamped 1000: the slot at 1000 leaves [t - 1000, t] at t = 2001.
  CHECK(b.bucket->waiting(old) == 1001);
}

TEST_CASE("leak removes the slots older than the timestamp minus the widest interval") {
  ClockedBucket b({Rate(3, 100), Rate(10, 1000)});
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

TEST_CASE("leak without a timestamp uses the bucket's clock") {
  ClockedBucket b({Rate(5, 1000)});
  REQUIRE(b.bucket->put(item(0, 2)));
  REQUIRE(b.bucket->put(item(300)));
  b.clock->set(1000);
  CHECK(b.bucket->leak() == 0);
  b.clock->set(1001);
  CHECK(b.bucket->leak() == 2);
  b.clock->set(1301);
  CHECK(b.bucket->leak() == 1);
}

TEST_CASE("leak does not overflow at the extremes of the timestamp range") {
  ClockedBucket b({Rate(5, Duration::Week)});
  constexpr Millis kMin = std::numeric_limits<Millis>::min();
  REQUIRE(b.bucket->put(item(kMin)));
  CHECK(b.bucket->leak(kMin) == 0);
  CHECK(b.bucket->put(item(kMin + 1)));
  CHECK(b.bucket->count() == 2);
  CHECK(b.bucket->leak(std::numeric_limits<Millis>::max()) == 2);
}

TEST_CASE("flush removes every slot and clears failing_rate") {
  ClockedBucket b({Rate(2, 1000)});
  REQUIRE(b.bucket->put(item(0, 2)));
  REQUIRE_FALSE(b.bucket->put(item(1)));
  REQUIRE(b.bucket->failing_rate().has_value());
  b.bucket->flush();
  CHECK(b.bucket->count() == 0);
  CHECK_FALSE(b.bucket->failing_rate().has_value());
  CHECK_FALSE(b.bucket->peek(0).has_value());
  CHECK(b.bucket->put(item(2, 2)));
}

TEST_CASE("count includes slots that expired but were not leaked") {
  ClockedBucket b({Rate(2, 1000)});
  REQUIRE(b.bucket->put(item(0, 2)));
  REQUIRE(b.bucket->put(item(5000, 2)));
  CHECK(b.bucket->count() == 4);
  CHECK(b.bucket->leak(5000) == 2);
  CHECK(b.bucket->count() == 2);
}

TEST_CASE("peek returns slots from the newest, with their item's name and timestamp, weight 1") {
  ClockedBucket b({Rate(10, 1000)});
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

TEST_CASE("peek returns nothing for a negative index or one not below count") {
  ClockedBucket b({Rate(10, 1000)});
  CHECK_FALSE(b.bucket->peek(0).has_value());
  REQUIRE(b.bucket->put(item(0, 3)));
  CHECK_FALSE(b.bucket->peek(-1).has_value());
  CHECK_FALSE(b.bucket->peek(3).has_value());
  CHECK_FALSE(b.bucket->peek(std::numeric_limits<std::int64_t>::max()).has_value());
  CHECK_FALSE(b.bucket->peek(std::numeric_limits<std::int64_t>::min()).has_value());
  CHECK(b.bucket->peek(2).has_value());
}

TEST_CASE("peek indexes from the newest after older slots are leaked") {
  ClockedBucket b({Rate(10, 1000)});
  REQUIRE(b.bucket->put(item(0, 2, "old")));
  REQUIRE(b.bucket->put(item(1500, 1, "mid")));
  REQUIRE(b.bucket->put(item(1600, 1, "new")));
  REQUIRE(b.bucket->leak(1500) == 2);
  CHECK(b.bucket->peek(0)->name == "new");
  CHECK(b.bucket->peek(1)->name == "mid");
  CHECK_FALSE(b.bucket->peek(2).has_value());
}

TEST_CASE("waiting is 0 when no rate is failing") {
  ClockedBucket b({Rate(2, 1000)});
  CHECK(b.bucket->waiting(item(0)) == 0);
  REQUIRE(b.bucket->put(item(0)));
  CHECK(b.bucket->waiting(item(0, 5)) == 0);
}

TEST_CASE("waiting is -1 when the weight exceeds the failing rate's limit") {
  ClockedBucket b({Rate(3, 1000), Rate(10, Duration::Minute)});
  const RateItem too_heavy = item(0, 4);
  REQUIRE_FALSE(b.bucket->put(too_heavy));
  CHECK(b.bucket->failing_rate() == Rate(3, 1000));
  CHECK(b.bucket->waiting(too_heavy) == -1);
}

TEST_CASE("waiting is the time until the slot that must expire leaves the window") {
  ClockedBucket b({Rate(3, 1000)});
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

TEST_CASE("waiting is 0 when the slot that must expire is no longer held") {
  ClockedBucket b({Rate(2, 1000)});
  REQUIRE(b.bucket->put(item(0, 2)));
  const RateItem next = item(10);
  REQUIRE_FALSE(b.bucket->put(next));
  REQUIRE(b.bucket->leak(100'000) == 2);
  REQUIRE(b.bucket->failing_rate().has_value());
  CHECK(b.bucket->waiting(next) == 0);
}

TEST_CASE("close is idempotent") {
  ClockedBucket b({Rate(2, 1000)});
  REQUIRE(b.bucket->put(item(0)));
  b.bucket->close();
  CHECK_NOTHROW(b.bucket->close());
  CHECK_NOTHROW(b.bucket->close());
}

TEST_CASE("After close, put, flush, count, peek and waiting throw logic_error and leak returns 0") {
  ClockedBucket b({Rate(2, 1000)});
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

TEST_CASE("Bucket methods are safe to call from several threads at once") {
  // The clock stands still, so exactly `limit` of all the puts fit, whatever the interleaving,
  // while other threads leak the expired slots and read the bucket.
  constexpr std::int64_t kLimit = 2000;
  constexpr int kPutters = 4;
  constexpr int kPutsEach = 1000;
  ClockedBucket b({Rate(kLimit, 1000)});
  REQUIRE(b.bucket->put(item(0, 700, "expired")));
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
          admitted.store(-1'000'000);  // a weight of 1 always fits a limit of 2000
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
    }
  });
  for (auto& thread : threads) thread.join();
  putting.store(false);
  reader.join();
  leaked.fetch_add(b.bucket->leak());

  CHECK(admitted.load() == kLimit);
  CHECK(leaked.load() == 700);
  CHECK(b.bucket->count() == kLimit);
  CHECK(b.bucket->failing_rate() == Rate(kLimit, 1000));
}

namespace {

// The rules of DESIGN.md written as plainly as possible: one vector entry per slot.
class ReferenceBucket {
 public:
  explicit ReferenceBucket(std::vector<Rate> sorted_rates) : rates_(std::move(sorted_rates)) {}

  bool put(const RateItem& item) {
    if (item.weight == 0) return true;
    const Millis t = newest(item.timestamp);
    for (const Rate& rate : rates_) {
      std::int64_t in_window = 0;
      for (const RateItem& slot : slots_) in_window += slot.timestamp >= t - rate.interval ? 1 : 0;
      if (rate.limit - in_window < item.weight) {
        failing_ = rate;
        return false;
      }
    }
    slots_.insert(slots_.end(), static_cast<std::size_t>(item.weight), RateItem{item.name, t, 1});
    failing_.reset();
    return true;
  }
  std::int64_t leak(Millis t) {
    const auto before = slots_.size();
    std::erase_if(
        slots_, [&](const RateItem& slot) { return slot.timestamp < t - rates_.back().interval; });
    return static_cast<std::int64_t>(before - slots_.size());
  }
  std::optional<RateItem> peek(std::int64_t index) const {
    if (index < 0 || index >= static_cast<std::int64_t>(slots_.size())) return std::nullopt;
    return slots_[slots_.size() - 1 - static_cast<std::size_t>(index)];
  }
  Millis waiting(const RateItem& item) const {
    if (!failing_) return 0;
    if (item.weight > failing_->limit) return -1;
    const Millis t = newest(item.timestamp);
    const auto bound = peek(failing_->limit - item.weight);
    if (!bound) return 0;
    return std::max<Millis>(0, bound->timestamp - (t - failing_->interval) + 1);
  }
  std::int64_t count() const { return static_cast<std::int64_t>(slots_.size()); }
  const std::optional<Rate>& failing_rate() const { return failing_; }

 private:
  Millis newest(Millis timestamp) const {
    return slots_.empty() ? timestamp : std::max(timestamp, slots_.back().timestamp);
  }

  std::vector<Rate> rates_;
  std::vector<RateItem> slots_;
  std::optional<Rate> failing_;
};

}  // namespace

TEST_CASE("put, leak, peek and waiting follow the sliding-window rules in any sequence") {
  const std::vector<Rate> rates{Rate(4, 50), Rate(10, 400), Rate(20, 2000)};
  std::mt19937_64 random(20261127);
  for (int round = 0; round < 20; ++round) {
    ClockedBucket b(rates);
    ReferenceBucket reference(rates);
    Millis clock = 0;
    for (int step = 0; step < 1500; ++step) {
      const auto dice = random() % 100;
      if (dice < 70) {
        clock += static_cast<Millis>(random() % 40);
        // Now and then a timestamp from the past or the future, as a caller may give.
        const Millis timestamp = dice < 5    ? clock - static_cast<Millis>(random() % 3000)
                                 : dice < 10 ? clock + static_cast<Millis>(random() % 3000)
                                             : clock;
        const RateItem next{"n" + std::to_string(random() % 3), timestamp,
                            static_cast<std::int64_t>(random() % 6)};
        const bool admitted = b.bucket->put(next);
        REQUIRE(admitted == reference.put(next));
        REQUIRE(b.bucket->failing_rate() == reference.failing_rate());
        REQUIRE(b.bucket->waiting(next) == reference.waiting(next));
      } else if (dice < 85) {
        const Millis at = clock - 500 + static_cast<Millis>(random() % 3000);
        REQUIRE(b.bucket->leak(at) == reference.leak(at));
      } else if (dice < 86) {
        b.bucket->flush();
        reference = ReferenceBucket(rates);
      } else {
        const auto index = static_cast<std::int64_t>(random() % 25) - 2;
        const auto slot = b.bucket->peek(index);
        REQUIRE(slot.has_value() == reference.peek(index).has_value());
        if (slot) {
          REQUIRE(slot->timestamp == reference.peek(index)->timestamp);
          REQUIRE(slot->name == reference.peek(index)->name);
        }
      }
      REQUIRE(b.bucket->count() == reference.count());
    }
  }
}
