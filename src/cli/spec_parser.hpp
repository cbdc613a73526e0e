// The command line's value grammars (rate SPECs, DURATIONs, counts, exit statuses) and the
// one way the command writes spans of time back.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pyrate/rate.hpp"

namespace pyrate::cli {

// The longest interval or timeout the command accepts: 5200 weeks (about 100 years), so that
// deadlines and window arithmetic stay far from overflow.
inline constexpr Millis kLongestSpan = 5200 * static_cast<Millis>(Duration::Week);

// Parses SPEC = LIMIT/[N]UNIT with UNIT one of ms, s, min, h, day, week ("5/s", "10/2s",
// "3/250ms", "100/min", "500/day"). LIMIT and N are positive whole numbers; N defaults to 1.
// Throws UsageError naming the problem.
Rate parse_rate_spec(std::string_view spec);

// Sorts `rates` by interval and checks them as validate_rate_list does.
// Throws UsageError naming the first pair of rates that conflict.
std::vector<Rate> sorted_rate_list(std::vector<Rate> rates);

// Parses DURATION = N[UNIT] with the units of parse_rate_spec; a bare number means seconds.
// N is a non-negative decimal number ("300ms", "5s", "2min", "0.5"); the result is rounded up
// to whole milliseconds; `what` names the value in the error ("--timeout"). Throws UsageError
// naming the problem.
std::chrono::milliseconds parse_duration(std::string_view text, std::string_view what);

// Parses an exit status, a whole number from 0 to 255; `what` names the value in the error
// ("--conflict-exit-code"). Throws UsageError naming the problem.
int parse_exit_status(std::string_view text, std::string_view what);

// `ms` (>= 0) as the command writes a span, rounded up: "340 ms" below a second, else one
// decimal in the largest unit of a SPEC whose count does not round up to the next unit's
// ("3.5 s", "59.7 s", "1.0 min", "2.5 h", "3.0 day", "2.0 week").
std::string format_span(Millis ms);

// Parses a whole number above zero; `what` names the value in the error ("--weight").
// Throws UsageError naming the problem.
std::int64_t parse_positive_count(std::string_view text, std::string_view what);

}  // namespace pyrate::cli
