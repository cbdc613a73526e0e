// Checking a log of admissions against rates, the way a bucket counts its windows: the window
// of a rate at time t holds the slots stamped in [t - interval, t], both ends included.
#pragma once

#include <cstdint>
#include <pyrate/rate.hpp>
#include <vector>

namespace pyrate::testing {

// The most slots found in one window of `interval` ending at any slot's timestamp. `stamps`
// holds one timestamp per slot, sorted.
std::int64_t busiest_window(const std::vector<Millis>& stamps, Millis interval);

// True when no window of any rate holds more than its limit. `stamps` as above.
bool respects_rates(const std::vector<Millis>& stamps, const std::vector<Rate>& rates);

}  // namespace pyrate::testing
