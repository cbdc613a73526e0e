#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <pyrate/pyrate.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "support/eventually.hpp"
#include "support/fake_clock.hpp"

using pyrate::AcquireOptions;
using pyrate::Duration;
using pyrate::InMemoryBucket;
using pyrate::Limiter;
using pyrate::Millis;
using pyrate::Rate;
using pyrate::RateItem;
using pyrate::SingleBucketFactory;
using pyrate::testing::eventually;
using pyrate_test::FakeClock;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

using Buckets = std::vector<std::shared_ptr<pyrate::AbstractBucket>>;

std::shared_ptr<InMemoryBucket> clocked_bucket(std::vector<Rate> rates,
                                               std::shared_ptr<FakeClock> clock) {
  auto bucket = std::make_shared<InMemoryBucket>(std::move(rates));
  bucket->set_clock(std::move(clock));
  return bucket;
}

SteadyClock::duration time_of(const std::function<void()>& action) {
  const auto start = SteadyClock::now();
  action();
  return SteadyClock::now() - start;
}

// A blocking try_acquire of `name` running on another thread, and that thread's id.
struct BackgroundAcquire {
  std::thread::id thread;
  std::future<bool> admitted;
};

BackgroundAcquire acquire_in_background(Limiter& limiter, std::string name) {
  // Shared with the thread, so the promise outlives set_value whenever this returns.
  auto thread_id = std::make_shared<std::promise<std::thread::id>>();
  std::future<std::thread::id> started = thread_id->get_future();
  std::future<bool> admitted = std::async(std::launch::async, [&limiter, thread_id, name] {
    thread_id->set_value(std::this_thread::get_id());
    return limiter.try_acquire(name);
  });
  return BackgroundAcquire{started.get(), std::move(admitted)};
}

int leaker_threads() {
  int found = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string line;
    if (std::getline(comm, line) && line == "pyrate-leaker") ++found;
  }
  return found;
}

// What a bucket saw, in order, with the thread that did it.
class EventLog {
 public:
  void add(std::string event) {
    std::lock_guard lock(mutex_);
    events_.emplace_back(std::this_thread::get_id(), std::move(event));
  }
  std::vector<std::string> of(std::thread::id thread) const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> seen;
    for (const auto& [who, event] : events_) {
      if (who == thread) seen.push_back(event);
    }
    return seen;
  }
  bool seen(const std::string& event) const {
    std::lock_guard lock(mutex_);
    for (const auto& entry : events_) {
      if (entry.second == event) return true;
    }
    return false;
  }
  bool contains(std::thread::id thread, const std::string& event) const {
    const auto seen = of(thread);
    return std::find(seen.begin(), seen.end(), event) != seen.end();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<std::thread::id, std::string>> events_;
};

// A LimiterLock that logs lock and unlock and knows its holder. (Built on a condition
// variable: ThreadSanitizer in GCC 12 does not see std::timed_mutex's steady-clock waits.)
class RecordingLock final : public pyrate::LimiterLock {
 public:
  explicit RecordingLock(EventLog& log) : log_(log) {}

  void lock() override {
    std::unique_lock state(mutex_);
    released_.wait(state, [&] { return holder_ == std::thread::id(); });
    take(state);
  }
  bool try_lock() override {
    std::unique_lock state(mutex_);
    if (holder_ != std::thread::id()) return false;
    take(state);
    return true;
  }
  bool try_lock_until(SteadyClock::time_point deadline) override {
    std::unique_lock state(mutex_);
    if (!released_.wait_until(state, deadline, [&] { return holder_ == std::thread::id(); })) {
      return false;
    }
    take(state);
    return true;
  }
  void unlock() override {
    log_.add("unlock");
    {
      std::lock_guard state(mutex_);
      holder_ = std::thread::id();
    }
    released_.notify_all();
  }
  bool held_here() const {
    std::lock_guard state(mutex_);
    return holder_ == std::this_thread::get_id();
  }
  // Runs once, in the next lock taken.
  void on_next_lock(std::function<void()> hook) {
    std::lock_guard state(mutex_);
    on_next_lock_ = std::move(hook);
  }

 private:
  void take(std::unique_lock<std::mutex>& state) {
    holder_ = std::this_thread::get_id();
    std::function<void()> hook;
    hook.swap(on_next_lock_);
    state.unlock();
    log_.add("lock");
    if (hook) hook();
  }

  EventLog& log_;
  mutable std::mutex mutex_;
  std::condition_variable released_;
  std::thread::id holder_;
  std::function<void()> on_next_lock_;
};

// A bucket shared "between processes": an in-memory bucket behind a RecordingLock, logging
// now, put (with the timestamp and whether the lock was held) and waiting.
class LockedBucket final : public pyrate::AbstractBucket {
 public:
  LockedBucket(std::vector<Rate> rates, std::shared_ptr<FakeClock> clock)
      : AbstractBucket(rates), inner_(rates), lock_(log) {
    set_clock(clock);
    inner_.set_clock(clock);
  }

  Millis now() override {
    log.add("now");
    return AbstractBucket::now();
  }
  bool put(const RateItem& item) override {
    log.add("put " + std::to_string(item.timestamp) +
            (lock_.held_here() ? " locked" : " UNLOCKED"));
    if (put_gate) std::lock_guard pass(*put_gate);
    const bool admitted = inner_.put(item);
    set_failing_rate(inner_.failing_rate());
    return admitted;
  }
  std::int64_t leak(std::optional<Millis> timestamp) override { return inner_.leak(timestamp); }
  void flush() override { inner_.flush(); }
  std::int64_t count() override { return inner_.count(); }
  std::optional<RateItem> peek(std::int64_t index) override { return inner_.peek(index); }
  Millis waiting(const RateItem& item) override {
    log.add(lock_.held_here() ? "waiting locked" : "waiting UNLOCKED");
    return inner_.waiting(item);
  }
  pyrate::LimiterLock* limiter_lock() override { return &lock_; }
  void close() override {
    inner_.close();
    AbstractBucket::close();
  }

  RecordingLock& recording_lock() { return lock_; }

  EventLog log;
  std::mutex* put_gate = nullptr;  // when set, put() passes through it

 private:
  InMemoryBucket inner_;
  RecordingLock lock_;
};

AcquireOptions non_blocking(std::int64_t weight = 1) {
  AcquireOptions options;
  options.weight = weight;
  options.blocking = false;
  return options;
}

AcquireOptions with_timeout(std::chrono::milliseconds timeout, std::int64_t weight = 1) {
  AcquireOptions options;
  options.weight = weight;
  options.timeout = timeout;
  return options;
}

}  // namespace

TEST_CASE("Limiter(factory) admits through the factory's buckets") {
  auto clock = std::make_shared<FakeClock>(0);
  auto bucket = clocked_bucket({Rate(2, 1000)}, clock);
  auto factory = std::make_shared<SingleBucketFactory>(bucket);
  Limiter limiter(factory);
  CHECK(&limiter.bucket_factory() == factory.get());
  CHECK(limiter.buckets() == Buckets{bucket});
  CHECK(limiter.try_acquire("a", non_blocking()));
  CHECK(bucket->count() == 1);
}

namespace {

// Routes items named "a..." to one bucket and others to a second; "nowhere" to no bucket.
class TwoBucketFactory final : public pyrate::BucketFactory {
 public:
  explicit TwoBucketFactory(std::shared_ptr<FakeClock> clock)
      : first(clocked_bucket({Rate(1, 1000)}, clock)),
        second(clocked_bucket({Rate(2, 1000)}, clock)),
        clock_(std::move(clock)) {}
  RateItem wrap_item(std::string_view name, std::int64_t weight) override {
    return RateItem{std::string(name), clock_->now(), weight};
  }
  std::shared_ptr<pyrate::AbstractBucket> get(const RateItem& item) override {
    if (item.name == "nowhere") return nullptr;
    if (item.name.starts_with("a")) return first;
    return second;
  }
  std::shared_ptr<InMemoryBucket> first;
  std::shared_ptr<InMemoryBucket> second;

 private:
  std::shared_ptr<FakeClock> clock_;
};

}  // namespace

TEST_CASE("Limiter(factory) puts each item in the bucket the factory picks for it") {
  auto factory = std::make_shared<TwoBucketFactory>(std::make_shared<FakeClock>(0));
  Limiter limiter(factory);
  CHECK(limiter.try_acquire("apple", non_blocking()));
  CHECK_FALSE(limiter.try_acquire("avocado", non_blocking()));
  CHECK(limiter.try_acquire("banana", non_blocking()));
  CHECK(limiter.try_acquire("cherry", non_blocking()));
  CHECK_FALSE(limiter.try_acquire("date", non_blocking()));
  CHECK(factory->first->count() == 1);
  CHECK(factory->second->count() == 2);
}

TEST_CASE("try_acquire throws logic_error when the factory routes an item to no bucket") {
  auto factory = std::make_shared<TwoBucketFactory>(std::make_shared<FakeClock>(0));
  Limiter limiter(factory);
  CHECK_THROWS_AS(limiter.try_acquire("nowhere", non_blocking()), std::logic_error);
  CHECK(limiter.try_acquire("after", non_blocking()));  // the limiter's mutex was released
}

namespace {

// Declares a sole bucket, and counts the calls to get() that a Limiter should not need.
class SoleBucketFactory final : public pyrate::BucketFactory {
 public:
  explicit SoleBucketFactory(std::shared_ptr<InMemoryBucket> bucket) : bucket(std::move(bucket)) {}
  RateItem wrap_item(std::string_view name, std::int64_t weight) override {
    return RateItem{std::string(name), bucket->now(), weight};
  }
  std::shared_ptr<pyrate::AbstractBucket> get(const RateItem&) override {
    ++get_calls;
    return bucket;
  }
  pyrate::AbstractBucket* sole_bucket() noexcept override { return bucket.get(); }
  std::shared_ptr<InMemoryBucket> bucket;
  std::atomic<int> get_calls{0};
};

}  // namespace

TEST_CASE("A factory with a sole_bucket() gets every item there without a call to get()") {
  auto factory = std::make_shared<SoleBucketFactory>(
      clocked_bucket({Rate(2, 1000)}, std::make_shared<FakeClock>(0)));
  Limiter limiter(factory);
  CHECK(limiter.try_acquire("a", non_blocking()));
  CHECK(limiter.try_acquire("b", non_blocking()));
  CHECK_FALSE(limiter.try_acquire("c", non_blocking()));
  CHECK(factory->bucket->count() == 2);
  CHECK(factory->get_calls == 0);
}

TEST_CASE("A SingleBucketFactory's sole_bucket() is its bucket; other factories have none") {
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(2, 1000)});
  SingleBucketFactory single(bucket, false);
  CHECK(single.sole_bucket() == bucket.get());
  TwoBucketFactory two(std::make_shared<FakeClock>(0));
  CHECK(two.sole_bucket() == nullptr);
}

TEST_CASE("Limiter(bucket) wraps the bucket in a SingleBucketFactory that schedules its leak") {
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(2, 1000)});
  Limiter limiter(bucket);
  CHECK(dynamic_cast<SingleBucketFactory*>(&limiter.bucket_factory()) != nullptr);
  CHECK(limiter.buckets() == Buckets{bucket});
  CHECK(limiter.bucket_factory().get(RateItem{"x"}) == bucket);
}

TEST_CASE("Limiter(rate) and Limiter(rates) use a new, leaked InMemoryBucket") {
  Limiter single(Rate(5, Duration::Second));
  REQUIRE(single.buckets().size() == 1);
  auto* memory = dynamic_cast<InMemoryBucket*>(single.buckets()[0].get());
  REQUIRE(memory != nullptr);
  CHECK(memory->rates() == std::vector<Rate>{Rate(5, Duration::Second)});

  Limiter several(std::vector<Rate>{Rate(100, Duration::Minute), Rate(5, Duration::Second)});
  REQUIRE(several.buckets().size() == 1);
  REQUIRE(dynamic_cast<InMemoryBucket*>(several.buckets()[0].get()) != nullptr);
  CHECK(several.buckets()[0]->rates() ==
        std::vector<Rate>{Rate(5, Duration::Second), Rate(100, Duration::Minute)});
}

TEST_CASE("Limiter constructors refuse a null factory or bucket, a negative buffer, bad rates") {
  CHECK_THROWS_AS(Limiter(std::shared_ptr<pyrate::BucketFactory>()), std::invalid_argument);
  CHECK_THROWS_AS(Limiter(std::shared_ptr<pyrate::AbstractBucket>()), std::invalid_argument);
  CHECK_THROWS_AS(Limiter(Rate(1, 1000), -1), std::invalid_argument);
  CHECK_THROWS_AS(Limiter(std::vector<Rate>{}), std::invalid_argument);
  CHECK_THROWS_AS(Limiter(std::vector<Rate>{Rate(5, 1000), Rate(50, 2000)}), std::invalid_argument);
}

TEST_CASE("try_acquire refuses a negative timeout") {
  Limiter limiter(Rate(5, 1000));
  CHECK_THROWS_AS(limiter.try_acquire("x", with_timeout(-1ms)), std::invalid_argument);
  CHECK(limiter.buckets()[0]->count() == 0);
}

TEST_CASE("try_acquire refuses a timeout without blocking") {
  Limiter limiter(Rate(5, 1000));
  AcquireOptions options = with_timeout(100ms);
  options.blocking = false;
  CHECK_THROWS_AS(limiter.try_acquire("x", options), std::invalid_argument);
  options.timeout = 0ms;
  CHECK_THROWS_AS(limiter.try_acquire("x", options), std::invalid_argument);
  CHECK(limiter.buckets()[0]->count() == 0);
}

TEST_CASE("try_acquire refuses a negative weight") {
  Limiter limiter(Rate(5, 1000));
  CHECK_THROWS_AS(limiter.try_acquire("x", non_blocking(-1)), std::invalid_argument);
  CHECK_THROWS_AS(limiter.try_acquire("x", AcquireOptions{-3}), std::invalid_argument);
  CHECK_THROWS_AS(limiter.try_acquire("x", -1), std::invalid_argument);
  CHECK(limiter.buckets()[0]->count() == 0);
}

TEST_CASE("try_acquire of weight 0 is true at once, even when the bucket is full") {
  auto clock = std::make_shared<FakeClock>(0);
  auto bucket = clocked_bucket({Rate(1, Duration::Hour)}, clock);
  Limiter limiter(bucket);
  REQUIRE(limiter.try_acquire("x", non_blocking()));
  CHECK(limiter.try_acquire("x", AcquireOptions{0}));  // blocking, no timeout
  CHECK(limiter.try_acquire("x", non_blocking(0)));
  CHECK(limiter.try_acquire("x", 0));
  CHECK(bucket->count() == 1);
}

TEST_CASE("Non-blocking try_acquire returns false when there is no room, recording nothing") {
  auto clock = std::make_shared<FakeClock>(0);
  auto bucket = clocked_bucket({Rate(3, 1000)}, clock);
  Limiter limiter(bucket);
  CHECK(limiter.try_acquire("x", non_blocking(2)));
  CHECK_FALSE(limiter.try_acquire("x", non_blocking(2)));
  CHECK(limiter.try_acquire("x", non_blocking(1)));
  CHECK_FALSE(limiter.try_acquire("x", non_blocking(1)));
  CHECK(bucket->count() == 3);
  clock->set(1001);
  CHECK(limiter.try_acquire("x", non_blocking(3)));
}

TEST_CASE("try_acquire stamps items with the bucket's clock and the name given") {
  auto clock = std::make_shared<FakeClock>(777);
  auto bucket = clocked_bucket({Rate(3, 1000)}, clock);
  Limiter limiter(bucket);
  REQUIRE(limiter.try_acquire());
  REQUIRE(limiter.try_acquire("named", non_blocking()));
  CHECK(bucket->peek(1)->name == "pyrate");
  CHECK(bucket->peek(0)->name == "named");
  CHECK(bucket->peek(0)->timestamp == 777);
}

TEST_CASE("Blocking try_acquire waits until there is room and then admits") {
  Limiter limiter(Rate(2, 300ms), 20);
  auto bucket = limiter.buckets()[0];
  const auto elapsed = time_of([&] {
    REQUIRE(limiter.try_acquire("x"));
    REQUIRE(limiter.try_acquire("x"));
    CHECK(limiter.try_acquire("x"));
  });
  CHECK(elapsed >= 290ms);
  CHECK(elapsed < 5s);
  REQUIRE(bucket->count() == 3);
  CHECK(bucket->peek(0)->timestamp - bucket->peek(2)->timestamp > 300);
}

TEST_CASE("Blocking try_acquire sleeps the wait plus buffer_ms") {
  Limiter limiter(Rate(1, 100ms), 400);
  REQUIRE(limiter.try_acquire("x"));
  const auto elapsed = time_of([&] { CHECK(limiter.try_acquire("x")); });
  CHECK(elapsed >= 480ms);
}

TEST_CASE("A blocking try_acquire whose wait ends past the timeout returns false at once") {
  Limiter limiter(Rate(1, 10s));
  auto bucket = limiter.buckets()[0];
  REQUIRE(limiter.try_acquire("x", non_blocking()));
  const auto elapsed = time_of([&] { CHECK_FALSE(limiter.try_acquire("x", with_timeout(3s))); });
  CHECK(elapsed < 1s);
  CHECK(bucket->count() == 1);
  CHECK_FALSE(limiter.try_acquire("x", with_timeout(0ms)));
}

TEST_CASE("A blocking try_acquire whose wait ends before the timeout admits") {
  Limiter limiter(Rate(1, 200ms), 10);
  REQUIRE(limiter.try_acquire("x", non_blocking()));
  const auto elapsed = time_of([&] { CHECK(limiter.try_acquire("x", with_timeout(5s))); });
  CHECK(elapsed >= 150ms);
  CHECK(limiter.try_acquire("x", with_timeout(0ms)) == false);
}

TEST_CASE("A blocking acquire's sleep of wait plus buffer_ms is capped at the deadline") {
  Limiter limiter(Rate(1, 200ms), 5000);
  REQUIRE(limiter.try_acquire("x", non_blocking()));
  // The wait (about 200 ms) ends before the 1 s deadline, the buffer after it: the acquirer
  // wakes at the deadline and finds room.
  const auto elapsed = time_of([&] { CHECK(limiter.try_acquire("x", with_timeout(1s))); });
  CHECK(elapsed >= 900ms);
  CHECK(elapsed < 3s);
}

TEST_CASE("A timeout too long to be a deadline waits as long as needed") {
  Limiter limiter(Rate(1, 200ms), 10);
  REQUIRE(limiter.try_acquire("x", non_blocking()));
  CHECK(limiter.try_acquire("x", with_timeout(std::chrono::milliseconds::max())));
  CHECK(limiter.try_acquire("x", with_timeout(std::chrono::hours(24 * 365 * 1000))));
}

TEST_CASE("A blocking try_acquire of a weight above a limit returns false at once") {
  Limiter limiter(std::vector<Rate>{Rate(3, 10s), Rate(10, Duration::Minute)});
  auto bucket = limiter.buckets()[0];
  const auto elapsed = time_of([&] {
    CHECK_FALSE(limiter.try_acquire("x", AcquireOptions{4}));
    CHECK_FALSE(limiter.try_acquire("x", with_timeout(1h, 4)));
    CHECK_FALSE(limiter.try_acquire("x", 11));
  });
  CHECK(elapsed < 1s);
  CHECK(bucket->count() == 0);
}

TEST_CASE("try_acquire(name, weight) is a blocking acquire of that weight, for any integer type") {
  static_assert(std::is_same_v<decltype(std::declval<Limiter&>().try_acquire("n", 2)), bool>);
  Limiter limiter(Rate(3, 300ms), 10);
  auto bucket = limiter.buckets()[0];
  CHECK(limiter.try_acquire("x", 2));
  CHECK(bucket->count() == 2);
  const auto elapsed = time_of([&] { CHECK(limiter.try_acquire("x", std::int64_t{2})); });
  CHECK(elapsed >= 250ms);  // blocked: a non-blocking acquire would have been refused
  CHECK(bucket->count() == 4);
  CHECK(limiter.try_acquire("x", short{0}));
  CHECK(limiter.try_acquire("x", 0u));
  CHECK_FALSE(limiter.try_acquire("x", 4L));  // can never fit
}

TEST_CASE("try_acquire(name, {}) takes AcquireOptions: blocking, weight 1") {
  auto clock = std::make_shared<FakeClock>(0);
  auto bucket = clocked_bucket({Rate(3, 1000)}, clock);
  Limiter limiter(bucket);
  CHECK(limiter.try_acquire("x", {}));
  CHECK(bucket->count() == 1);
  CHECK(limiter.try_acquire("x", {.weight = 2, .blocking = false}));
  CHECK(bucket->count() == 3);
  CHECK_FALSE(limiter.try_acquire("x", {.weight = 1, .blocking = false}));
}

TEST_CASE("wrap returns a callable that acquires before calling fn") {
  auto clock = std::make_shared<FakeClock>(0);
  auto bucket = clocked_bucket({Rate(4, 1000)}, clock);
  Limiter limiter(bucket);
  int calls = 0;
  std::int64_t held_during_call = -1;
  auto add = limiter.wrap(
      [&](int a, int b) {
        ++calls;
        held_during_call = bucket->count();
        return a + b;
      },
      "adder", 2);
  CHECK(add(2, 3) == 5);
  CHECK(calls == 1);
  CHECK(held_during_call == 2);
  CHECK(bucket->peek(0)->name == "adder");
  CHECK(add(1, 1) == 2);
  CHECK(held_during_call == 4);

  auto by_default = limiter.wrap([] { return 1; });
  clock->set(5000);
  CHECK(by_default() == 1);
  CHECK(bucket->peek(0)->name == "ratelimiter");
  CHECK(bucket->count() == 5);
}

TEST_CASE("BucketFullError shortens a 100 KB name to its first 64 bytes and its size") {
  Limiter limiter(Rate(4, 1000));
  auto heavy = limiter.wrap([] {}, std::string(102'400, 'n'), 5);
  try {
    heavy();
    FAIL("a weight above every limit was admitted");
  } catch (const pyrate::BucketFullError& error) {
    CHECK(std::string(error.what()) == "weight 5 of '" + std::string(64, 'n') +
                                           "\u2026' (102400 bytes, 102336 cut) can never fit the "
                                           "bucket's rates");
  }
}

TEST_CASE("wrap keeps fn's signature: moved arguments, references and void") {
  Limiter limiter(Rate(100, 1000));
  auto unbox = limiter.wrap([](std::unique_ptr<int> boxed) { return *boxed; });
  CHECK(unbox(std::make_unique<int>(7)) == 7);
  int target = 0;
  auto reference = limiter.wrap([&]() -> int& { return target; });
  static_assert(std::is_same_v<decltype(reference()), int&>);
  reference() = 9;
  CHECK(target == 9);
  bool ran = false;
  auto nothing = limiter.wrap([&] { ran = true; });
  static_assert(std::is_void_v<decltype(nothing())>);
  nothing();
  CHECK(ran);
}

TEST_CASE("wrap throws BucketFullError and does not call fn when the weight can never fit") {
  Limiter limiter(Rate(4, 1000));
  int calls = 0;
  auto heavy = limiter.wrap([&] { ++calls; }, "heavy", 5);
  CHECK_THROWS_AS(heavy(), pyrate::BucketFullError);
  CHECK(calls == 0);
  CHECK(limiter.buckets()[0]->count() == 0);
}

TEST_CASE("The limiter takes the bucket's lock, re-stamps, and frees the lock while sleeping") {
  auto clock = std::make_shared<FakeClock>(1000);
  auto bucket = std::make_shared<LockedBucket>(std::vector<Rate>{Rate(1, 100)}, clock);
  REQUIRE(bucket->put(RateItem{"earlier", 1000, 1}));
  Limiter limiter(bucket, 300);
  // The clock moves while the limiter waits for the bucket's lock: the item must be re-stamped.
  bucket->recording_lock().on_next_lock([&] { clock->advance(5); });

  auto [acquirer, acquired] = acquire_in_background(limiter, "a");
  // 1000 - (1005 - 100) + 1 = 96 ms, plus the 300 ms buffer, without the lock.
  REQUIRE(eventually([&] { return bucket->log.contains(acquirer, "unlock"); }));
  CHECK_FALSE(limiter.try_acquire("b", non_blocking()));  // others acquire meanwhile
  REQUIRE(bucket->recording_lock().try_lock());
  clock->set(2000);
  bucket->recording_lock().unlock();
  REQUIRE(acquired.wait_for(10s) == std::future_status::ready);
  CHECK(acquired.get());

  CHECK(bucket->log.of(acquirer) ==
        std::vector<std::string>{"now", "lock", "now", "put 1005 locked", "waiting locked",
                                 "unlock", "lock", "now", "put 2000 locked", "unlock"});
}

TEST_CASE("After sleeping, the limiter never stamps the item earlier than before") {
  auto clock = std::make_shared<FakeClock>(1000);
  auto bucket = std::make_shared<LockedBucket>(std::vector<Rate>{Rate(1, 100)}, clock);
  REQUIRE(bucket->put(RateItem{"earlier", 1000, 1}));
  Limiter limiter(bucket, 200);
  auto [acquirer, acquired] = acquire_in_background(limiter, "a");
  REQUIRE(eventually([&] { return bucket->log.contains(acquirer, "unlock"); }));
  clock->set(0);  // the clock steps back while the acquirer sleeps
  bucket->flush();
  REQUIRE(acquired.wait_for(10s) == std::future_status::ready);
  CHECK(acquired.get());
  CHECK(bucket->log.contains(acquirer, "put 1000 locked"));
  CHECK_FALSE(bucket->log.contains(acquirer, "put 0 locked"));
  CHECK(bucket->peek(0)->timestamp == 1000);
}

TEST_CASE("The timeout bounds the wait for the bucket's lock") {
  auto clock = std::make_shared<FakeClock>(0);
  auto bucket = std::make_shared<LockedBucket>(std::vector<Rate>{Rate(5, 1000)}, clock);
  Limiter limiter(bucket);
  bucket->recording_lock().lock();  // another process holds it
  const auto elapsed = time_of([&] { CHECK_FALSE(limiter.try_acquire("x", with_timeout(200ms))); });
  bucket->recording_lock().unlock();
  CHECK(elapsed >= 190ms);
  CHECK(elapsed < 5s);
  CHECK(bucket->count() == 0);
  CHECK(limiter.try_acquire("x", with_timeout(200ms)));
}

namespace {

// An in-memory bucket whose put stops, while `gate` is held, inside the bucket: as a SQLite
// bucket's transaction waits for the disk.
class GatedBucket final : public pyrate::AbstractBucket {
 public:
  explicit GatedBucket(std::vector<Rate> rates) : AbstractBucket(rates), inner_(rates) {}

  bool put(const RateItem& item) override {
    entered.store(true);
    std::lock_guard pass(gate);
    const bool admitted = inner_.put(item);
    set_failing_rate(inner_.failing_rate());
    return admitted;
  }
  std::int64_t leak(std::optional<Millis> timestamp) override { return inner_.leak(timestamp); }
  void flush() override { inner_.flush(); }
  std::int64_t count() override { return inner_.count(); }
  std::optional<RateItem> peek(std::int64_t index) override { return inner_.peek(index); }

  std::mutex gate;
  std::atomic<bool> entered{false};

 private:
  InMemoryBucket inner_;
};

// Routes "gated..." to a GatedBucket and every other name to an in-memory bucket of its own.
class GatedAndFreeFactory final : public pyrate::BucketFactory {
 public:
  GatedAndFreeFactory()
      : gated(std::make_shared<GatedBucket>(std::vector<Rate>{Rate(5, 1000)})),
        free(std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(1, Duration::Hour)})) {}
  RateItem wrap_item(std::string_view name, std::int64_t weight) override {
    return RateItem{std::string(name), 0, weight};
  }
  std::shared_ptr<pyrate::AbstractBucket> get(const RateItem& item) override {
    if (item.name.starts_with("gated")) return gated;
    return free;
  }
  std::shared_ptr<GatedBucket> gated;
  std::shared_ptr<InMemoryBucket> free;
};

}  // namespace

TEST_CASE("An acquire stopped inside one bucket never delays an acquire on another bucket") {
  auto factory = std::make_shared<GatedAndFreeFactory>();
  Limiter limiter(factory);
  std::unique_lock closed(factory->gated->gate);
  auto stopped = std::async(std::launch::async, [&] { return limiter.try_acquire("gated"); });
  REQUIRE(eventually([&] { return factory->gated->entered.load(); }));
  // The limiter holds no lock of its own across a bucket's put.
  CHECK(limiter.try_acquire("other", non_blocking()));
  CHECK_FALSE(limiter.try_acquire("other", non_blocking()));
  CHECK(stopped.wait_for(0ms) == std::future_status::timeout);
  closed.unlock();
  CHECK(stopped.get());
}

TEST_CASE("A blocking acquire sleeping on one full name never delays an acquire on another name") {
  auto clock = std::make_shared<FakeClock>(0);
  auto factory = std::make_shared<TwoBucketFactory>(clock);
  Limiter limiter(factory, 0);
  REQUIRE(limiter.try_acquire("apple", non_blocking()));
  // "avocado" goes to the same full bucket and sleeps for about a second.
  auto [sleeper, admitted] = acquire_in_background(limiter, "avocado");
  std::this_thread::sleep_for(50ms);
  const auto elapsed = time_of([&] {
    CHECK(limiter.try_acquire("banana", with_timeout(5s)));
    CHECK(limiter.try_acquire("cherry", with_timeout(5s)));
  });
  CHECK(elapsed < 500ms);
  CHECK(admitted.wait_for(0ms) == std::future_status::timeout);
  clock->set(1001);
  REQUIRE(admitted.wait_for(10s) == std::future_status::ready);
  CHECK(admitted.get());
}

TEST_CASE("acquire returns the bucket's Decision: admitted, or refused with its wait") {
  auto clock = std::make_shared<FakeClock>(0);
  Limiter limiter(clocked_bucket({Rate(2, 1000)}, clock));
  const pyrate::Decision first = limiter.acquire("x", non_blocking());
  CHECK(first.admitted);
  CHECK(first.remaining == 1);
  CHECK(first.tightest_rate == Rate(2, 1000));
  clock->set(300);
  REQUIRE(limiter.acquire("x", non_blocking()).admitted);
  clock->set(400);
  const pyrate::Decision refused = limiter.acquire("x", non_blocking());
  CHECK_FALSE(refused.admitted);
  CHECK(refused.failing_rate == Rate(2, 1000));
  CHECK(refused.retry_after == 0 - (400 - 1000) + 1);
  CHECK(limiter.try_acquire("x", non_blocking()) == refused.admitted);
}

TEST_CASE("acquire of a weight that never fits returns at once with retry_after -1") {
  Limiter limiter(Rate(3, 1000));
  const auto elapsed = time_of([&] {
    const pyrate::Decision never = limiter.acquire("x", with_timeout(5s, 4));
    CHECK_FALSE(never.admitted);
    CHECK(never.retry_after == -1);
  });
  CHECK(elapsed < 1s);
}

TEST_CASE("acquire that times out returns the refusal of its last check") {
  auto clock = std::make_shared<FakeClock>(0);
  Limiter limiter(clocked_bucket({Rate(1, 10'000)}, clock));
  REQUIRE(limiter.try_acquire("x", non_blocking()));
  const pyrate::Decision timed_out = limiter.acquire("x", with_timeout(100ms));
  CHECK_FALSE(timed_out.admitted);
  CHECK(timed_out.failing_rate == Rate(1, 10'000));
  CHECK(timed_out.retry_after == 10'001);
}

TEST_CASE("buckets lists the limiter's buckets and dispose stops leaking one, leaving it open") {
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(5, 1000)});
  Limiter limiter(bucket);
  CHECK(limiter.buckets() == Buckets{bucket});
  CHECK(limiter.dispose(*bucket));
  CHECK_FALSE(limiter.dispose(*bucket));
  CHECK(limiter.buckets().empty());
  CHECK(bucket->count() == 0);
}

TEST_CASE("Limiter close stops leaking and closes the buckets; it is idempotent") {
  const int before = leaker_threads();
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(5, 1000)});
  Limiter limiter(bucket);
  REQUIRE(limiter.try_acquire("x", non_blocking()));
  REQUIRE(eventually([&] { return leaker_threads() == before + 1; }));
  limiter.close();
  CHECK(leaker_threads() == before);
  CHECK_THROWS_AS(bucket->count(), std::logic_error);
  CHECK_THROWS_AS(limiter.try_acquire("x", non_blocking()), std::logic_error);
  CHECK_NOTHROW(limiter.close());
}

TEST_CASE("Destroying a Limiter stops leaking and closes its buckets") {
  const int before = leaker_threads();
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(5, 1000)});
  {
    Limiter limiter(bucket);
    REQUIRE(eventually([&] { return leaker_threads() == before + 1; }));
  }
  CHECK(leaker_threads() == before);
  CHECK_THROWS_AS(bucket->count(), std::logic_error);
}

TEST_CASE("create_inmemory_limiter makes a limiter of rate_per_duration per duration ms") {
  auto limiter = pyrate::create_inmemory_limiter();
  REQUIRE(limiter->buckets().size() == 1);
  REQUIRE(dynamic_cast<InMemoryBucket*>(limiter->buckets()[0].get()) != nullptr);
  CHECK(limiter->buckets()[0]->rates() == std::vector<Rate>{Rate(3, 1000)});
  limiter->buckets()[0]->set_clock(std::make_shared<FakeClock>(0));
  for (int i = 0; i < 3; ++i) CHECK(limiter->try_acquire("x", non_blocking()));
  CHECK_FALSE(limiter->try_acquire("x", non_blocking()));

  auto custom = pyrate::create_inmemory_limiter(5, 2000, 0);
  CHECK(custom->buckets()[0]->rates() == std::vector<Rate>{Rate(5, 2000)});
  CHECK_THROWS_AS(pyrate::create_inmemory_limiter(0), std::invalid_argument);
  CHECK_THROWS_AS(pyrate::create_inmemory_limiter(3, 0), std::invalid_argument);
  CHECK_THROWS_AS(pyrate::create_inmemory_limiter(3, 1000, -1), std::invalid_argument);
}

TEST_CASE("Threads acquiring through one limiter while the leaker runs admit exactly the limit") {
  // The clock moves only between phases, so each phase admits exactly `kLimit`; meanwhile the
  // leaker, every millisecond, removes the slots that expired.
  constexpr std::int64_t kLimit = 1000;
  constexpr int kThreads = 4;
  constexpr int kAttemptsEach = 600;
  auto clock = std::make_shared<FakeClock>(0);
  auto bucket = clocked_bucket({Rate(kLimit, 1000)}, clock);
  REQUIRE(bucket->put(RateItem{"expired", 0, 500}));
  auto factory = std::make_shared<SingleBucketFactory>(bucket, false);
  factory->set_leak_interval(1);
  factory->schedule_leak(bucket);
  Limiter limiter(factory);

  const auto run_phase = [&] {
    std::atomic<std::int64_t> admitted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < kAttemptsEach; ++i) {
          if (limiter.try_acquire("worker", non_blocking())) admitted.fetch_add(1);
        }
      });
    }
    for (auto& thread : threads) thread.join();
    return admitted.load();
  };

  clock->set(10'000);  // the 500 slots at 0 lie outside every window from now on
  CHECK(run_phase() == kLimit);
  CHECK(eventually([&] { return bucket->count() == kLimit; }));  // the leaker took the 500

  clock->set(11'001);  // the window [10'001, 11'001] is empty again
  CHECK(run_phase() == kLimit);
  CHECK(eventually([&] { return bucket->count() == kLimit; }));
  CHECK(bucket->peek(kLimit - 1)->timestamp == 11'001);
}

TEST_CASE("Blocking acquires from several threads are all admitted, never beyond the rate") {
  constexpr Millis kInterval = 200;
  constexpr std::int64_t kLimit = 5;
  Limiter limiter(Rate(kLimit, kInterval), 5);
  auto bucket = limiter.buckets()[0];
  std::vector<std::future<int>> workers;
  for (int t = 0; t < 3; ++t) {
    workers.push_back(std::async(std::launch::async, [&] {
      int admitted = 0;
      for (int i = 0; i < 4; ++i) admitted += limiter.try_acquire("worker") ? 1 : 0;
      return admitted;
    }));
  }
  int admitted = 0;
  for (auto& worker : workers) admitted += worker.get();
  CHECK(admitted == 12);
  REQUIRE(bucket->count() == 12);
  // No window [t - interval, t] holds more than the limit.
  for (std::int64_t newest = 0; newest + kLimit < 12; ++newest) {
    const Millis t = bucket->peek(newest)->timestamp;
    CHECK(bucket->peek(newest + kLimit)->timestamp < t - kInterval);
  }
}
