#include "support/window_check.hpp"

#include <algorithm>

namespace pyrate::testing {

std::int64_t busiest_window(const std::vector<Millis>& stamps, Millis interval) {
  std::int64_t busiest = 0;
  std::size_t first = 0;
  for (std::size_t last = 0; last < stamps.size(); ++last) {
    while (stamps[first] < stamps[last] - interval) ++first;
    busiest = std::max<std::int64_t>(busiest, static_cast<std::int64_t>(last - first + 1));
  }
  return busiest;
}

bool respects_rates(const std::vector<Millis>& stamps, const std::vector<Rate>& rates) {
  return std::all_of(rates.begin(), rates.end(), [&](const Rate& rate) {
    return busiest_window(stamps, rate.interval) <= rate.limit;
  });
}

}  // namespace pyrate::testing
