#include "sync/mutex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

#include "sync/monotonic_timespec.hpp"

namespace pyrate {
namespace {

using SteadyClock = std::chrono::steady_clock;

// How many pauses (20 ns or more each) a waiter spins for before it sleeps. It reads the lock
// after 1, 2, 4, ... up to 32 pauses, so that its reads do not slow the holder's unlock.
constexpr int kSpins = 100;
// A waiter's sleeps end by these times at the latest: the first after each release it sees,
// then twice as long each time up to the last, while the lock stays held.
constexpr auto kShortestSleep = std::chrono::milliseconds(1);
constexpr auto kLongestSleep = std::chrono::milliseconds(64);

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Sleeps while `word` holds `value`, until woken, interrupted or past `wake_by`. Returns false
// when `wake_by` passed, true otherwise.
bool futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t value,
                SteadyClock::time_point wake_by) {
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time, the clock of steady_clock.
  const timespec until = monotonic_timespec(wake_by);
  const long result = syscall(SYS_futex, &word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, value,
                              &until, nullptr, FUTEX_BITSET_MATCH_ANY);
  return result == 0 || errno != ETIMEDOUT;
}

}  // namespace

bool Mutex::lock_contended(std::optional<SteadyClock::time_point> deadline) {
  auto sleep_limit = std::chrono::duration_cast<SteadyClock::duration>(kShortestSleep);
  while (true) {
    if (deadline && SteadyClock::now() >= *deadline) return false;
    for (int spin = 0, pauses = 1; spin < kSpins;
         spin += pauses, pauses = std::min(2 * pauses, 32)) {
      for (int pause = 0; pause < pauses; ++pause) cpu_relax();
      if (state_.load(std::memory_order_relaxed) == 0 && try_lock()) return true;
    }

    // Registered, this thread is woken by every unlock() that reads sleepers_ after the
    // increment. An unlock() whose read the hardware ran before its own release was published
    // can miss it: the sleep limit bounds what that costs.
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    if (try_lock()) {
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
      return true;
    }
    auto wake_by = SteadyClock::now() + sleep_limit;
    if (deadline) wake_by = std::min(wake_by, *deadline);
    const bool released = futex_wait(state_, 1, wake_by);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    sleep_limit = released ? std::chrono::duration_cast<SteadyClock::duration>(kShortestSleep)
                           : std::min<SteadyClock::duration>(2 * sleep_limit, kLongestSleep);
  }
}

void Mutex::wake_one() noexcept {
  syscall(SYS_futex, &state_, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

}  // namespace pyrate
