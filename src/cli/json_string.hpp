// Bucket names are any bytes: this makes them safe to print, in JSON and in text.
#pragma once

#include <string>
#include <string_view>

namespace pyrate::cli {

// `text` as a quoted JSON string: '"' and '\' escaped, control characters as \n, \t or \u00XX,
// and each byte that is not part of valid UTF-8 replaced by U+FFFD.
std::string json_string(std::string_view text);

// A bucket name as a one-line message shows it: json_string of the name, or of its first 64
// bytes followed by "…" and the size when it is longer (see core::shown_name).
std::string shown_name(std::string_view name);

}  // namespace pyrate::cli
