// Rates, the items a bucket holds, and rate-list validation.
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "pyrate/export.hpp"

namespace pyrate {

// Timestamps and intervals, in milliseconds.
using Millis = std::int64_t;

// Common intervals, in milliseconds.
enum class Duration : Millis {
  Second = 1000,
  Minute = 60'000,
  Hour = 3'600'000,
  Day = 86'400'000,
  Week = 604'800'000,
};

// Scales a Duration: Duration::Second * 2 == 2000, 1.5 * Duration::Second == 1500.
// The product is rounded to the nearest millisecond, halves away from zero.
// Throws std::out_of_range when it is not a number or does not fit in Millis.
constexpr Millis operator*(Duration d, double k) {
  const double product = static_cast<double>(static_cast<Millis>(d)) * k;
  const double rounded = product >= 0 ? product + 0.5 : product - 0.5;
  constexpr double kLimit = 9223372036854775808.0;  // 2^63
  if (!(rounded >= -kLimit && rounded < kLimit)) {
    throw std::out_of_range("Duration * factor does not fit in Millis");
  }
  return static_cast<Millis>(rounded);
}
constexpr Millis operator*(double k, Duration d) { return d * k; }

// At most `limit` unit slots in any window of `interval` milliseconds.
struct PYRATE_EXPORT Rate {
  std::int64_t limit;
  Millis interval;

  // Throws std::invalid_argument unless both limit and interval are > 0.
  Rate(std::int64_t limit, Millis interval);
  Rate(std::int64_t limit, Duration interval);
  // The interval is rounded up to whole milliseconds (std::chrono::ceil). Throws
  // std::invalid_argument also for an interval too long for Millis.
  template <class Rep, class Period>
  Rate(std::int64_t limit, std::chrono::duration<Rep, Period> interval)
      : Rate(limit, ceil_millis(interval)) {}

  bool operator==(const Rate&) const = default;

 private:
  template <class Rep, class Period>
  static Millis ceil_millis(std::chrono::duration<Rep, Period> interval) {
    const double millis = std::chrono::duration<double, std::milli>(interval).count();
    if (!(millis > -9.2e18 && millis < 9.2e18)) {
      throw std::invalid_argument("rate interval does not fit in a count of milliseconds");
    }
    return std::chrono::ceil<std::chrono::milliseconds>(interval).count();
  }
};

// "limit=5/2.0s", "limit=3/500ms", "limit=100/1.0m": the interval in the largest of
// w, d, h, m, s that it reaches, with one decimal; in ms below one second.
PYRATE_EXPORT std::string to_string(const Rate& rate);

// Formats a list as "[limit=5/1.0s, limit=100/1.0m]".
PYRATE_EXPORT std::string to_string(const std::vector<Rate>& rates);

// One request for capacity: `weight` unit slots stamped `timestamp`, put by `name`.
struct PYRATE_EXPORT RateItem {
  std::string name;
  Millis timestamp = 0;
  std::int64_t weight = 1;
};

// True when `rates`, in the order given, is non-empty, every rate has a positive limit and
// interval, intervals and limits both strictly increase, and the density (limit / interval)
// never increases. Never throws.
PYRATE_EXPORT bool validate_rate_list(const std::vector<Rate>& rates);

}  // namespace pyrate
