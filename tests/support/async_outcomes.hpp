// Test support for the async limiter and buckets: what each completion delivered, on which
// thread and when.
#pragma once

#include <utility>
//
#include <chrono>
#include <cstddef>
#include <exception>
#include <mutex>
#include <pyrate/decision.hpp>
#include <string>
#include <thread>
#include <vector>

namespace pyrate_test {

// What one completion delivered.
struct Outcome {
  bool done = false;
  int calls = 0;
  std::exception_ptr error;
  pyrate::Decision decision;
  std::thread::id thread;
  std::chrono::steady_clock::time_point at;
};

// The outcomes of `size` completions, each recorded by handler(i), and the order in which
// they came. Thread-safe.
class Outcomes {
 public:
  explicit Outcomes(std::size_t size) : outcomes_(size) {}

  auto handler(std::size_t index) {
    return [this, index](std::exception_ptr error, pyrate::Decision decision) {
      std::lock_guard lock(mutex_);
      Outcome& outcome = outcomes_.at(index);
      outcome.done = true;
      ++outcome.calls;
      outcome.error = std::move(error);
      outcome.decision = std::move(decision);
      outcome.thread = std::this_thread::get_id();
      outcome.at = std::chrono::steady_clock::now();
      order_.push_back(index);
    };
  }

  Outcome at(std::size_t index) const {
    std::lock_guard lock(mutex_);
    return outcomes_.at(index);
  }
  std::vector<std::size_t> order() const {
    std::lock_guard lock(mutex_);
    return order_;
  }
  std::size_t completed() const {
    std::lock_guard lock(mutex_);
    return order_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Outcome> outcomes_;
  std::vector<std::size_t> order_;
};

// The message of the exception in `error`; "" for none.
inline std::string message_of(const std::exception_ptr& error) {
  if (!error) return "";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "non-standard exception";
  }
}

}  // namespace pyrate_test
