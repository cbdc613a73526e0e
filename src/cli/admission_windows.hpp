// Measures how many admissions fell in the busiest window: the demo's verdict.
#pragma once

#include <cstdint>
#include <vector>

namespace pyrate::cli {

// The most of `times` (sorted ascending) that lie in any half-open window [t, t + window).
std::int64_t max_in_window(const std::vector<std::int64_t>& times, std::int64_t window);

// The most of `times` (sorted ascending) in any window [t, t + window) that contains the
// instant `moment`.
std::int64_t max_in_window_around(const std::vector<std::int64_t>& times, std::int64_t window,
                                  std::int64_t moment);

// How many of `times` lie in [from, to).
std::int64_t count_between(const std::vector<std::int64_t>& times, std::int64_t from,
                           std::int64_t to);

}  // namespace pyrate::cli
