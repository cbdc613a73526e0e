// The check every acquire makes of its options, sync or async.
#pragma once

#include "pyrate/limiter.hpp"

namespace pyrate::limiter {

// Throws std::invalid_argument for a negative weight, a negative timeout, or a timeout without
// blocking.
void check_acquire_options(const AcquireOptions& options);

}  // namespace pyrate::limiter
