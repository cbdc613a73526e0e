// The check every acquire makes of its options, sync or async.
#pragma once

#include "pyrate/limiter.hpp"

namespace pyrate::limiter {

// Throws std::invalid_argument for a negative weight, a negative timeout, or a timeout without
// blocking.
void check_unusual_acquire_options(const AcquireOptions& options);

// The same, with the common case inline: a non-negative weight without a timeout is valid.
inline void check_acquire_options(const AcquireOptions& options) {
  if (options.weight < 0 || options.timeout) check_unusual_acquire_options(options);
}

}  // namespace pyrate::limiter
