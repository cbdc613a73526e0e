#include <utility>
//
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/system/system_error.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <pyrate/async_limiter.hpp>
#include <pyrate/pyrate.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/async_outcomes.hpp"
#include "support/eventually.hpp"
#include "support/fake_clock.hpp"
#include "support/probe_bucket.hpp"
#include "support/sqlite_test_support.hpp"
#include "support/thread_census.hpp"

using pyrate::AcquireOptions;
using pyrate::AsyncLimiter;
using pyrate::AsyncLimiterOptions;
using pyrate::Decision;
using pyrate::InMemoryBucket;
using pyrate::Millis;
using pyrate::Rate;
using pyrate::RateItem;
using pyrate::testing::settled_thread_count;
using pyrate::testing::thread_count;
using pyrate_test::message_of;
using pyrate_test::Outcome;
using pyrate_test::Outcomes;
using pyrate_test::ProbeBucket;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

AcquireOptions blocking(std::int64_t weight = 1) {
  AcquireOptions options;
  options.weight = weight;
  return options;
}

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

AsyncLimiterOptions buffer(Millis buffer_ms) {
  AsyncLimiterOptions options;
  options.buffer_ms = buffer_ms;
  return options;
}

Millis millis_between(SteadyClock::time_point from, SteadyClock::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

bool aborted(const std::exception_ptr& error) {
  try {
    if (error) std::rethrow_exception(error);
  } catch (const boost::system::system_error& e) {
    return e.code() == boost::asio::error::operation_aborted;
  } catch (...) {
  }
  return false;
}

// An io_context run by `threads` threads until the runner is destroyed.
class IoThreads {
 public:
  explicit IoThreads(int threads) : work_(boost::asio::make_work_guard(io_)) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~IoThreads() {
    work_.reset();
    for (auto& thread : threads_) thread.join();
  }
  boost::asio::io_context& io() { return io_; }
  std::vector<std::thread::id> ids() const {
    std::vector<std::thread::id> ids;
    for (const auto& thread : threads_) ids.push_back(thread.get_id());
    return ids;
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

// True when no more than `rate.limit` of `stamps` (sorted) fall in any window of the rate.
bool respects(const std::vector<Millis>& stamps, const Rate& rate) {
  for (std::size_t i = 0; i + rate.limit < stamps.size(); ++i) {
    if (stamps[i + rate.limit] - stamps[i] <= rate.interval) return false;
  }
  return true;
}

// The timestamps of every slot of `bucket`, oldest first.
std::vector<Millis> stamps_of(pyrate::AbstractBucket& bucket) {
  std::vector<Millis> stamps;
  for (std::int64_t i = bucket.count() - 1; i >= 0; --i)
    stamps.push_back(bucket.peek(i)->timestamp);
  return stamps;
}

}  // namespace

TEST_CASE("async_acquire completes on the executor, never inside the call") {
  boost::asio::io_context io;
  AsyncLimiter limiter(io.get_executor(), std::vector<Rate>{Rate(5, 1000)});
  Outcomes outcomes(1);
  limiter.async_acquire("a", blocking(), outcomes.handler(0));
  CHECK(outcomes.completed() == 0);
  io.run();
  const Outcome outcome = outcomes.at(0);
  CHECK(outcome.calls == 1);
  CHECK_FALSE(outcome.error);
  CHECK(outcome.decision.admitted);
  CHECK(outcome.thread == std::this_thread::get_id());
}

TEST_CASE("Many waiters on one io thread wait on timers, adding no thread") {
  boost::asio::io_context io;
  const Rate rate(20, 100);
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{rate});
  AsyncLimiter limiter(io.get_executor(), bucket, buffer(5));
  constexpr std::size_t kWaiters = 200;
  Outcomes outcomes(kWaiters);
  const std::size_t threads_before = settled_thread_count();
  for (std::size_t i = 0; i < kWaiters; ++i) {
    limiter.async_acquire("w", blocking(), outcomes.handler(i));
  }
  std::size_t threads_while_waiting = 0;
  boost::asio::steady_timer probe(io, 150ms);
  probe.async_wait(
      [&](const boost::system::error_code&) { threads_while_waiting = thread_count(); });
  io.run();
  CHECK(threads_while_waiting == threads_before);
  CHECK(outcomes.completed() == kWaiters);
  for (std::size_t i = 0; i < kWaiters; ++i) CHECK(outcomes.at(i).decision.admitted);
  CHECK(respects(stamps_of(*bucket), rate));
}

TEST_CASE("Blocking acquires of one bucket are admitted in the order they started") {
  boost::asio::io_context io;
  AsyncLimiter limiter(io.get_executor(), std::vector<Rate>{Rate(1, 30)}, buffer(1));
  constexpr std::size_t kWaiters = 8;
  Outcomes outcomes(kWaiters);
  for (std::size_t i = 0; i < kWaiters; ++i) {
    limiter.async_acquire("w", blocking(), outcomes.handler(i));
  }
  io.run();
  CHECK(outcomes.order() == std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7});
}

TEST_CASE("A heavy head holds back a later light acquire that would fit now") {
  boost::asio::io_context io;
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(3, 300)});
  AsyncLimiter limiter(io.get_executor(), bucket, buffer(1));
  REQUIRE(bucket->put(RateItem{"held", bucket->now(), 2}));
  Outcomes outcomes(2);
  limiter.async_acquire("heavy", blocking(2), outcomes.handler(0));  // waits for both slots
  limiter.async_acquire("light", blocking(1), outcomes.handler(1));  // one slot is free now
  const auto start = SteadyClock::now();
  io.run();
  CHECK(outcomes.order() == std::vector<std::size_t>{0, 1});
  CHECK(outcomes.at(0).decision.admitted);
  CHECK(outcomes.at(1).decision.admitted);
  CHECK(millis_between(start, outcomes.at(1).at) >= 290);
}

TEST_CASE("A non-blocking acquire is decided at once, beside the waiting ones") {
  boost::asio::io_context io;
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(3, 300)});
  AsyncLimiter limiter(io.get_executor(), bucket, buffer(1));
  REQUIRE(bucket->put(RateItem{"held", bucket->now(), 2}));
  Outcomes outcomes(2);
  limiter.async_acquire("heavy", blocking(2), outcomes.handler(0));
  limiter.async_acquire("now", non_blocking(1), outcomes.handler(1));
  io.run();
  CHECK(outcomes.order() == std::vector<std::size_t>{1, 0});
  CHECK(outcomes.at(1).decision.admitted);
}

TEST_CASE("A blocking acquire whose wait ends past its timeout is refused at once") {
  boost::asio::io_context io;
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(1, 2000)});
  AsyncLimiter limiter(io.get_executor(), bucket);
  REQUIRE(bucket->put(RateItem{"held", bucket->now(), 1}));
  Outcomes outcomes(1);
  const auto start = SteadyClock::now();
  limiter.async_acquire("late", with_timeout(200ms), outcomes.handler(0));
  io.run();
  const Outcome outcome = outcomes.at(0);
  CHECK_FALSE(outcome.decision.admitted);
  CHECK(outcome.decision.failing_rate == Rate(1, 2000));
  CHECK(outcome.decision.retry_after > 200);
  CHECK(millis_between(start, outcome.at) < 150);
}

TEST_CASE("The wait plus buffer_ms is capped at the deadline") {
  boost::asio::io_context io;
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(1, 150)});
  AsyncLimiter limiter(io.get_executor(), bucket, buffer(400));
  REQUIRE(bucket->put(RateItem{"held", bucket->now(), 1}));
  Outcomes outcomes(1);
  const auto start = SteadyClock::now();
  limiter.async_acquire("capped", with_timeout(300ms), outcomes.handler(0));
  io.run();
  CHECK(outcomes.at(0).decision.admitted);
  const Millis waited = millis_between(start, outcomes.at(0).at);
  CHECK(waited >= 295);
  CHECK(waited < 500);
}

TEST_CASE("An acquire queued behind a head that waits past its deadline is refused at once") {
  boost::asio::io_context io;
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(1, 1000)});
  AsyncLimiter limiter(io.get_executor(), bucket, buffer(1));
  REQUIRE(bucket->put(RateItem{"held", bucket->now(), 1}));
  Outcomes outcomes(2);
  const auto start = SteadyClock::now();
  limiter.async_acquire("head", blocking(), outcomes.handler(0));
  limiter.async_acquire("behind", with_timeout(300ms), outcomes.handler(1));
  io.run_for(200ms);
  REQUIRE(outcomes.completed() == 1);
  const Outcome behind = outcomes.at(1);
  CHECK_FALSE(behind.decision.admitted);
  CHECK_FALSE(behind.decision.failing_rate);
  CHECK(behind.decision.retry_after == 0);
  CHECK(millis_between(start, behind.at) < 150);
  limiter.cancel();
  io.run();
}

TEST_CASE("An acquire queued behind the head is refused at its deadline, naming no rate") {
  boost::asio::io_context io;
  auto clock = std::make_shared<pyrate_test::FakeClock>(1'000'000);
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(1, 100)});
  bucket->set_clock(clock);  // never moves: the head is refused on every check
  AsyncLimiter limiter(io.get_executor(), bucket, buffer(0));
  REQUIRE(bucket->put(RateItem{"held", clock->now(), 1}));
  Outcomes outcomes(2);
  const auto start = SteadyClock::now();
  limiter.async_acquire("head", blocking(), outcomes.handler(0));
  limiter.async_acquire("behind", with_timeout(250ms), outcomes.handler(1));
  io.run_for(600ms);
  REQUIRE(outcomes.completed() == 1);
  const Outcome behind = outcomes.at(1);
  CHECK_FALSE(behind.decision.admitted);
  CHECK_FALSE(behind.decision.failing_rate);
  const Millis waited = millis_between(start, behind.at);
  CHECK(waited >= 245);
  CHECK(waited < 450);
  limiter.cancel();
  io.run();
  CHECK(aborted(outcomes.at(0).error));
}

TEST_CASE("A weight that can never fit completes at once with retry_after -1") {
  boost::asio::io_context io;
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(1, 1000)});
  AsyncLimiter limiter(io.get_executor(), bucket);
  REQUIRE(bucket->put(RateItem{"held", bucket->now(), 1}));
  Outcomes outcomes(2);
  limiter.async_acquire("waits", blocking(), outcomes.handler(0));
  const auto start = SteadyClock::now();
  limiter.async_acquire("huge", blocking(2), outcomes.handler(1));
  io.run_for(100ms);
  REQUIRE(outcomes.completed() == 1);
  CHECK_FALSE(outcomes.at(1).decision.admitted);
  CHECK(outcomes.at(1).decision.retry_after == -1);
  CHECK(millis_between(start, outcomes.at(1).at) < 80);
  limiter.cancel();
  io.run();
}

TEST_CASE("Weight 0 is admitted at once, even when the bucket is full") {
  boost::asio::io_context io;
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(1, 1000)});
  AsyncLimiter limiter(io.get_executor(), bucket);
  REQUIRE(bucket->put(RateItem{"held", bucket->now(), 1}));
  Outcomes outcomes(1);
  limiter.async_acquire("zero", blocking(0), outcomes.handler(0));
  io.run();
  CHECK(outcomes.at(0).decision.admitted);
  CHECK(bucket->count() == 1);
}

TEST_CASE("Invalid acquire options complete with std::invalid_argument") {
  boost::asio::io_context io;
  AsyncLimiter limiter(io.get_executor(), std::vector<Rate>{Rate(1, 1000)});
  AcquireOptions timeout_without_blocking = non_blocking();
  timeout_without_blocking.timeout = 10ms;
  const std::vector<AcquireOptions> invalid{blocking(-1), with_timeout(-1ms),
                                            timeout_without_blocking};
  Outcomes outcomes(invalid.size());
  for (std::size_t i = 0; i < invalid.size(); ++i) {
    limiter.async_acquire("bad", invalid[i], outcomes.handler(i));
  }
  io.run();
  for (std::size_t i = 0; i < invalid.size(); ++i) {
    CHECK_THROWS_AS(std::rethrow_exception(outcomes.at(i).error), std::invalid_argument);
  }
}

TEST_CASE("The constructors refuse a null factory or bucket, a negative buffer, no threads") {
  boost::asio::io_context io;
  const auto executor = io.get_executor();
  CHECK_THROWS_AS(AsyncLimiter(executor, std::shared_ptr<pyrate::BucketFactory>()),
                  std::invalid_argument);
  CHECK_THROWS_AS(AsyncLimiter(executor, std::shared_ptr<pyrate::AbstractBucket>()),
                  std::invalid_argument);
  CHECK_THROWS_AS(AsyncLimiter(executor, std::shared_ptr<pyrate::AsyncBucket>()),
                  std::invalid_argument);
  CHECK_THROWS_AS(AsyncLimiter(executor, std::vector<Rate>{Rate(1, 10)}, buffer(-1)),
                  std::invalid_argument);
  AsyncLimiterOptions no_threads;
  no_threads.blocking_threads = 0;
  CHECK_THROWS_AS(AsyncLimiter(executor, std::vector<Rate>{Rate(1, 10)}, no_threads),
                  std::invalid_argument);
}

TEST_CASE("cancel() completes every pending acquire once with operation_aborted") {
  boost::asio::io_context io;
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(1, 5000)});
  AsyncLimiter limiter(io.get_executor(), bucket);
  REQUIRE(bucket->put(RateItem{"held", bucket->now(), 1}));
  constexpr std::size_t kWaiters = 20;
  Outcomes outcomes(kWaiters + 1);
  for (std::size_t i = 0; i < kWaiters; ++i) {
    limiter.async_acquire("w", with_timeout(8000ms), outcomes.handler(i));
  }
  io.run_for(50ms);
  REQUIRE(outcomes.completed() == 0);
  limiter.cancel();
  io.run_for(50ms);
  for (std::size_t i = 0; i < kWaiters; ++i) {
    CHECK(aborted(outcomes.at(i).error));
    CHECK(outcomes.at(i).calls == 1);
  }
  // Still usable: a later acquire is served.
  bucket->flush();
  limiter.async_acquire("after", blocking(), outcomes.handler(kWaiters));
  io.restart();
  io.run_for(200ms);
  CHECK(outcomes.at(kWaiters).decision.admitted);
  CHECK(outcomes.completed() == kWaiters + 1);
}

TEST_CASE("close() aborts pending acquires and refuses later ones with std::logic_error") {
  boost::asio::io_context io;
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(1, 5000)});
  AsyncLimiter limiter(io.get_executor(), bucket);
  REQUIRE(bucket->put(RateItem{"held", bucket->now(), 1}));
  Outcomes outcomes(2);
  limiter.async_acquire("pending", blocking(), outcomes.handler(0));
  io.run_for(30ms);
  limiter.close();
  limiter.close();
  limiter.async_acquire("later", blocking(), outcomes.handler(1));
  io.run();
  CHECK(aborted(outcomes.at(0).error));
  CHECK_THROWS_AS(std::rethrow_exception(outcomes.at(1).error), std::logic_error);
  CHECK_THROWS_AS(bucket->count(), std::logic_error);
}

TEST_CASE("Destroying the limiter completes pending acquires with operation_aborted") {
  boost::asio::io_context io;
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(1, 5000)});
  Outcomes outcomes(3);
  {
    AsyncLimiter limiter(io.get_executor(), bucket);
    REQUIRE(bucket->put(RateItem{"held", bucket->now(), 1}));
    for (std::size_t i = 0; i < 3; ++i) {
      limiter.async_acquire("pending", blocking(), outcomes.handler(i));
    }
    io.run_for(30ms);
  }
  io.run();
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(aborted(outcomes.at(i).error));
    CHECK(outcomes.at(i).calls == 1);
  }
}

TEST_CASE("Destroying the limiter aborts an acquire whose check runs on a blocking thread") {
  boost::asio::io_context io;
  auto bucket = std::make_shared<ProbeBucket>(std::vector<Rate>{Rate(5, 1000)}, true);
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  bucket->before_admit = [&entered, released] {
    entered.set_value();
    released.wait();
  };
  Outcomes outcomes(1);
  std::thread releaser;
  {
    AsyncLimiter limiter(io.get_executor(), bucket);
    limiter.async_acquire("stuck", blocking(), outcomes.handler(0));
    entered.get_future().wait();
    releaser = std::thread([&release] {
      std::this_thread::sleep_for(50ms);
      release.set_value();
    });
  }  // waits for the check under way
  releaser.join();
  io.run();
  CHECK(aborted(outcomes.at(0).error));
  CHECK(outcomes.at(0).calls == 1);
}

TEST_CASE("A bucket's StorageError reaches the handler with its type and message") {
  const bool may_block = GENERATE(true, false);
  boost::asio::io_context io;
  auto bucket = std::make_shared<ProbeBucket>(std::vector<Rate>{Rate(5, 1000)}, may_block);
  int calls = 0;
  bucket->before_admit = [&calls] {
    if (++calls == 1) throw pyrate::StorageError("disk full: /tmp/limits.db");
  };
  AsyncLimiter limiter(io.get_executor(), bucket);
  Outcomes outcomes(2);
  limiter.async_acquire("fails", blocking(), outcomes.handler(0));
  limiter.async_acquire("next", blocking(), outcomes.handler(1));
  io.run();
  CHECK_THROWS_AS(std::rethrow_exception(outcomes.at(0).error), pyrate::StorageError);
  CHECK(message_of(outcomes.at(0).error) == "disk full: /tmp/limits.db");
  CHECK(outcomes.at(1).decision.admitted);
}

TEST_CASE("A bucket that may block is checked on the blocking threads, never the io thread") {
  boost::asio::io_context io;
  auto bucket = std::make_shared<ProbeBucket>(std::vector<Rate>{Rate(2, 100)}, true);
  AsyncLimiter limiter(io.get_executor(), bucket, buffer(5));
  Outcomes outcomes(5);
  for (std::size_t i = 0; i < 5; ++i) limiter.async_acquire("w", blocking(), outcomes.handler(i));
  io.run();
  for (std::size_t i = 0; i < 5; ++i) {
    CHECK(outcomes.at(i).decision.admitted);
    CHECK(outcomes.at(i).thread == std::this_thread::get_id());
  }
  const auto threads = bucket->admit_threads();
  REQUIRE(threads.size() >= 5);
  for (const auto& thread : threads) CHECK(thread != std::this_thread::get_id());
}

TEST_CASE("An in-memory bucket is checked inline and starts no blocking thread") {
  boost::asio::io_context io;
  auto bucket = std::make_shared<ProbeBucket>(std::vector<Rate>{Rate(2, 100)}, false);
  const std::size_t threads_before = settled_thread_count();
  AsyncLimiter limiter(io.get_executor(), std::make_shared<pyrate::SingleBucketFactory>(
                                              bucket, /*schedule_leak=*/false));
  Outcomes outcomes(4);
  for (std::size_t i = 0; i < 4; ++i) limiter.async_acquire("w", blocking(), outcomes.handler(i));
  io.run();
  CHECK(thread_count() == threads_before);
  for (const auto& thread : bucket->admit_threads()) CHECK(thread == std::this_thread::get_id());
}

TEST_CASE("A blocking bucket call never holds up the io thread") {
  boost::asio::io_context io;
  auto bucket = std::make_shared<ProbeBucket>(std::vector<Rate>{Rate(5, 1000)}, true);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  bucket->before_admit = [released] { released.wait(); };
  AsyncLimiter limiter(io.get_executor(), bucket);
  Outcomes outcomes(1);
  limiter.async_acquire("slow", blocking(), outcomes.handler(0));
  bool other_work_ran = false;
  boost::asio::post(io, [&] {
    other_work_ran = true;
    release.set_value();
  });
  io.run();
  CHECK(other_work_ran);
  CHECK(outcomes.at(0).decision.admitted);
}

TEST_CASE("The limiter lock is waited for on a blocking thread, no later than the deadline") {
  boost::asio::io_context io;
  pyrate_test::TimedLock lock;
  auto bucket = std::make_shared<ProbeBucket>(std::vector<Rate>{Rate(5, 1000)}, false);
  bucket->lock = &lock;
  AsyncLimiter limiter(io.get_executor(), bucket);
  lock.lock();
  Outcomes outcomes(1);
  const auto start = SteadyClock::now();
  limiter.async_acquire("locked", with_timeout(150ms), outcomes.handler(0));
  int ticks = 0;
  boost::asio::steady_timer tick(io, 20ms);
  tick.async_wait([&](const boost::system::error_code&) { ++ticks; });
  io.run();
  lock.unlock();
  const Outcome outcome = outcomes.at(0);
  CHECK(ticks == 1);
  CHECK_FALSE(outcome.decision.admitted);
  CHECK_FALSE(outcome.decision.failing_rate);
  CHECK(outcome.decision.retry_after == 0);
  const Millis waited = millis_between(start, outcome.at);
  CHECK(waited >= 145);
  CHECK(waited < 400);
  CHECK(bucket->count() == 0);
}

TEST_CASE("SQLiteBucket acquires run on the blocking threads and respect the rate") {
  pyrate_test::ScratchDir dir;
  boost::asio::io_context io;
  const Rate rate(3, 200);
  auto bucket = std::make_shared<pyrate::SQLiteBucket>(std::vector<Rate>{rate},
                                                       pyrate_test::at(dir.file("limits.db")));
  AsyncLimiterOptions options = buffer(5);
  options.blocking_threads = 2;
  AsyncLimiter limiter(io.get_executor(), bucket, options);
  constexpr std::size_t kWaiters = 10;
  Outcomes outcomes(kWaiters);
  for (std::size_t i = 0; i < kWaiters; ++i) {
    limiter.async_acquire("sql", blocking(), outcomes.handler(i));
  }
  io.run();
  for (std::size_t i = 0; i < kWaiters; ++i) {
    INFO(message_of(outcomes.at(i).error));
    CHECK(outcomes.at(i).decision.admitted);
  }
  CHECK(outcomes.order() == std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(bucket->count() == static_cast<std::int64_t>(kWaiters));
  CHECK(respects(stamps_of(*bucket), rate));
}

TEST_CASE("Several io threads share one limiter safely and the rate holds") {
  IoThreads runners(4);
  const Rate rate(10, 100);
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{rate});
  AsyncLimiter limiter(runners.io().get_executor(), bucket, buffer(2));
  constexpr std::size_t kPerStarter = 15;
  constexpr std::size_t kStarters = 4;
  Outcomes outcomes(kPerStarter * kStarters);
  std::vector<std::thread> starters;
  for (std::size_t s = 0; s < kStarters; ++s) {
    starters.emplace_back([&, s] {
      for (std::size_t i = 0; i < kPerStarter; ++i) {
        const std::size_t index = s * kPerStarter + i;
        AcquireOptions options = index % 5 == 0 ? non_blocking() : blocking();
        limiter.async_acquire("t", options, outcomes.handler(index));
      }
    });
  }
  for (auto& starter : starters) starter.join();
  REQUIRE(pyrate::testing::eventually(
      [&] { return outcomes.completed() == kPerStarter * kStarters; }, 10s));
  const auto io_ids = runners.ids();
  for (std::size_t i = 0; i < kPerStarter * kStarters; ++i) {
    const Outcome outcome = outcomes.at(i);
    CHECK(outcome.calls == 1);
    CHECK(std::find(io_ids.begin(), io_ids.end(), outcome.thread) != io_ids.end());
    if (i % 5 != 0) CHECK(outcome.decision.admitted);
  }
  CHECK(respects(stamps_of(*bucket), rate));
}

TEST_CASE("A factory that routes to several buckets keeps one queue per bucket") {
  class TwoBuckets final : public pyrate::BucketFactory {
   public:
    std::shared_ptr<InMemoryBucket> slow =
        std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(1, 5000)});
    std::shared_ptr<InMemoryBucket> fast =
        std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(100, 1000)});
    RateItem wrap_item(std::string_view name, std::int64_t weight) override {
      return RateItem{std::string(name), slow->now(), weight};
    }
    std::shared_ptr<pyrate::AbstractBucket> get(const RateItem& item) override {
      if (item.name == "slow") return slow;
      return fast;
    }
    bool may_block() const noexcept override { return false; }
  };
  boost::asio::io_context io;
  auto factory = std::make_shared<TwoBuckets>();
  REQUIRE(factory->slow->put(RateItem{"held", factory->slow->now(), 1}));
  AsyncLimiter limiter(io.get_executor(), factory);
  Outcomes outcomes(3);
  limiter.async_acquire("slow", blocking(), outcomes.handler(0));
  limiter.async_acquire("fast", blocking(), outcomes.handler(1));
  limiter.async_acquire("fast", blocking(), outcomes.handler(2));
  io.run_for(200ms);
  CHECK(outcomes.completed() == 2);
  CHECK(outcomes.at(1).decision.admitted);
  CHECK(outcomes.at(2).decision.admitted);
  limiter.cancel();
  io.run();
  CHECK(aborted(outcomes.at(0).error));
}

TEST_CASE("A factory that may block is called on the blocking threads") {
  class RecordingFactory final : public pyrate::BucketFactory {
   public:
    std::shared_ptr<InMemoryBucket> bucket =
        std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(10, 1000)});
    std::vector<std::thread::id> threads;
    RateItem wrap_item(std::string_view name, std::int64_t weight) override {
      threads.push_back(std::this_thread::get_id());
      return RateItem{std::string(name), bucket->now(), weight};
    }
    std::shared_ptr<pyrate::AbstractBucket> get(const RateItem&) override { return bucket; }
  };
  boost::asio::io_context io;
  auto factory = std::make_shared<RecordingFactory>();
  AsyncLimiter limiter(io.get_executor(), factory);
  Outcomes outcomes(1);
  limiter.async_acquire("routed", blocking(), outcomes.handler(0));
  io.run();
  CHECK(outcomes.at(0).decision.admitted);
  REQUIRE(factory->threads.size() == 1);
  CHECK(factory->threads[0] != std::this_thread::get_id());
}

TEST_CASE("A factory error reaches the handler") {
  class FailingFactory final : public pyrate::BucketFactory {
   public:
    RateItem wrap_item(std::string_view, std::int64_t) override {
      throw pyrate::StorageError("cannot open /x/limits.db");
    }
    std::shared_ptr<pyrate::AbstractBucket> get(const RateItem&) override { return nullptr; }
  };
  boost::asio::io_context io;
  AsyncLimiter limiter(io.get_executor(), std::make_shared<FailingFactory>());
  Outcomes outcomes(1);
  limiter.async_acquire("x", blocking(), outcomes.handler(0));
  io.run();
  CHECK_THROWS_AS(std::rethrow_exception(outcomes.at(0).error), pyrate::StorageError);
  CHECK(message_of(outcomes.at(0).error) == "cannot open /x/limits.db");
}

TEST_CASE("use_future yields the decision and rethrows the error") {
  IoThreads runner(1);
  AsyncLimiter limiter(runner.io().get_executor(), std::vector<Rate>{Rate(1, 1000)});
  std::future<Decision> first = limiter.async_acquire("f", non_blocking(), boost::asio::use_future);
  CHECK(first.get().admitted);
  std::future<Decision> second =
      limiter.async_acquire("f", non_blocking(), boost::asio::use_future);
  CHECK_FALSE(second.get().admitted);
  std::future<Decision> bad = limiter.async_acquire("f", blocking(-1), boost::asio::use_future);
  CHECK_THROWS_AS(bad.get(), std::invalid_argument);
}

TEST_CASE("use_awaitable resumes the coroutine with the decision or the error") {
  boost::asio::io_context io;
  AsyncLimiter limiter(io.get_executor(), std::vector<Rate>{Rate(1, 100)}, buffer(1));
  std::vector<bool> admitted;
  bool threw = false;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        for (int i = 0; i < 2; ++i) {
          const Decision decision =
              co_await limiter.async_acquire("co", blocking(), boost::asio::use_awaitable);
          admitted.push_back(decision.admitted);
        }
        try {
          co_await limiter.async_acquire("co", blocking(-1), boost::asio::use_awaitable);
        } catch (const std::invalid_argument&) {
          threw = true;
        }
      },
      boost::asio::detached);
  io.run();
  CHECK(admitted == std::vector<bool>{true, true});
  CHECK(threw);
}

TEST_CASE("A routed bucket is checked in its own queue and not held once nothing waits") {
  class ProbeFactory final : public pyrate::BucketFactory {
   public:
    std::shared_ptr<ProbeBucket> bucket =
        std::make_shared<ProbeBucket>(std::vector<Rate>{Rate(1, 60)}, true);
    RateItem wrap_item(std::string_view name, std::int64_t weight) override {
      return RateItem{std::string(name), bucket->now(), weight};
    }
    std::shared_ptr<pyrate::AbstractBucket> get(const RateItem&) override { return bucket; }
  };
  boost::asio::io_context io;
  auto factory = std::make_shared<ProbeFactory>();
  AsyncLimiter limiter(io.get_executor(), factory, buffer(2));
  Outcomes outcomes(3);
  for (std::size_t i = 0; i < 3; ++i) limiter.async_acquire("r", blocking(), outcomes.handler(i));
  io.run();
  CHECK(outcomes.order() == std::vector<std::size_t>{0, 1, 2});
  for (std::size_t i = 0; i < 3; ++i) CHECK(outcomes.at(i).decision.admitted);
  for (const auto& thread : factory->bucket->admit_threads()) {
    CHECK(thread != std::this_thread::get_id());
  }
  // The blocking thread lets go of the bucket just after the last check reports.
  CHECK(pyrate::testing::eventually([&] { return factory->bucket.use_count() == 1; }));
}
