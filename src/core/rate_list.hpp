// The rate list every bucket is built with.
#pragma once

#include <vector>

#include "pyrate/rate.hpp"

namespace pyrate::core {

// `rates` sorted by interval (stably) and validated with validate_rate_list.
// Throws std::invalid_argument, listing the rates, when they are invalid.
std::vector<Rate> sorted_rate_list(std::vector<Rate> rates);

}  // namespace pyrate::core
