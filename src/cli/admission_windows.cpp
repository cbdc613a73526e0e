#include "admission_windows.hpp"

#include <algorithm>

namespace pyrate::cli {

std::int64_t max_in_window(const std::vector<std::int64_t>& times, std::int64_t window) {
  // The busiest window can always start at an admission.
  std::int64_t best = 0;
  std::size_t end = 0;
  for (std::size_t start = 0; start < times.size(); ++start) {
    end = std::max(end, start);
    while (end < times.size() && times[end] < times[start] + window) ++end;
    best = std::max(best, static_cast<std::int64_t>(end - start));
  }
  return best;
}

std::int64_t max_in_window_spanning(const std::vector<std::int64_t>& times, std::int64_t window,
                                    std::int64_t boundary) {
  const auto first_after = std::lower_bound(times.begin(), times.end(), boundary);
  if (first_after == times.end()) return 0;
  // A spanning window can start at an admission before the boundary and must reach the first
  // one after it.
  std::int64_t best = 0;
  for (auto start = times.begin(); start != first_after; ++start) {
    if (*start + window <= *first_after) continue;
    const auto end = std::lower_bound(start, times.end(), *start + window);
    best = std::max(best, static_cast<std::int64_t>(end - start));
  }
  return best;
}

std::int64_t count_between(const std::vector<std::int64_t>& times, std::int64_t from,
                           std::int64_t to) {
  return std::lower_bound(times.begin(), times.end(), to) -
         std::lower_bound(times.begin(), times.end(), from);
}

}  // namespace pyrate::cli
