// The lock a bucket shares with other processes.
#pragma once

#include <chrono>

#include "pyrate/clock.hpp"
#include "pyrate/export.hpp"

namespace pyrate {

// A mutex that satisfies Lockable and TimedLockable, so std::lock_guard and std::unique_lock
// work with it. It must be unlocked by the thread that locked it. Implementations exclude
// other threads and, for buckets shared between processes, other processes.
class PYRATE_EXPORT LimiterLock {
 public:
  virtual ~LimiterLock() = default;

  // Blocks until the lock is held.
  virtual void lock() = 0;
  // Takes the lock if it is free; never blocks.
  virtual bool try_lock() = 0;
  // Blocks until the lock is held (true) or `deadline` passes (false).
  virtual bool try_lock_until(std::chrono::steady_clock::time_point deadline) = 0;
  // try_lock_until(steady_time_after(d)): a `d` too long for the clock means no time limit.
  template <class Rep, class Period>
  bool try_lock_for(std::chrono::duration<Rep, Period> d) {
    return try_lock_until(steady_time_after(d));
  }
  virtual void unlock() = 0;
};

}  // namespace pyrate
