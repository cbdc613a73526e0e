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

std::int64_t max_in_window_around(const std::vector<std::int64_t>& times, std::int64_t window,
                                  std::int64_t moment) {
  // The window may start anywhere in [moment - window + 1, moment]; the busiest starts there
  // or at an admission within that range.
  const std::int64_t earliest = moment - window + 1;
  std::int64_t best = count_between(times, earliest, earliest + window);
  for (auto start = std::lower_bound(times.begin(), times.end(), earliest);
       start != times.end() && *start <= moment; ++start) {
    best = std::max(best, count_between(times, *start, *start + window));
  }
  return best;
}

std::int64_t count_between(const std::vector<std::int64_t>& times, std::int64_t from,
                           std::int64_t to) {
  return std::lower_bound(times.begin(), times.end(), to) -
         std::lower_bound(times.begin(), times.end(), from);
}

}  // namespace pyrate::cli
