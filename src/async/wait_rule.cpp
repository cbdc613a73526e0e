#include "async/wait_rule.hpp"

#include <algorithm>

namespace pyrate {
namespace {

SteadyClock::time_point after(SteadyClock::time_point from, Millis ms) {
  return steady_time_after(from, std::chrono::milliseconds(ms));
}

}  // namespace

std::optional<SteadyClock::time_point> next_check(
    const AcquireOptions& options, const std::optional<SteadyClock::time_point>& deadline,
    const Decision& decision, Millis buffer_ms) {
  if (decision.admitted || !options.blocking || decision.retry_after < 0) return std::nullopt;
  const auto now = SteadyClock::now();
  if (deadline && (now >= *deadline || after(now, decision.retry_after) > *deadline)) {
    return std::nullopt;
  }
  auto wake = after(after(now, decision.retry_after), buffer_ms);
  if (deadline) wake = std::min(wake, *deadline);
  return wake;
}

std::optional<SteadyClock::time_point> next_check(const async_detail::PendingAcquire& acquire,
                                                  const Decision& decision, Millis buffer_ms) {
  return next_check(acquire.options(), acquire.deadline, decision, buffer_ms);
}

bool never_fits(const std::vector<Rate>& rates, std::int64_t weight) noexcept {
  return std::any_of(rates.begin(), rates.end(),
                     [weight](const Rate& rate) { return weight > rate.limit; });
}

}  // namespace pyrate
