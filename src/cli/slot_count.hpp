// Counts of slots in the command's messages.
#pragma once

#include <cstdint>
#include <string>

namespace pyrate::cli {

// "1 slot", "3 slots"; `adjective` goes before the noun: "2 expired slots".
inline std::string slot_count(std::int64_t count, const std::string& adjective = "") {
  return std::to_string(count) + " " + (adjective.empty() ? "" : adjective + " ") +
         (count == 1 ? "slot" : "slots");
}

}  // namespace pyrate::cli
