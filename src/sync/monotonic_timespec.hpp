// Deadlines for the kernel and pthread calls that wait on CLOCK_MONOTONIC.
#pragma once

#include <algorithm>
#include <chrono>
#include <ctime>

namespace pyrate {

// The steady clock's time point as a CLOCK_MONOTONIC timespec (libstdc++'s steady_clock reads
// CLOCK_MONOTONIC); a deadline before the clock's epoch becomes the epoch.
inline timespec monotonic_timespec(std::chrono::steady_clock::time_point deadline) {
  const auto since_epoch = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::max(deadline.time_since_epoch(), std::chrono::steady_clock::duration::zero()));
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  timespec result{};
  result.tv_sec = static_cast<std::time_t>(seconds.count());
  result.tv_nsec = static_cast<long>((since_epoch - seconds).count());
  return result;
}

}  // namespace pyrate
