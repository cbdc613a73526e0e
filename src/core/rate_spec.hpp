// Rates written as the pyrate command's SPECs, LIMIT/[N]UNIT: one spelling of a rate for the
// command's output and for the names of the HTTP rate-limit policies.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "pyrate/rate.hpp"

namespace pyrate {

struct SpecUnit {
  std::string_view name;
  Millis length;
};

// The units of a SPEC, narrowest first.
inline constexpr std::array<SpecUnit, 6> kSpecUnits{
    {{"ms", 1},
     {"s", static_cast<Millis>(Duration::Second)},
     {"min", static_cast<Millis>(Duration::Minute)},
     {"h", static_cast<Millis>(Duration::Hour)},
     {"day", static_cast<Millis>(Duration::Day)},
     {"week", static_cast<Millis>(Duration::Week)}}};

// `rate` as LIMIT/[N]UNIT in the widest unit that divides its interval, N left out when it is
// 1: "5/s", "10/2s", "3/250ms", "100/min", "90/90s". Parsing it back gives `rate`.
inline std::string rate_spec(const Rate& rate) {
  const SpecUnit* unit = &kSpecUnits.front();
  for (const SpecUnit& wider : kSpecUnits) {
    if (rate.interval % wider.length == 0) unit = &wider;
  }
  const Millis count = rate.interval / unit->length;
  return std::to_string(rate.limit) + "/" + (count == 1 ? "" : std::to_string(count)) +
         std::string(unit->name);
}

}  // namespace pyrate
