#include "pyrate/bucket.hpp"

#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <string>

#include "core/rate_list.hpp"
#include "core/sliding_window.hpp"

namespace pyrate {
namespace {

// A bucket's slots as its public peek() shows them, for buckets that offer nothing better.
class PeekedSlots {
 public:
  PeekedSlots(AbstractBucket& bucket, std::int64_t held) : bucket_(bucket), held_(held) {}

  // The window is found by a binary search over positions: timestamps never increase with
  // the position.
  core::WindowCount window(std::size_t /*rate_index*/, Millis start) {
    std::int64_t low = 0;
    std::int64_t high = held_;
    while (low < high) {
      const std::int64_t middle = low + (high - low) / 2;
      if (timestamp_at(middle) >= start) {
        low = middle + 1;
      } else {
        high = middle;
      }
    }
    return core::WindowCount{low, low > 0 ? timestamp_at(low - 1) : 0};
  }

  Millis timestamp_at(std::int64_t position) {
    const std::optional<RateItem> slot = bucket_.peek(position);
    return slot ? slot->timestamp : 0;
  }

 private:
  AbstractBucket& bucket_;
  std::int64_t held_;
};

}  // namespace

namespace core {

std::vector<Rate> sorted_rate_list(std::vector<Rate> rates) {
  std::stable_sort(rates.begin(), rates.end(),
                   [](const Rate& a, const Rate& b) { return a.interval < b.interval; });
  if (!validate_rate_list(rates)) {
    throw std::invalid_argument(
        "invalid rate list " + to_string(rates) +
        ": intervals and limits must strictly increase and limit/interval must not increase");
  }
  return rates;
}

}  // namespace core

// Every clock a bucket was given, guarded for set_clock.
struct AbstractBucket::ClockHistory {
  std::mutex mutex;
  std::vector<std::shared_ptr<Clock>> clocks;
};

namespace {

// The clock of every bucket until set_clock replaces it: stateless, never destroyed.
Clock* shared_monotonic_clock() {
  static MonotonicClock* const clock = new MonotonicClock;
  return clock;
}

// Guards the creation of a bucket's ClockHistory.
std::mutex clock_history_creation;

}  // namespace

AbstractBucket::AbstractBucket(std::vector<Rate> rates)
    : rates_(core::sorted_rate_list(std::move(rates))), clock_(shared_monotonic_clock()) {}

AbstractBucket::~AbstractBucket() = default;

std::optional<Rate> AbstractBucket::failing_rate() const {
  const int index = failing_rate_index_.load(std::memory_order_acquire);
  if (index < 0) return std::nullopt;
  return rates_[static_cast<std::size_t>(index)];
}

void AbstractBucket::set_failing_rate(std::optional<Rate> rate) {
  if (!rate) {
    clear_failing_rate();
    return;
  }
  const auto found = std::find(rates_.begin(), rates_.end(), *rate);
  if (found == rates_.end()) {
    throw std::invalid_argument("failing rate " + to_string(*rate) + " is not one of " +
                                to_string(rates_));
  }
  failing_rate_index_.store(static_cast<int>(found - rates_.begin()), std::memory_order_release);
}

void AbstractBucket::set_clock(std::shared_ptr<Clock> clock) {
  if (!clock) throw std::invalid_argument("set_clock: clock must not be null");
  {
    std::lock_guard creation(clock_history_creation);
    if (!clocks_) clocks_ = std::make_unique<ClockHistory>();
  }
  std::lock_guard lock(clocks_->mutex);
  Clock* const current = clock.get();
  std::vector<std::shared_ptr<Clock>>& clocks = clocks_->clocks;
  if (std::find(clocks.begin(), clocks.end(), clock) == clocks.end()) {
    clocks.push_back(std::move(clock));
  }
  clock_.store(current, std::memory_order_release);
}

Millis AbstractBucket::now() { return clock_.load(std::memory_order_acquire)->now(); }

Millis AbstractBucket::waiting(const RateItem& item) {
  throw_if_closed("waiting");
  const std::optional<Rate> rate = failing_rate();
  if (!rate) return 0;
  if (item.weight > rate->limit) return -1;
  Millis timestamp = item.timestamp;
  if (const auto newest = peek(0)) timestamp = std::max(timestamp, newest->timestamp);
  const std::optional<RateItem> bound = peek(rate->limit - item.weight);
  if (!bound) return 0;
  // bound - (timestamp - interval) + 1, saturated: the slot may have left the window since
  // put() looked, and the window may reach below the smallest Millis.
  const Millis since = core::saturating_sub(bound->timestamp, timestamp);
  return std::max<Millis>(0, core::saturating_add(core::saturating_add(since, rate->interval), 1));
}

Decision AbstractBucket::admit(const RateItem& item) {
  const bool admitted = put(item);
  const std::optional<Rate> failing = admitted ? std::nullopt : failing_rate();
  const Millis wait = admitted ? 0 : waiting(item);
  // The report of the state put() left: the tightest rate's free slots, recorded ones counted.
  Millis timestamp = item.timestamp;
  if (const std::optional<RateItem> newest = peek(0)) {
    timestamp = std::max(timestamp, newest->timestamp);
  }
  PeekedSlots slots(*this, count());
  Decision decision = core::decide(rates(), timestamp, 0, slots);
  decision.admitted = admitted;
  decision.failing_rate = failing;
  decision.retry_after = wait;
  return decision;
}

LimiterLock* AbstractBucket::limiter_lock() { return nullptr; }

void AbstractBucket::close() { closed_.store(true, std::memory_order_release); }

void AbstractBucket::throw_closed(const char* operation) {
  throw std::logic_error(std::string(operation) + ": the bucket is closed");
}

void AbstractBucket::throw_negative_weight(std::int64_t weight) {
  throw std::invalid_argument("item weight must not be negative, got " + std::to_string(weight));
}

}  // namespace pyrate
