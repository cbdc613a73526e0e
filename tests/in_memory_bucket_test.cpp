// InMemoryBucket: what only the in-memory bucket does, and a randomized check against a plain
// reference model of the rules. The rules every bucket obeys are in bucket_contract_test.cpp.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <pyrate/pyrate.hpp>
#include <random>
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
