#include "spec_parser.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <string>

#include "core/rate_spec.hpp"
#include "exit_codes.hpp"

namespace pyrate::cli {
namespace {

constexpr std::string_view kUnitNames = "ms, s, min, h, day, week";

std::optional<Millis> unit_length(std::string_view name) {
  for (const SpecUnit& unit : kSpecUnits) {
    if (unit.name == name) return unit.length;
  }
  return std::nullopt;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The leading run of digits of `text`.
std::string_view leading_digits(std::string_view text) {
  const auto end = std::find_if(text.begin(), text.end(), [](char c) { return !is_digit(c); });
  return text.substr(0, static_cast<std::size_t>(end - text.begin()));
}

// Parses a run of digits; nullopt when it does not fit in 64 bits.
std::optional<std::int64_t> to_integer(std::string_view digits) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

std::int64_t parse_limit(std::string_view spec, std::string_view limit_text) {
  const std::string where = "rate " + quoted(spec) + ": ";
  if (limit_text.empty()) throw UsageError(where + "missing LIMIT before '/'");
  if (limit_text.front() == '-') throw UsageError(where + "LIMIT must be positive");
  if (leading_digits(limit_text).size() != limit_text.size()) {
    throw UsageError(where + "LIMIT " + quoted(limit_text) + " is not a whole number");
  }
  const auto limit = to_integer(limit_text);
  if (!limit) throw UsageError(where + "LIMIT " + quoted(limit_text) + " is too large");
  if (*limit <= 0) throw UsageError(where + "LIMIT must be positive");
  return *limit;
}

Millis parse_interval(std::string_view spec, std::string_view interval_text) {
  const std::string where = "rate " + quoted(spec) + ": ";
  if (interval_text.empty()) {
    throw UsageError(where + "missing interval after '/' (e.g. s, 2s, 250ms, min)");
  }
  if (interval_text.front() == '-' || interval_text.front() == '+') {
    throw UsageError(where + "the interval must be a positive number of units");
  }
  const std::string_view count_text = leading_digits(interval_text);
  const std::string_view unit_text = interval_text.substr(count_text.size());
  const auto length = unit_length(unit_text);
  if (!length) {
    throw UsageError(where +
                     (unit_text.empty() ? "missing unit" : "unknown unit " + quoted(unit_text)) +
                     " (use " + std::string(kUnitNames) + ")");
  }
  std::int64_t count = 1;
  if (!count_text.empty()) {
    const auto parsed = to_integer(count_text);
    if (!parsed) throw UsageError(where + "the interval is too long");
    count = *parsed;
  }
  if (count <= 0) throw UsageError(where + "the interval must be a positive number of units");
  if (count > kLongestSpan / *length) {
    throw UsageError(where + "the interval is too long (at most 5200week)");
  }
  return count * *length;
}

// "5/s, 100/min".
std::string rate_specs(const std::vector<Rate>& rates) {
  std::string text;
  for (const Rate& rate : rates) text += (text.empty() ? "" : ", ") + rate_spec(rate);
  return text;
}

// Why `narrower` and `wider`, adjacent in a list sorted by interval, cannot form a rate list.
std::string describe_conflict(const Rate& narrower, const Rate& wider) {
  const std::string pair = rate_spec(narrower) + " and " + rate_spec(wider);
  if (narrower.interval == wider.interval) return pair + " have the same interval";
  if (wider.limit <= narrower.limit) return pair + ": the wider interval needs a larger limit";
  return pair + ": the wider interval must not allow a higher rate";
}

}  // namespace

Rate parse_rate_spec(std::string_view spec) {
  const std::size_t slash = spec.find('/');
  if (slash == std::string_view::npos) {
    throw UsageError("rate " + quoted(spec) +
                     " is not LIMIT/[N]UNIT (e.g. 5/s, 10/2s, 3/250ms, 100/min, 500/day)");
  }
  const std::int64_t limit = parse_limit(spec, spec.substr(0, slash));
  const Millis interval = parse_interval(spec, spec.substr(slash + 1));
  return Rate(limit, interval);
}

std::vector<Rate> sorted_rate_list(std::vector<Rate> rates) {
  if (rates.empty()) throw UsageError("at least one --rate is required");
  std::stable_sort(rates.begin(), rates.end(),
                   [](const Rate& a, const Rate& b) { return a.interval < b.interval; });
  if (validate_rate_list(rates)) return rates;
  for (std::size_t i = 1; i < rates.size(); ++i) {
    if (!validate_rate_list({rates[i - 1], rates[i]})) {
      throw UsageError("invalid rate list " + rate_specs(rates) + ": " +
                       describe_conflict(rates[i - 1], rates[i]));
    }
  }
  throw UsageError("invalid rate list " + rate_specs(rates));
}

std::chrono::milliseconds parse_duration(std::string_view text, std::string_view what) {
  const std::string where = std::string(what) + " " + quoted(text) + ": ";
  if (text.empty()) throw UsageError(std::string(what) + " is empty (e.g. 300ms, 5s, 2min)");
  if (text.front() == '-') throw UsageError(where + "must not be negative");
  const std::string_view whole_text = leading_digits(text);
  std::string_view rest = text.substr(whole_text.size());
  std::string_view fraction_text;
  if (!rest.empty() && rest.front() == '.') {
    fraction_text = leading_digits(rest.substr(1));
    rest = rest.substr(1 + fraction_text.size());
  }
  if (whole_text.empty() && fraction_text.empty()) {
    throw UsageError(where + "is not N[UNIT] (e.g. 300ms, 5s, 2min; a bare number is seconds)");
  }
  if (fraction_text.size() > 9) throw UsageError(where + "too many decimals (at most 9)");
  const auto length = rest.empty() ? std::optional<Millis>(1000) : unit_length(rest);
  if (!length) {
    throw UsageError(where + "unknown unit " + quoted(rest) + " (use " + std::string(kUnitNames) +
                     ")");
  }
  const auto whole = whole_text.empty() ? std::optional<std::int64_t>(0) : to_integer(whole_text);
  if (!whole || *whole > kLongestSpan / *length) {
    throw UsageError(where + "too long (at most 5200week)");
  }
  Millis total = *whole * *length;
  if (!fraction_text.empty()) {
    std::int64_t scale = 1;
    for (std::size_t i = 0; i < fraction_text.size(); ++i) scale *= 10;
    const std::int64_t numerator = *to_integer(fraction_text) * *length;
    total += (numerator + scale - 1) / scale;
  }
  if (total > kLongestSpan) throw UsageError(where + "too long (at most 5200week)");
  return std::chrono::milliseconds(total);
}

int parse_exit_status(std::string_view text, std::string_view what) {
  const std::string where = std::string(what) + " " + quoted(text) + ": ";
  const auto value =
      leading_digits(text).size() == text.size() && !text.empty() ? to_integer(text) : std::nullopt;
  if (!value || *value > 255) throw UsageError(where + "not an exit status from 0 to 255");
  return static_cast<int>(*value);
}

std::string format_span(Millis ms) {
  if (ms < 1000) return std::to_string(ms) + " ms";
  std::size_t unit = 1;  // seconds
  Millis tenths = 0;
  for (;; ++unit) {
    const Millis length = kSpecUnits[unit].length;
    tenths = ms / length * 10 + ((ms % length) * 10 + length - 1) / length;
    if (unit + 1 == kSpecUnits.size() || tenths < kSpecUnits[unit + 1].length / length * 10) break;
  }
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " " +
         std::string(kSpecUnits[unit].name);
}

std::int64_t parse_positive_count(std::string_view text, std::string_view what) {
  const std::string where = std::string(what) + " " + quoted(text) + ": ";
  const bool negative = !text.empty() && text.front() == '-';
  const std::string_view digits = negative ? text.substr(1) : text;
  if (digits.empty() || leading_digits(digits).size() != digits.size()) {
    throw UsageError(where + "not a whole number");
  }
  const auto value = to_integer(digits);
  if (negative || (value && *value == 0)) throw UsageError(where + "must be positive");
  if (!value) throw UsageError(where + "too large");
  return *value;
}

}  // namespace pyrate::cli
