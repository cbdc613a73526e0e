// What one admission check decided, and how to tell an HTTP client about it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pyrate/export.hpp"
#include "pyrate/rate.hpp"

namespace pyrate {

// The verdict on one item and the numbers a caller needs to act on it, all taken from one
// atomic look at the bucket (see AbstractBucket::admit). Times are milliseconds from the
// item's recorded timestamp: the later of its own and the bucket's newest slot's.
struct PYRATE_EXPORT Decision {
  // True when the item's slots were recorded.
  bool admitted = false;
  // Refused: the first rate, by ascending interval, without room for the weight. Admitted:
  // nullopt.
  std::optional<Rate> failing_rate;
  // Refused: the wait until the item fits every rate, the largest over the rates without room
  // of peek(limit - weight).timestamp - (timestamp - interval) + 1 counted in that rate's
  // window; -1 when the weight exceeds a rate's limit, so that it can never fit.
  // Admitted: 0.
  Millis retry_after = 0;
  // The rate with the fewest free slots after this decision; ties go to the narrower interval.
  std::optional<Rate> tightest_rate;
  // The free slots of tightest_rate after this decision; never below 0.
  std::int64_t remaining = 0;
  // The wait until tightest_rate's window next frees a slot (its oldest slot's timestamp +
  // interval - the item's timestamp + 1); 0 when that window holds no slot.
  Millis reset_after = 0;

  explicit operator bool() const noexcept { return admitted; }
};

// The HTTP response fields that tell a client about `decision`, in this order:
// - "Retry-After": RFC 9110 delay-seconds, retry_after rounded up to whole seconds; only for
//   a refusal that can fit later (retry_after >= 0).
// - "RateLimit-Policy" and "RateLimit", as the IETF httpapi working group's draft
//   "RateLimit header fields for HTTP", draft-ietf-httpapi-ratelimit-headers-11 (May 2026),
//   defines them: each a structured-field List (RFC 9651) of one Item, the policy of
//   tightest_rate, named by the String of its SPEC as the pyrate command writes it ("5/s",
//   "100/min"). RateLimit-Policy gives its quota `q` (the limit) and window `w` (the interval
//   in seconds, rounded up); RateLimit gives the available quota `r` (remaining) and the
//   effective window `t` (reset_after in seconds, rounded up: until then no slot frees, so the
//   client can use no more than `r`), left out when reset_after is 0.
//   For example: RateLimit-Policy: "5/s";q=5;w=1 and RateLimit: "5/s";r=0;t=1.
// Only Retry-After is sent when the decision names no rate. Never throws beyond
// std::bad_alloc.
PYRATE_EXPORT std::vector<std::pair<std::string, std::string>> http_headers(
    const Decision& decision);

}  // namespace pyrate
