// A clock for tests: it reads a value the test sets, and never moves by itself.
#pragma once

#include <atomic>
#include <pyrate/clock.hpp>

namespace pyrate_test {

class FakeClock final : public pyrate::Clock {
 public:
  explicit FakeClock(pyrate::Millis start = 0) : now_(start) {}

  pyrate::Millis now() override { return now_.load(); }
  void set(pyrate::Millis timestamp) { now_.store(timestamp); }
  void advance(pyrate::Millis delta) { now_.fetch_add(delta); }

 private:
  std::atomic<pyrate::Millis> now_;
};

}  // namespace pyrate_test
