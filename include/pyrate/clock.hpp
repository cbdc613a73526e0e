// Sources of time for buckets.
#pragma once

#include <chrono>

#include "pyrate/rate.hpp"

namespace pyrate {

// A source of millisecond timestamps. Implementations must be thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Millis now() = 0;
};

// Milliseconds since an arbitrary point (std::chrono::steady_clock); never steps backwards.
// The default clock of in-memory buckets.
class MonotonicClock final : public Clock {
 public:
  Millis now() override;
};

// Milliseconds since the Unix epoch (std::chrono::system_clock). May step when the system
// time is set. The default clock of SQLite buckets, whose timestamps outlive the process.
class SystemClock final : public Clock {
 public:
  Millis now() override;
};

// The steady-clock time `d` from now, rounded up to the clock's tick: for timed waits. A `d`
// too long for the clock to represent gives time_point::max() (wait for as long as it takes);
// a `d` of zero or less gives now.
template <class Rep, class Period>
std::chrono::steady_clock::time_point steady_time_after(std::chrono::duration<Rep, Period> d) {
  using SteadyClock = std::chrono::steady_clock;
  const auto now = SteadyClock::now();
  if (d <= d.zero()) return now;
  const auto room = SteadyClock::time_point::max() - now;
  if (std::chrono::duration<double>(d) >= std::chrono::duration<double>(room)) {
    return SteadyClock::time_point::max();
  }
  return now + std::chrono::ceil<SteadyClock::duration>(d);
}

}  // namespace pyrate
