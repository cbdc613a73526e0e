#include "decision_json.hpp"

#include "core/rate_spec.hpp"

namespace pyrate::cli {
namespace {

// A SPEC holds only digits, letters and '/', so it needs no escaping.
std::string rate_or_null(const std::optional<Rate>& rate) {
  return rate ? "\"" + rate_spec(*rate) + "\"" : "null";
}

}  // namespace

std::string decision_json(const Decision& decision) {
  return std::string("{\"admitted\": ") + (decision.admitted ? "true" : "false") +
         ", \"retry_after_ms\": " + std::to_string(decision.retry_after) +
         ", \"remaining\": " + std::to_string(decision.remaining) +
         ", \"reset_after_ms\": " + std::to_string(decision.reset_after) +
         ", \"failing_rate\": " + rate_or_null(decision.failing_rate) +
         ", \"tightest_rate\": " + rate_or_null(decision.tightest_rate) + "}";
}

}  // namespace pyrate::cli
