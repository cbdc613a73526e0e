// The rate list every bucket is built with, and the text form stores keep it in.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pyrate/rate.hpp"

namespace pyrate::core {

// `rates` sorted by interval (stably) and validated with validate_rate_list.
// Throws std::invalid_argument, listing the rates, when they are invalid.
std::vector<Rate> sorted_rate_list(std::vector<Rate> rates);

// A rate list as stores record it beside a bucket (SQLite's buckets table, Redis's ":rates"
// key): "5/1000,100/60000", limit/interval_ms in the list's order.
std::string encode_rate_list(const std::vector<Rate>& rates);

// The inverse of encode_rate_list. Throws std::invalid_argument for text it did not produce.
std::vector<Rate> decode_rate_list(std::string_view text);

}  // namespace pyrate::core
