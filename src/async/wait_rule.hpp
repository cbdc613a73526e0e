// The Limiter's rule for what follows a check, for acquires that wait on timers.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <pyrate/async_limiter.hpp>
#include <vector>

namespace pyrate {

using SteadyClock = std::chrono::steady_clock;

// When to check an acquire with `options` and `deadline` again after a check that decided
// `decision` just now: nullopt when the acquire completes with that decision (admitted; not
// blocking; never fits; or the wait would end past its deadline, or it is past), otherwise
// now + the wait + `buffer_ms`, capped at the deadline.
std::optional<SteadyClock::time_point> next_check(
    const AcquireOptions& options, const std::optional<SteadyClock::time_point>& deadline,
    const Decision& decision, Millis buffer_ms);

// next_check() for `acquire`.
std::optional<SteadyClock::time_point> next_check(const async_detail::PendingAcquire& acquire,
                                                  const Decision& decision, Millis buffer_ms);

// True when `weight` exceeds a limit of `rates`, so that it can never be admitted.
bool never_fits(const std::vector<Rate>& rates, std::int64_t weight) noexcept;

}  // namespace pyrate
