// The decision at the heart of every bucket: a sliding-window log of unit slots checked
// against a rate list, written once for every store.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/millis_arithmetic.hpp"
#include "pyrate/bucket.hpp"
#include "pyrate/decision.hpp"
#include "pyrate/rate.hpp"

namespace pyrate::core {

// The slots of one window: how many, and the timestamp of the oldest (unset when none).
struct WindowCount {
  std::int64_t slots = 0;
  Millis oldest = 0;
};

// What a store answers about one bucket's slots, all from one consistent look at them:
// - window(rate_index, start): the slots stamped at or after `start`. `rate_index` is the
//   position in the rate list of the rate whose window it is, for a store that remembers
//   where each window began.
// - timestamp_at(position): the timestamp of the slot at `position` counting from the newest
//   (0 = newest). Asked only for a position below the count of a window just reported.
template <class View>
concept SlotView = requires(View& view, std::size_t rate_index, Millis start,
                            std::int64_t position) {
  { view.window(rate_index, start) } -> std::same_as<WindowCount>;
  { view.timestamp_at(position) } -> std::same_as<Millis>;
};

// The first timestamp inside the window of `interval` that ends at `timestamp` (the lower
// bound is inclusive), clamped at the smallest Millis.
constexpr Millis window_start(Millis timestamp, Millis interval) noexcept {
  return saturating_sub(timestamp, interval);
}

// The latest stamp an item stamped `item_timestamp` may meet in its decision: slots stamped
// later count as stamped here (the clock-step rule of bucket.hpp).
constexpr Millis stamp_ceiling(Millis item_timestamp) noexcept {
  return saturating_add(item_timestamp, kClockStepTolerance);
}

// The timestamp an item stamped `item_timestamp` is decided and recorded with, given the newest
// slot's stamp (none for an empty bucket): never older than the newest slot, never past the
// ceiling.
constexpr Millis decision_timestamp(Millis item_timestamp, std::optional<Millis> newest) noexcept {
  if (!newest) return item_timestamp;
  const Millis newest_seen =
      *newest < stamp_ceiling(item_timestamp) ? *newest : stamp_ceiling(item_timestamp);
  return newest_seen > item_timestamp ? newest_seen : item_timestamp;
}

// A store's view with every stamp past `ceiling` seen as `ceiling`: what a decision sees of
// slots stamped too far ahead before the store moves them back.
template <class View>
class CeilingView {
 public:
  CeilingView(View& view, Millis ceiling) : view_(view), ceiling_(ceiling) {}

  WindowCount window(std::size_t rate_index, Millis start) {
    WindowCount count = view_.window(rate_index, start);
    if (count.oldest > ceiling_) count.oldest = ceiling_;
    return count;
  }

  Millis timestamp_at(std::int64_t position) {
    const Millis stamp = view_.timestamp_at(position);
    return stamp > ceiling_ ? ceiling_ : stamp;
  }

 private:
  View& view_;
  const Millis ceiling_;
};

// Wait from `timestamp` until the slot stamped `slot` leaves the window of `interval`, for a
// slot inside that window (timestamp - interval <= slot <= timestamp, exactly): slot - timestamp
// then lies in [-interval, 0], so only the final + 1 can overflow, and it saturates.
constexpr Millis wait_until_expired(Millis slot, Millis timestamp, Millis interval) noexcept {
  return saturating_add(slot - timestamp + interval, 1);
}

// Decides whether `weight` (>= 0) slots stamped `timestamp` fit every rate of `rates` (sorted
// by interval and valid), given the slots that `view` reports, and fills every field of the
// Decision (see decision.hpp). Records nothing: a store that admits records the slots itself,
// inside the same look. `timestamp` must not be older than the newest slot (stores clamp it).
// Weight 0 is always admitted.
template <SlotView View>
Decision decide(const std::vector<Rate>& rates, Millis timestamp, std::int64_t weight, View& view) {
  Decision decision;
  decision.admitted = true;
  // The rate with the fewest free slots before the item, an overfull window counting as 0, and
  // its window; ties keep the narrower interval. An admitted item takes the same number of
  // slots from every rate, so this is also the tightest rate after it.
  std::size_t tightest = 0;
  std::int64_t fewest_free = 0;
  WindowCount tightest_window;
  for (std::size_t i = 0; i < rates.size(); ++i) {
    const Rate& rate = rates[i];
    const WindowCount window = view.window(i, window_start(timestamp, rate.interval));
    const std::int64_t free = rate.limit - window.slots;
    const std::int64_t free_or_zero = free < 0 ? 0 : free;
    if (i == 0 || free_or_zero < fewest_free) {
      tightest = i;
      fewest_free = free_or_zero;
      tightest_window = window;
    }
    if (weight == 0 || free >= weight) continue;
    if (decision.admitted) {
      decision.admitted = false;
      decision.failing_rate = rate;
    }
    if (decision.retry_after < 0) continue;
    if (weight > rate.limit) {
      decision.retry_after = -1;
      continue;
    }
    const Millis bound = view.timestamp_at(rate.limit - weight);
    const Millis wait = wait_until_expired(bound, timestamp, rate.interval);
    if (wait > decision.retry_after) decision.retry_after = wait;
  }

  const Rate& rate = rates[tightest];
  decision.tightest_rate = rate;
  decision.remaining = fewest_free;
  if (decision.admitted && weight > 0) {
    decision.remaining -= weight;
    if (tightest_window.slots == 0) tightest_window.oldest = timestamp;
    tightest_window.slots += weight;
  }
  if (tightest_window.slots > 0) {
    decision.reset_after = wait_until_expired(tightest_window.oldest, timestamp, rate.interval);
  }
  return decision;
}

}  // namespace pyrate::core
