// Saturating arithmetic on timestamps and counts: sums and differences that would overflow
// std::int64_t stop at its bounds instead.
#pragma once

#include <cstdint>
#include <limits>

namespace pyrate::core {

// a + b, clamped to the range of std::int64_t.
constexpr std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) {
    return b > 0 ? std::numeric_limits<std::int64_t>::max()
                 : std::numeric_limits<std::int64_t>::min();
  }
  return sum;
}

// a - b, clamped to the range of std::int64_t.
constexpr std::int64_t saturating_sub(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t difference = 0;
  if (__builtin_sub_overflow(a, b, &difference)) {
    return b < 0 ? std::numeric_limits<std::int64_t>::max()
                 : std::numeric_limits<std::int64_t>::min();
  }
  return difference;
}

}  // namespace pyrate::core
