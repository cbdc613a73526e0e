#include "pyrate/rate.hpp"

#include <array>
#include <cstdio>
#include <stdexcept>

namespace pyrate {

Rate::Rate(std::int64_t limit, Millis interval) : limit(limit), interval(interval) {
  if (limit <= 0 || interval <= 0) {
    throw std::invalid_argument(
        "rate limit and interval must both be positive, got limit=" + std::to_string(limit) +
        " interval=" + std::to_string(interval) + "ms");
  }
}

Rate::Rate(std::int64_t limit, Duration interval) : Rate(limit, static_cast<Millis>(interval)) {}

std::string to_string(const Rate& rate) {
  struct Unit {
    Duration length;
    const char* suffix;
  };
  static constexpr std::array<Unit, 5> kUnits{{{Duration::Week, "w"},
                                               {Duration::Day, "d"},
                                               {Duration::Hour, "h"},
                                               {Duration::Minute, "m"},
                                               {Duration::Second, "s"}}};
  std::string text = "limit=" + std::to_string(rate.limit) + "/";
  for (const Unit& unit : kUnits) {
    const auto length = static_cast<Millis>(unit.length);
    if (rate.interval >= length) {
      std::array<char, 64> number{};
      std::snprintf(number.data(), number.size(), "%.1f",
                    static_cast<double>(rate.interval) / static_cast<double>(length));
      return text + number.data() + unit.suffix;
    }
  }
  return text + std::to_string(rate.interval) + "ms";
}

std::string to_string(const std::vector<Rate>& rates) {
  std::string text = "[";
  for (std::size_t i = 0; i < rates.size(); ++i) {
    text += (i == 0 ? "" : ", ") + to_string(rates[i]);
  }
  return text + "]";
}

bool validate_rate_list(const std::vector<Rate>& rates) {
  if (rates.empty()) return false;
  for (const Rate& rate : rates) {
    if (rate.limit <= 0 || rate.interval <= 0) return false;
  }
  __extension__ using Wide = __int128;
  for (std::size_t i = 1; i < rates.size(); ++i) {
    const Rate& previous = rates[i - 1];
    const Rate& current = rates[i];
    if (current.interval <= previous.interval || current.limit <= previous.limit) return false;
    // current.limit / current.interval <= previous.limit / previous.interval, exactly.
    if (Wide{current.limit} * previous.interval > Wide{previous.limit} * current.interval) {
      return false;
    }
  }
  return true;
}

}  // namespace pyrate
