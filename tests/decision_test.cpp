// The decision core (src/core/sliding_window.hpp) on a plain store, and the default
// AbstractBucket::admit that buckets written outside pyrate inherit.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <optional>
#include <pyrate/pyrate.hpp>
#include <vector>

#include "core/sliding_window.hpp"

using pyrate::Decision;
using pyrate::Millis;
using pyrate::Rate;
using pyrate::RateItem;
using pyrate::core::WindowCount;

namespace {

// A store that is a sorted vector of slot timestamps, oldest first, counting what it is asked.
struct VectorSlots {
  std::vector<Millis> stamps;
  int window_calls = 0;
  int timestamp_calls = 0;

  WindowCount window(std::size_t /*rate_index*/, Millis start) {
    ++window_calls;
    WindowCount count;
    for (const Millis stamp : stamps) {
      if (stamp < start) continue;
      if (count.slots == 0) count.oldest = stamp;
      ++count.slots;
    }
    return count;
  }
  Millis timestamp_at(std::int64_t position) {
    ++timestamp_calls;
    return stamps[stamps.size() - 1 - static_cast<std::size_t>(position)];
  }
};

}  // namespace

TEST_CASE("decide admits when every rate has room and reports the tightest rate after it") {
  VectorSlots slots{{0, 500}};
  const std::vector<Rate> rates{Rate(3, 1000), Rate(4, 10'000)};
  const Decision decision = pyrate::core::decide(rates, 900, 1, slots);
  CHECK(decision.admitted);
  CHECK(static_cast<bool>(decision));
  CHECK_FALSE(decision.failing_rate.has_value());
  CHECK(decision.retry_after == 0);
  // After it 3/s has no slot free and 4/10s one.
  CHECK(decision.tightest_rate == Rate(3, 1000));
  CHECK(decision.remaining == 0);
  CHECK(decision.reset_after == 0 + 1000 - 900 + 1);
  CHECK(slots.timestamp_calls == 0);
}

TEST_CASE("decide looks up one slot per rate without room, and none when admitted") {
  VectorSlots slots{{0, 100, 200, 300}};
  const std::vector<Rate> rates{Rate(2, 1000), Rate(4, 10'000)};
  const Decision refused = pyrate::core::decide(rates, 400, 1, slots);
  CHECK_FALSE(refused.admitted);
  CHECK(refused.failing_rate == Rate(2, 1000));
  CHECK(slots.window_calls == 2);
  CHECK(slots.timestamp_calls == 2);
  // 2/s waits for peek(1) = 200 to leave; 4/10s for peek(3) = 0: the larger wait.
  CHECK(refused.retry_after == 0 - (400 - 10'000) + 1);
}

TEST_CASE("decide reports -1 when the weight exceeds any limit, even behind a finite wait") {
  VectorSlots slots{{0, 100}};
  const std::vector<Rate> rates{Rate(2, 1000), Rate(4, 10'000)};
  const Decision never = pyrate::core::decide(rates, 200, 3, slots);
  CHECK_FALSE(never.admitted);
  CHECK(never.failing_rate == Rate(2, 1000));
  CHECK(never.retry_after == -1);
}

TEST_CASE("decide of weight 0 admits even an overfull window and reports no free slot") {
  VectorSlots slots{{0, 0, 0}};
  const Decision decision = pyrate::core::decide({Rate(2, 1000)}, 10, 0, slots);
  CHECK(decision.admitted);
  CHECK(decision.remaining == 0);
  CHECK(decision.reset_after == 991);
}

TEST_CASE("decide breaks a tie of free slots in favour of the narrower interval") {
  VectorSlots slots{{0, 0}};
  const Decision decision = pyrate::core::decide({Rate(3, 1000), Rate(4, 5000)}, 10, 1, slots);
  CHECK(decision.tightest_rate == Rate(3, 1000));
  CHECK(decision.remaining == 0);
  VectorSlots wider{{0}};
  CHECK(pyrate::core::decide({Rate(3, 1000), Rate(4, 5000)}, 2000, 1, wider).tightest_rate ==
        Rate(3, 1000));
}

TEST_CASE("decide saturates instead of overflowing at the edges of Millis") {
  constexpr Millis kMax = std::numeric_limits<Millis>::max();
  constexpr Millis kMin = std::numeric_limits<Millis>::min();
  VectorSlots slots{{kMax - 1}};
  const Decision refused = pyrate::core::decide({Rate(1, kMax)}, kMax, 1, slots);
  CHECK_FALSE(refused.admitted);
  CHECK(refused.retry_after == kMax);
  CHECK(refused.reset_after == kMax);
  // A window reaching below the smallest Millis: the slot at kMin leaves it at 0.
  VectorSlots early{{kMin}};
  const Decision at_min = pyrate::core::decide({Rate(1, kMax)}, kMin + 1, 1, early);
  CHECK_FALSE(at_min.admitted);
  CHECK(at_min.retry_after == kMax);
}

namespace {

// A bucket written outside pyrate: a plain log behind put/peek/count, inheriting admit() and
// waiting() from AbstractBucket.
class PlainBucket final : public pyrate::AbstractBucket {
 public:
  explicit PlainBucket(std::vector<Rate> rates) : AbstractBucket(std::move(rates)) {}
  bool put(const RateItem& item) override {
    const Millis t = stamps_.empty() ? item.timestamp : std::max(item.timestamp, stamps_.back());
    for (const Rate& rate : rates()) {
      const auto held = std::count_if(stamps_.begin(), stamps_.end(),
                                      [&](Millis s) { return s >= t - rate.interval; });
      if (rate.limit - held < item.weight) {
        set_failing_rate(rate);
        return false;
      }
    }
    stamps_.insert(stamps_.end(), static_cast<std::size_t>(item.weight), t);
    set_failing_rate(std::nullopt);
    return true;
  }
  std::int64_t leak(std::optional<Millis> /*current_timestamp*/) override { return 0; }
  void flush() override { stamps_.clear(); }
  std::int64_t count() override { return static_cast<std::int64_t>(stamps_.size()); }
  std::optional<RateItem> peek(std::int64_t index) override {
    if (index < 0 || index >= count()) return std::nullopt;
    return RateItem{"plain", stamps_[stamps_.size() - 1 - static_cast<std::size_t>(index)], 1};
  }

 private:
  std::vector<Millis> stamps_;
};

}  // namespace

TEST_CASE("The default admit reports put's verdict, the failing rate's wait and the state left") {
  PlainBucket bucket({Rate(2, 1000), Rate(3, 10'000)});
  const Decision first = bucket.admit(RateItem{"a", 0, 1});
  CHECK(first.admitted);
  CHECK(first.tightest_rate == Rate(2, 1000));
  CHECK(first.remaining == 1);
  CHECK(first.reset_after == 1001);
  REQUIRE(bucket.admit(RateItem{"a", 100, 1}).admitted);
  const Decision refused = bucket.admit(RateItem{"a", 200, 1});
  CHECK_FALSE(refused.admitted);
  CHECK(refused.failing_rate == Rate(2, 1000));
  CHECK(refused.retry_after == 0 - (200 - 1000) + 1);
  CHECK(refused.tightest_rate == Rate(2, 1000));
  CHECK(refused.remaining == 0);
  CHECK(refused.reset_after == 801);
}

TEST_CASE("The default waiting saturates at the edges of Millis instead of overflowing") {
  constexpr Millis kMax = std::numeric_limits<Millis>::max();
  PlainBucket wide({Rate(1, kMax)});
  REQUIRE(wide.put(RateItem{"a", 0, 1}));
  REQUIRE_FALSE(wide.put(RateItem{"a", 0, 1}));
  CHECK(wide.waiting(RateItem{"a", 0, 1}) == kMax);  // 0 - (0 - kMax) + 1
  CHECK(wide.admit(RateItem{"a", 0, 1}).retry_after == kMax);
  PlainBucket before_epoch({Rate(1, kMax)});
  REQUIRE(before_epoch.put(RateItem{"a", -1, 1}));
  REQUIRE_FALSE(before_epoch.put(RateItem{"a", -1, 1}));
  CHECK(before_epoch.waiting(RateItem{"a", -1, 1}) == kMax);  // -1 - (-1 - kMax) + 1
  // A slot that left the window since put() looked: no wait, however far it lies.
  CHECK(before_epoch.waiting(RateItem{"a", kMax, 1}) == 0);
}
