// Names (bucket and item names, any bytes, any length) as one-line messages show them.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pyrate::core {

// The most bytes of a name that a message shows.
inline constexpr std::size_t kShownNameBytes = 64;

// `name` as `quote` writes it (quote(text) returns text between quotes, escaped as it likes),
// in full up to kShownNameBytes bytes. A longer name keeps its first kShownNameBytes bytes (fewer
// when that would split a UTF-8 sequence), "…" before the closing quote, and then its size and
// the bytes cut: "aaaa…" (102400 bytes, 102336 cut).
template <class Quote>
std::string shown_name(std::string_view name, Quote quote) {
  if (name.size() <= kShownNameBytes) return quote(name);
  std::size_t kept = kShownNameBytes;
  while (kept > 0 && (static_cast<unsigned char>(name[kept]) & 0xc0) == 0x80) --kept;
  std::string shown = quote(name.substr(0, kept));
  shown.insert(shown.size() - 1, "\u2026");
  return shown + " (" + std::to_string(name.size()) + " bytes, " +
         std::to_string(name.size() - kept) + " cut)";
}

}  // namespace pyrate::core
