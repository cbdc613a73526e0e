#include "pyrate/mutex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>

namespace pyrate {
namespace {

using SteadyClock = std::chrono::steady_clock;

// How many times a waiter re-reads a held lock before it sleeps (a pause each, about 20 ns).
constexpr int kSpins = 100;
// The longest a waiter sleeps without looking at the lock again.
constexpr auto kLongestSleep = std::chrono::milliseconds(1);

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Sleeps while `word` holds `value`, until woken, interrupted or past `wake_by`.
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t value,
                SteadyClock::time_point wake_by) {
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time, the clock of steady_clock.
  const auto since_epoch = wake_by.time_since_epoch();
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  timespec until{};
  until.tv_sec = static_cast<std::time_t>(seconds.count());
  until.tv_nsec = static_cast<long>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - seconds).count());
  syscall(SYS_futex, &word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, value, &until, nullptr,
          FUTEX_BITSET_MATCH_ANY);
}

}  // namespace

bool Mutex::lock_contended(std::optional<SteadyClock::time_point> deadline) {
  while (true) {
    for (int spin = 0; spin < kSpins; ++spin) {
      cpu_relax();
      if (state_.load(std::memory_order_relaxed) == 0 && try_lock()) return true;
    }
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    const bool held = try_lock();
    const auto now = SteadyClock::now();
    const bool expired = !held && deadline && now >= *deadline;
    if (!held && !expired) {
      const auto recheck = now + kLongestSleep;
      futex_wait(state_, 1, deadline ? std::min(*deadline, recheck) : recheck);
      wake_pending_.store(false, std::memory_order_relaxed);
    }
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    if (held) return true;
    if (expired) return false;
  }
}

void Mutex::wake_one() noexcept {
  // One wake at a time: until a woken sleeper runs, further unlocks need not call the kernel.
  if (wake_pending_.exchange(true, std::memory_order_relaxed)) return;
  syscall(SYS_futex, &state_, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

}  // namespace pyrate
