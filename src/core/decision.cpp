#include "pyrate/decision.hpp"

#include <string>

namespace pyrate {
namespace {

// `ms` in whole seconds, rounded up; 0 for no time.
std::int64_t ceil_seconds(Millis ms) { return ms <= 0 ? 0 : (ms - 1) / 1000 + 1; }

}  // namespace

std::vector<std::pair<std::string, std::string>> http_headers(const Decision& decision) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!decision.admitted && decision.retry_after >= 0) {
    headers.emplace_back("Retry-After", std::to_string(ceil_seconds(decision.retry_after)));
  }
  if (decision.tightest_rate) {
    const Rate& rate = *decision.tightest_rate;
    headers.emplace_back("RateLimit-Policy", "\"default\";q=" + std::to_string(rate.limit) + ";w=" +
                                                 std::to_string(ceil_seconds(rate.interval)));
    headers.emplace_back("RateLimit",
                         "\"default\";r=" + std::to_string(decision.remaining) +
                             ";t=" + std::to_string(ceil_seconds(decision.reset_after)));
  }
  return headers;
}

}  // namespace pyrate
