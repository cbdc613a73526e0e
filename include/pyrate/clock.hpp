// Sources of time for buckets.
#pragma once

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

}  // namespace pyrate
