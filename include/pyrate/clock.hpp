// Sources of time for buckets.
#pragma once

#include <chrono>
#include <type_traits>

#include "pyrate/export.hpp"
#include "pyrate/rate.hpp"

namespace pyrate {

// A source of millisecond timestamps. Implementations must be thread-safe.
class PYRATE_EXPORT Clock {
 public:
  virtual ~Clock() = default;
  virtual Millis now() = 0;
};

// Milliseconds since an arbitrary point (std::chrono::steady_clock); never steps backwards.
// The default clock of in-memory buckets.
class PYRATE_EXPORT MonotonicClock final : public Clock {
 public:
  Millis now() override;
};

// Milliseconds since the Unix epoch (std::chrono::system_clock). May step when the system
// time is set. The default clock of SQLite buckets, whose timestamps outlive the process.
class PYRATE_EXPORT SystemClock final : public Clock {
 public:
  Millis now() override;
};

// The steady-clock time `d` after `from`, rounded up to the clock's tick: for timed waits. A
// time too far for the clock to represent gives time_point::max() (wait for as long as it
// takes); a `d` of zero or less gives `from`.
template <class Rep, class Period>
std::chrono::steady_clock::time_point steady_time_after(std::chrono::steady_clock::time_point from,
                                                        std::chrono::duration<Rep, Period> d) {
  using SteadyClock = std::chrono::steady_clock;
  if (d <= d.zero()) return from;
  // The room left, in d's unit rounded down (and a representation wide enough to hold it):
  // any shorter d still fits once rounded up to a tick.
  using Wide = std::chrono::duration<std::common_type_t<Rep, SteadyClock::rep>, Period>;
  const auto room = std::chrono::duration_cast<Wide>(SteadyClock::time_point::max() - from);
  if (Wide(d) >= room) return SteadyClock::time_point::max();
  return from + std::chrono::ceil<SteadyClock::duration>(d);
}

// steady_time_after(now, d).
template <class Rep, class Period>
std::chrono::steady_clock::time_point steady_time_after(std::chrono::duration<Rep, Period> d) {
  return steady_time_after(std::chrono::steady_clock::now(), d);
}

}  // namespace pyrate
