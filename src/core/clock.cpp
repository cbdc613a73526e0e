#include "pyrate/clock.hpp"

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

Millis MonotonicClock::now() { return millis_since_epoch<std::chrono::steady_clock>(); }

Millis SystemClock::now() { return millis_since_epoch<std::chrono::system_clock>(); }

}  // namespace pyrate
