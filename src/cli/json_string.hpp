// Bucket names are any bytes: this makes them safe to print, in JSON and in text.
#pragma once

#include <string>
#include <string_view>

namespace pyrate::cli {

// `text` as a quoted JSON string: '"' and '\' escaped, control characters as \n, \t or \u00XX,
// and each byte that is not part of valid UTF-8 replaced by U+FFFD.
std::string json_string(std::string_view text);

}  // namespace pyrate::cli
