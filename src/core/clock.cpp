#include "pyrate/clock.hpp"

#include <time.h>

#include <chrono>

namespace pyrate {
namespace {

template <class ChronoClock>
Millis millis_since_epoch() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             ChronoClock::now().time_since_epoch())
      .count();
}

}  // namespace

// CLOCK_MONOTONIC, steady_clock's own clock, read directly: one call fewer than through the
// library's steady_clock::now().
Millis MonotonicClock::now() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<Millis>(now.tv_sec) * 1000 + now.tv_nsec / 1'000'000;
}

Millis SystemClock::now() { return millis_since_epoch<std::chrono::system_clock>(); }

}  // namespace pyrate
