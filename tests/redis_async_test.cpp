// The AsyncLimiter over a RedisBucket and a redis-server the test starts: the bucket's calls
// run on the limiter's blocking threads, the limit holds, and a server that went away
// completes the acquire with its StorageError.
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <pyrate/async_limiter.hpp>
#include <pyrate/pyrate.hpp>
#include <pyrate/redis_bucket.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/async_outcomes.hpp"
#include "support/redis_keys.hpp"
#include "support/redis_server.hpp"
#include "support/window_check.hpp"

using namespace pyrate;
using namespace pyrate::testing;
using pyrate_test::message_of;
using pyrate_test::Outcomes;

namespace {

// A RedisBucket seen through a bucket that records the threads calling into it.
class ThreadRecordingBucket final : public AbstractBucket {
 public:
  explicit ThreadRecordingBucket(std::shared_ptr<RedisBucket> inner)
      : AbstractBucket(inner->rates()), inner_(std::move(inner)) {}

  // The threads that called admit() or now(), in order.
  std::vector<std::thread::id> calling_threads() const {
    std::lock_guard lock(mutex_);
    return threads_;
  }

  bool put(const RateItem& item) override { return admit(item).admitted; }
  Decision admit(const RateItem& item) override {
    record();
    return inner_->admit(item);
  }
  Millis now() override {
    record();
    return inner_->now();
  }
  std::int64_t leak(std::optional<Millis> current_timestamp) override {
    return inner_->leak(current_timestamp);
  }
  void flush() override { inner_->flush(); }
  std::int64_t count() override { return inner_->count(); }
  std::optional<RateItem> peek(std::int64_t index) override { return inner_->peek(index); }
  Millis waiting(const RateItem& item) override { return inner_->waiting(item); }
  bool may_block() const noexcept override { return inner_->may_block(); }
  void close() override {
    inner_->close();
    AbstractBucket::close();
  }

 private:
  void record() {
    std::lock_guard lock(mutex_);
    threads_.push_back(std::this_thread::get_id());
  }

  std::shared_ptr<RedisBucket> inner_;
  mutable std::mutex mutex_;
  std::vector<std::thread::id> threads_;
};

RedisOptions on(const RedisServer& server, const std::string& bucket) {
  RedisOptions options;
  options.url = server.url();
  options.bucket = bucket;
  return options;
}

AcquireOptions blocking() { return AcquireOptions{1, true, std::chrono::milliseconds(5000)}; }

}  // namespace

TEST_CASE("An AsyncLimiter calls a RedisBucket on its blocking threads and the limit holds",
          "[redis-async]") {
  RedisServer server({.unix_socket = true, .password = {}, .append_only = false});
  // The wide rate keeps every slot from being leaked before the end.
  const std::vector<Rate> rates{Rate(2, 200), Rate(100, 60'000)};
  auto redis = std::make_shared<RedisBucket>(rates, on(server, "async"));
  auto bucket = std::make_shared<ThreadRecordingBucket>(redis);
  REQUIRE(bucket->may_block());
  boost::asio::io_context io;
  AsyncLimiterOptions options;
  options.buffer_ms = 5;
  options.blocking_threads = 2;
  AsyncLimiter limiter(io.get_executor(), bucket, options);
  constexpr std::size_t kAcquires = 6;
  Outcomes outcomes(kAcquires);
  for (std::size_t i = 0; i < kAcquires; ++i) {
    limiter.async_acquire("w" + std::to_string(i), blocking(), outcomes.handler(i));
  }
  io.run();
  for (std::size_t i = 0; i < kAcquires; ++i) {
    CAPTURE(i, message_of(outcomes.at(i).error));
    CHECK(outcomes.at(i).decision.admitted);
    CHECK(outcomes.at(i).thread == std::this_thread::get_id());
  }
  const auto threads = bucket->calling_threads();
  REQUIRE(threads.size() >= kAcquires);
  for (const auto& thread : threads) CHECK(thread != std::this_thread::get_id());
  const std::vector<std::int64_t> stamps = slot_stamps(stored_entries(server, "async"));
  CHECK(stamps.size() == kAcquires);
  CHECK(respects_rates(stamps, rates));
}

TEST_CASE(
    "An async acquire over a RedisBucket whose server died completes with its "
    "StorageError",
    "[redis-async]") {
  RedisServer server({.unix_socket = true, .password = {}, .append_only = false});
  auto bucket = std::make_shared<RedisBucket>(std::vector<Rate>{Rate(5, 1000)}, on(server, "gone"));
  boost::asio::io_context io;
  AsyncLimiter limiter(io.get_executor(), bucket);
  server.kill();
  Outcomes outcomes(1);
  limiter.async_acquire("w", blocking(), outcomes.handler(0));
  io.run();
  REQUIRE(outcomes.at(0).calls == 1);
  CHECK_FALSE(outcomes.at(0).decision.admitted);
  REQUIRE(outcomes.at(0).error);
  CHECK_THROWS_AS(std::rethrow_exception(outcomes.at(0).error), StorageUnavailableError);
  CHECK_THAT(message_of(outcomes.at(0).error), Catch::Matchers::Contains(server.url()));
}
