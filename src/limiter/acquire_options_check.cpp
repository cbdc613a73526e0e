#include "limiter/acquire_options_check.hpp"

#include <stdexcept>
#include <string>

namespace pyrate::limiter {

void check_unusual_acquire_options(const AcquireOptions& options) {
  if (options.weight < 0) {
    throw std::invalid_argument("acquire weight must not be negative, got " +
                                std::to_string(options.weight));
  }
  if (options.timeout && options.timeout->count() < 0) {
    throw std::invalid_argument("acquire timeout must not be negative, got " +
                                std::to_string(options.timeout->count()) + "ms");
  }
  if (options.timeout && !options.blocking) {
    throw std::invalid_argument("acquire timeout applies only to blocking acquires");
  }
}

}  // namespace pyrate::limiter
