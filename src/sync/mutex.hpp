// The lock that guards an InMemoryBucket within one process.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

#include "pyrate/clock.hpp"

namespace pyrate {

// A mutex for short critical sections within one process (Linux only): the lock of an
// InMemoryBucket. It satisfies Lockable, and TimedLockable for steady_clock
// deadlines, so std::lock_guard and std::unique_lock work with it. It must be unlocked by the
// thread that locked it; it is not recursive. Like std::mutex it is not fair: a thread that
// releases the lock may take it again before a waiter does.
//
// Unlike std::mutex, releasing it costs no atomic read-modify-write, which makes an uncontended
// lock and unlock about twice as cheap. The price:
// - unlock() cannot promise to wake a waiter that is just going to sleep. An unlock normally
//   wakes a sleeper at once, but a waiter may take a released lock late: by up to 1 ms after
//   it last saw the lock released, or by as long as it has been sleeping since, 64 ms at most.
//   Waiters spin for about 100 pauses (2 us or more, depending on the processor) before they
//   sleep, and while the lock stays held they look at it again 1, 2, 4, ... 64 ms apart.
// - unlock() reads the mutex after releasing it, so a mutex must not be destroyed while
//   another thread may still be inside unlock(): taking the lock and then destroying the mutex
//   is not enough to know that, as it is for std::mutex.
// A timed wait gives up at its deadline.
class Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  // Blocks until this thread holds the lock.
  void lock() {
    if (!try_lock()) lock_contended(std::nullopt);
  }

  // Takes the lock if it is free; never blocks.
  bool try_lock() noexcept {
    std::uint32_t expected = 0;
    return state_.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }

  // Blocks until this thread holds the lock (true) or `deadline` passes (false).
  bool try_lock_until(std::chrono::steady_clock::time_point deadline) {
    return try_lock() || lock_contended(deadline);
  }

  // try_lock_until(steady_time_after(d)): a `d` too long for the clock means no time limit.
  template <class Rep, class Period>
  bool try_lock_for(std::chrono::duration<Rep, Period> d) {
    return try_lock_until(steady_time_after(d));
  }

  // Releases the lock and wakes one sleeping waiter, if any.
  void unlock() noexcept {
    state_.store(0, std::memory_order_release);
    // Read the sleeper count after the release, as far as the compiler is concerned.
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_relaxed) != 0) wake_one();
  }

 private:
  // Waits for the lock until `deadline` (forever without one). True once it is held.
  bool lock_contended(std::optional<std::chrono::steady_clock::time_point> deadline);
  void wake_one() noexcept;

  std::atomic<std::uint32_t> state_{0};     // 1 while held; the word sleepers wait on
  std::atomic<std::uint32_t> sleepers_{0};  // threads registered to be woken by unlock()
};

}  // namespace pyrate
