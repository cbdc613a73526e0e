#include <utility>
//
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <pyrate/async_bucket.hpp>
#include <pyrate/async_limiter.hpp>
#include <pyrate/pyrate.hpp>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support/async_outcomes.hpp"
#include "support/fake_clock.hpp"
#include "support/probe_bucket.hpp"
#include "support/thread_census.hpp"

using pyrate::AsyncBucket;
using pyrate::AsyncBucketAdapter;
using pyrate::AsyncLeakTask;
using pyrate::Decision;
using pyrate::InMemoryBucket;
using pyrate::Millis;
using pyrate::Rate;
using pyrate::RateItem;
using pyrate::testing::settled_thread_count;
using pyrate::testing::thread_count;
using pyrate_test::FakeClock;
using pyrate_test::message_of;
using pyrate_test::ProbeBucket;
using namespace std::chrono_literals;

namespace {

// What one async_* call delivered, and on which thread.
template <class Result>
struct Delivered {
  bool done = false;
  std::exception_ptr error;
  Result result{};
  std::thread::id thread;
};

template <class Result>
auto into(Delivered<Result>& delivered) {
  return [&delivered](std::exception_ptr error, Result result) {
    delivered.done = true;
    delivered.error = std::move(error);
    delivered.result = std::move(result);
    delivered.thread = std::this_thread::get_id();
  };
}

// A bucket whose leak() always throws.
class FailingLeakBucket final : public AsyncBucket {
 public:
  explicit FailingLeakBucket(executor_type executor) : AsyncBucket(executor), rates_{Rate(1, 10)} {}
  const std::vector<Rate>& rates() const noexcept override { return rates_; }
  void admit(RateItem, Completion<Decision> done) override { fail(std::move(done)); }
  void leak(std::optional<Millis>, Completion<std::int64_t> done) override {
    ++leaks;
    fail(std::move(done));
  }
  void flush(Completion<> done) override {
    boost::asio::post(get_executor(), [done] { done(nullptr); });
  }
  void count(Completion<std::int64_t> done) override { fail(std::move(done)); }
  void peek(std::int64_t, Completion<std::optional<RateItem>> done) override {
    fail(std::move(done));
  }
  void waiting(RateItem, Completion<Millis> done) override { fail(std::move(done)); }
  void now(Completion<Millis> done) override {
    boost::asio::post(get_executor(), [done] { done(nullptr, 0); });
  }
  void close() override {}

  int leaks = 0;

 private:
  template <class Result>
  void fail(Completion<Result> done) {
    boost::asio::post(get_executor(), [done] {
      done(std::make_exception_ptr(pyrate::StorageError("leak failed")), Result{});
    });
  }
  std::vector<Rate> rates_;
};

}  // namespace

TEST_CASE(
    "AsyncBucketAdapter runs a blocking bucket's calls on its threads, handlers on the executor") {
  boost::asio::io_context io;
  auto bucket = std::make_shared<ProbeBucket>(std::vector<Rate>{Rate(2, 1000)}, true);
  AsyncBucketAdapter adapter(io.get_executor(), bucket);
  Delivered<Millis> now;
  adapter.async_now(into(now));
  io.run();
  io.restart();
  REQUIRE(now.done);
  Delivered<Decision> first;
  Delivered<Decision> second;
  Delivered<Decision> third;
  adapter.async_admit(RateItem{"a", now.result, 1}, into(first));
  io.run();
  io.restart();
  adapter.async_admit(RateItem{"b", now.result, 1}, into(second));
  io.run();
  io.restart();
  adapter.async_admit(RateItem{"c", now.result, 1}, into(third));
  Delivered<std::int64_t> count;
  Delivered<std::optional<RateItem>> newest;
  Delivered<Millis> waiting;
  io.run();
  io.restart();
  adapter.async_count(into(count));
  adapter.async_peek(0, into(newest));
  adapter.async_waiting(RateItem{"d", now.result, 1}, into(waiting));
  CHECK_FALSE(count.done);
  io.run();
  io.restart();
  CHECK(first.result.admitted);
  CHECK(second.result.admitted);
  CHECK_FALSE(third.result.admitted);
  CHECK(third.result.failing_rate == Rate(2, 1000));
  CHECK(count.result == 2);
  REQUIRE(newest.result);
  CHECK(newest.result->name == "b");
  CHECK(waiting.result > 0);
  for (const auto thread : bucket->admit_threads()) CHECK(thread != std::this_thread::get_id());
  CHECK(first.thread == std::this_thread::get_id());
  CHECK(count.thread == std::this_thread::get_id());
  Delivered<std::int64_t> leaked;
  adapter.async_leak(now.result + 5000, into(leaked));
  io.run();
  CHECK(leaked.result == 2);
}

TEST_CASE("AsyncBucketAdapter calls an in-memory bucket inline and completes later") {
  boost::asio::io_context io;
  auto bucket = std::make_shared<ProbeBucket>(std::vector<Rate>{Rate(2, 1000)}, false);
  const std::size_t threads_before = settled_thread_count();
  AsyncBucketAdapter adapter(io.get_executor(), bucket);
  Delivered<Decision> admitted;
  adapter.async_admit(RateItem{"a", bucket->now(), 1}, into(admitted));
  CHECK_FALSE(admitted.done);
  CHECK(bucket->admit_threads() == std::vector<std::thread::id>{std::this_thread::get_id()});
  io.run();
  CHECK(admitted.result.admitted);
  CHECK(thread_count() == threads_before);
}

TEST_CASE("AsyncBucketAdapter delivers the bucket's exception") {
  boost::asio::io_context io;
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(2, 1000)});
  AsyncBucketAdapter adapter(io.get_executor(), bucket);
  adapter.close();
  std::future<std::int64_t> count = adapter.async_count(boost::asio::use_future);
  io.run();
  CHECK_THROWS_AS(count.get(), std::logic_error);
  bool flushed = false;
  std::exception_ptr flush_error;
  io.restart();
  adapter.async_flush([&](std::exception_ptr error) {
    flushed = true;
    flush_error = std::move(error);
  });
  io.run();
  CHECK(flushed);
  CHECK_THROWS_AS(std::rethrow_exception(flush_error), std::logic_error);
}

TEST_CASE("AsyncBucketAdapter refuses a null bucket or zero threads") {
  boost::asio::io_context io;
  CHECK_THROWS_AS(AsyncBucketAdapter(io.get_executor(), nullptr), std::invalid_argument);
  CHECK_THROWS_AS(
      AsyncBucketAdapter(io.get_executor(),
                         std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(1, 10)}), 0),
      std::invalid_argument);
}

TEST_CASE("AsyncLimiter admits through an AsyncBucket, in order, waiting on timers") {
  boost::asio::io_context io;
  auto bucket = std::make_shared<ProbeBucket>(std::vector<Rate>{Rate(1, 40)}, true);
  auto adapter = std::make_shared<AsyncBucketAdapter>(io.get_executor(), bucket);
  pyrate::AsyncLimiterOptions options;
  options.buffer_ms = 2;
  pyrate::AsyncLimiter limiter(io.get_executor(), adapter, options);
  pyrate_test::Outcomes outcomes(4);
  for (std::size_t i = 0; i < 4; ++i) {
    limiter.async_acquire("x", pyrate::AcquireOptions{}, outcomes.handler(i));
  }
  io.run_for(1s);
  REQUIRE(outcomes.completed() == 4);
  CHECK(outcomes.order() == std::vector<std::size_t>{0, 1, 2, 3});
  for (std::size_t i = 0; i < 4; ++i) {
    INFO(message_of(outcomes.at(i).error));
    CHECK(outcomes.at(i).decision.admitted);
  }
  CHECK(bucket->inner().count() == 4);
}

TEST_CASE("AsyncLeakTask leaks its buckets on the executor without a thread") {
  boost::asio::io_context io;
  auto clock = std::make_shared<FakeClock>(1'000);
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(5, 100)});
  bucket->set_clock(clock);
  REQUIRE(bucket->put(RateItem{"old", 1'000, 3}));
  auto adapter = std::make_shared<AsyncBucketAdapter>(io.get_executor(), bucket);
  const std::size_t threads_before = settled_thread_count();
  AsyncLeakTask task(io.get_executor(), 20);
  task.register_bucket(adapter);
  task.register_bucket(adapter);
  CHECK(task.buckets().size() == 1);
  CHECK_FALSE(task.is_running());
  task.start();
  CHECK(task.is_running());
  io.run_for(60ms);
  CHECK(bucket->count() == 3);  // nothing expired yet
  clock->advance(500);
  io.run_for(80ms);
  CHECK(bucket->count() == 0);
  CHECK(thread_count() == threads_before);
  task.close();
  CHECK_FALSE(task.is_running());
}

TEST_CASE("AsyncLeakTask ends once its last bucket is deregistered") {
  boost::asio::io_context io;
  auto adapter = std::make_shared<AsyncBucketAdapter>(
      io.get_executor(), std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(5, 100)}));
  AsyncLeakTask task(io.get_executor(), 10);
  task.register_bucket(adapter);
  task.start();
  CHECK(task.deregister(*adapter));
  CHECK_FALSE(task.deregister(*adapter));
  io.run_for(100ms);
  CHECK_FALSE(task.is_running());
  task.register_bucket(adapter);
  task.start();
  CHECK(task.is_running());
}

TEST_CASE("AsyncLeakTask reports a failing bucket once and keeps leaking") {
  boost::asio::io_context io;
  auto failing = std::make_shared<FailingLeakBucket>(io.get_executor());
  AsyncLeakTask task(io.get_executor(), 10);
  task.register_bucket(failing);
  task.start();
  io.run_for(150ms);
  CHECK(failing->leaks >= 3);
  CHECK(task.is_running());
}

TEST_CASE("AsyncLeakTask refuses a null bucket and a leak interval that is not positive") {
  boost::asio::io_context io;
  CHECK_THROWS_AS(AsyncLeakTask(io.get_executor(), 0), std::invalid_argument);
  AsyncLeakTask task(io.get_executor());
  CHECK(task.leak_interval() == 10'000);
  CHECK_THROWS_AS(task.set_leak_interval(-1), std::invalid_argument);
  CHECK_THROWS_AS(task.register_bucket(nullptr), std::invalid_argument);
}
