// Watching a Limiter: a listener called on each decision, and counts of what happened.
#pragma once

#include <cstdint>
#include <exception>

#include "pyrate/decision.hpp"
#include "pyrate/export.hpp"
#include "pyrate/rate.hpp"

namespace pyrate {

// Told what a Limiter's acquires do. Every method is called on the acquiring thread, after
// the event and outside every lock the acquire holds, so it may take its time (the acquire
// waits for it) but must be thread-safe when the Limiter is used from several threads. An
// exception from a method is reported once on stderr and otherwise ignored: it never turns an
// admission into a refusal, and a recorded slot stays recorded. The defaults do nothing.
class PYRATE_EXPORT AcquireListener {
 public:
  virtual ~AcquireListener() = default;
  // `item` was admitted; `decision` is the bucket's.
  virtual void on_admitted(const RateItem& /*item*/, const Decision& /*decision*/) {}
  // The acquire of `item` returns refused: not blocking and no room, timed out, or never
  // fits. `decision` is the last check's. (A check that a blocking acquire follows with a
  // sleep is reported by on_waited after the sleep.)
  virtual void on_refused(const RateItem& /*item*/, const Decision& /*decision*/) {}
  // A blocking acquire of `item` slept `slept` ms before checking again.
  virtual void on_waited(const RateItem& /*item*/, Millis /*slept*/) {}
  // The acquire of `item` failed with `error`, which it then throws.
  virtual void on_error(const RateItem& /*item*/, std::exception_ptr /*error*/) {}
};

// What a Limiter's acquires did since it was made.
struct PYRATE_EXPORT LimiterStats {
  std::int64_t admitted = 0;  // acquires that returned admitted
  std::int64_t refused = 0;   // acquires that returned refused
  std::int64_t waits = 0;     // sleeps of blocking acquires
  std::int64_t errors = 0;    // acquires that threw
  Millis waited_ms = 0;       // the time those sleeps took, measured
};

}  // namespace pyrate
