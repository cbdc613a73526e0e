#include "pyrate/decision.hpp"

#include <string>

#include "core/rate_spec.hpp"

namespace pyrate {
namespace {

// `ms` in whole seconds, rounded up; 0 for no time.
std::int64_t ceil_seconds(Millis ms) { return ms <= 0 ? 0 : (ms - 1) / 1000 + 1; }

// `text` as a structured-field String (RFC 9651, section 3.3.3). A rate's SPEC holds only
// digits, letters and '/', none of which needs escaping.
std::string sf_string(const std::string& text) { return "\"" + text + "\""; }

}  // namespace

std::vector<std::pair<std::string, std::string>> http_headers(const Decision& decision) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!decision.admitted && decision.retry_after >= 0) {
    headers.emplace_back("Retry-After", std::to_string(ceil_seconds(decision.retry_after)));
  }
  if (decision.tightest_rate) {
    const Rate& rate = *decision.tightest_rate;
    const std::string policy = sf_string(rate_spec(rate));
    headers.emplace_back("RateLimit-Policy", policy + ";q=" + std::to_string(rate.limit) + ";w=" +
                                                 std::to_string(ceil_seconds(rate.interval)));
    std::string limit = policy + ";r=" + std::to_string(decision.remaining);
    if (decision.reset_after > 0)
      limit += ";t=" + std::to_string(ceil_seconds(decision.reset_after));
    headers.emplace_back("RateLimit", limit);
  }
  return headers;
}

}  // namespace pyrate
