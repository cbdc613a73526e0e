#include "sync/mutex.hpp"

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <pyrate/pyrate.hpp>
#include <thread>
#include <vector>

using pyrate::Mutex;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// Runs `hold` on another thread while it holds `mutex`; the lock is held once the constructor
// returns and released when release() is called (or at destruction).
class HeldElsewhere {
 public:
  explicit HeldElsewhere(Mutex& mutex) {
    std::atomic<bool> holding{false};
    thread_ = std::thread([&mutex, &holding, this] {
      std::lock_guard lock(mutex);
      holding.store(true);
      while (!release_.load()) std::this_thread::sleep_for(1ms);
    });
    while (!holding.load()) std::this_thread::yield();
  }
  ~HeldElsewhere() { release(); }
  void release() {
    release_.store(true);
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> release_{false};
  std::thread thread_;
};

}  // namespace

TEST_CASE("Mutex try_lock takes a free lock and refuses a held one") {
  Mutex mutex;
  REQUIRE(mutex.try_lock());
  bool taken_while_held = true;
  std::thread([&] { taken_while_held = mutex.try_lock(); }).join();
  CHECK_FALSE(taken_while_held);
  mutex.unlock();
  bool taken_once_free = false;
  std::thread([&] {
    taken_once_free = mutex.try_lock();
    if (taken_once_free) mutex.unlock();
  }).join();
  CHECK(taken_once_free);
}

TEST_CASE("Mutex excludes other threads: every increment made under it survives") {
  constexpr int kThreads = 4;
  constexpr int kRounds = 50'000;
  Mutex mutex;
  std::int64_t counter = 0;  // deliberately not atomic: only the mutex protects it
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        // Every way in: lock(), try_lock() retried, and timed waits.
        if (t == 0) {
          std::lock_guard lock(mutex);
          ++counter;
        } else if (t == 1) {
          while (!mutex.try_lock()) std::this_thread::yield();
          ++counter;
          mutex.unlock();
        } else {
          std::unique_lock lock(mutex, std::defer_lock);
          while (!lock.try_lock_for(100us)) {
          }
          ++counter;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(counter == std::int64_t{kThreads} * kRounds);
}

TEST_CASE("Mutex lock() blocks until the holder releases, then takes the lock") {
  Mutex mutex;
  std::atomic<bool> released{false};
  std::atomic<bool> taken{false};
  bool taken_after_release = false;
  mutex.lock();
  std::thread waiter([&] {
    std::lock_guard lock(mutex);
    taken_after_release = released.load();
    taken.store(true);
  });
  std::this_thread::sleep_for(30ms);  // long enough for the waiter to stop spinning and sleep
  CHECK_FALSE(taken.load());
  released.store(true);
  mutex.unlock();
  waiter.join();
  CHECK(taken_after_release);
}

TEST_CASE("Mutex try_lock_for gives up at its deadline while the lock stays held") {
  Mutex mutex;
  HeldElsewhere held(mutex);
  const auto start = SteadyClock::now();
  CHECK_FALSE(mutex.try_lock_for(40ms));
  CHECK(SteadyClock::now() - start >= 40ms);
  CHECK_FALSE(mutex.try_lock_until(SteadyClock::now() - 1s));
}

TEST_CASE("Mutex try_lock_until takes a free lock even when the deadline has passed") {
  Mutex mutex;
  REQUIRE(mutex.try_lock_until(SteadyClock::now() - 1s));
  mutex.unlock();
}

TEST_CASE("Mutex a timed waiter takes the lock when it is released before the deadline") {
  Mutex mutex;
  HeldElsewhere held(mutex);
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    if (mutex.try_lock_for(60s)) {
      got.store(true);
      mutex.unlock();
    }
  });
  std::this_thread::sleep_for(30ms);
  held.release();
  waiter.join();
  CHECK(got.load());
}

TEST_CASE("Mutex every sleeping waiter gets the lock once it is released") {
  constexpr int kWaiters = 6;
  Mutex mutex;
  std::atomic<int> done{0};
  std::atomic<int> timed_out{0};
  std::vector<std::thread> waiters;
  {
    HeldElsewhere held(mutex);
    for (int i = 0; i < kWaiters; ++i) {
      waiters.emplace_back([&, i] {
        if (i % 2 == 0) {
          std::lock_guard lock(mutex);
          std::this_thread::sleep_for(2ms);
        } else if (mutex.try_lock_for(60s)) {
          std::this_thread::sleep_for(2ms);
          mutex.unlock();
        } else {
          timed_out.fetch_add(1);
        }
        done.fetch_add(1);
      });
    }
    std::this_thread::sleep_for(50ms);
    CHECK(done.load() == 0);
  }
  for (auto& waiter : waiters) waiter.join();
  CHECK(done.load() == kWaiters);
  CHECK(timed_out.load() == 0);
}

TEST_CASE("Mutex an unlock wakes a sleeping waiter without waiting for its next look") {
  // A waiter blocked for 70 ms sleeps up to 64 ms between looks; woken, it takes the lock in
  // well under a millisecond.
  constexpr int kTrials = 15;
  std::vector<SteadyClock::duration> handoffs;
  for (int trial = 0; trial < kTrials; ++trial) {
    Mutex mutex;
    mutex.lock();
    SteadyClock::time_point taken;
    std::thread waiter([&] {
      mutex.lock();
      taken = SteadyClock::now();
      mutex.unlock();
    });
    std::this_thread::sleep_for(70ms);
    const auto released = SteadyClock::now();
    mutex.unlock();
    waiter.join();
    handoffs.push_back(taken - released);
  }
  std::nth_element(handoffs.begin(), handoffs.begin() + kTrials / 2, handoffs.end());
  const auto median_us =
      std::chrono::duration_cast<std::chrono::microseconds>(handoffs[kTrials / 2]).count();
  CAPTURE(median_us);
  CHECK(median_us < 5'000);
}

TEST_CASE("Mutex try_lock_for a duration too long for the clock waits without a limit") {
  Mutex mutex;
  HeldElsewhere held(mutex);
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    if (mutex.try_lock_for(std::chrono::hours::max())) {
      got.store(true);
      mutex.unlock();
    }
  });
  std::this_thread::sleep_for(30ms);
  CHECK_FALSE(got.load());
  held.release();
  waiter.join();
  CHECK(got.load());
}

TEST_CASE("Mutex timed waiters that give up leave the other waiters to be woken") {
  Mutex mutex;
  std::atomic<int> gave_up{0};
  std::atomic<int> taken{0};
  std::vector<std::thread> waiters;
  {
    HeldElsewhere held(mutex);
    for (int i = 0; i < 4; ++i) {
      waiters.emplace_back([&, i] {
        if (i % 2 == 0) {
          if (mutex.try_lock_for(10ms)) {
            mutex.unlock();
          } else {
            gave_up.fetch_add(1);
          }
        } else {
          std::lock_guard lock(mutex);
          taken.fetch_add(1);
        }
      });
    }
    std::this_thread::sleep_for(60ms);
    CHECK(gave_up.load() == 2);
  }
  for (auto& waiter : waiters) waiter.join();
  CHECK(taken.load() == 2);
}
