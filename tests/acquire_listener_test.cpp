// AcquireListener and LimiterStats: what a Limiter tells about its acquires, and when.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <iostream>
#include <memory>
#include <mutex>
#include <pyrate/pyrate.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using pyrate::AcquireOptions;
using pyrate::Decision;
using pyrate::Limiter;
using pyrate::Millis;
using pyrate::Rate;
using pyrate::RateItem;

AcquireOptions no_wait() {
  AcquireOptions options;
  options.blocking = false;
  return options;
}

// One call a listener received.
struct Event {
  enum Kind { kAdmitted, kRefused, kWaited, kError } kind;
  std::thread::id thread;
  std::string name;
  Decision decision;                 // admitted, refused
  Millis slept = 0;                  // waited
  std::int64_t slots_recorded = -1;  // the bucket's count() during the call
};

// Records every call, with the bucket's count at that moment.
class RecordingListener : public pyrate::AcquireListener {
 public:
  explicit RecordingListener(std::shared_ptr<pyrate::AbstractBucket> bucket = nullptr)
      : bucket_(std::move(bucket)) {}

  void on_admitted(const RateItem& item, const Decision& decision) override {
    record({Event::kAdmitted, {}, item.name, decision, 0, slots()});
  }
  void on_refused(const RateItem& item, const Decision& decision) override {
    record({Event::kRefused, {}, item.name, decision, 0, slots()});
  }
  void on_waited(const RateItem& item, Millis slept) override {
    record({Event::kWaited, {}, item.name, {}, slept, slots()});
  }
  void on_error(const RateItem& item, std::exception_ptr) override {
    record({Event::kError, {}, item.name, {}, 0, -1});
  }

  std::vector<Event> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }

 private:
  std::int64_t slots() const { return bucket_ ? bucket_->count() : -1; }
  void record(Event event) {
    event.thread = std::this_thread::get_id();
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(event));
  }

  std::shared_ptr<pyrate::AbstractBucket> bucket_;
  mutable std::mutex mutex_;
  std::vector<Event> events_;
};

// Throws from every call, and counts them.
class ThrowingListener : public pyrate::AcquireListener {
 public:
  void on_admitted(const RateItem&, const Decision&) override { fail(); }
  void on_refused(const RateItem&, const Decision&) override { fail(); }
  void on_waited(const RateItem&, Millis) override { fail(); }
  void on_error(const RateItem&, std::exception_ptr) override { fail(); }
  int calls() const { return calls_.load(); }

 private:
  void fail() {
    calls_.fetch_add(1);
    throw std::runtime_error("listener failure");
  }
  std::atomic<int> calls_{0};
};

// Sends std::cerr to a string for its lifetime.
class CapturedStderr {
 public:
  CapturedStderr() : saved_(std::cerr.rdbuf(text_.rdbuf())) {}
  ~CapturedStderr() { std::cerr.rdbuf(saved_); }
  std::string text() const { return text_.str(); }

 private:
  std::ostringstream text_;
  std::streambuf* saved_;
};

}  // namespace

TEST_CASE("the listener is called on the acquiring thread after each decision") {
  auto bucket = std::make_shared<pyrate::InMemoryBucket>(std::vector<Rate>{Rate(1, 60'000)});
  Limiter limiter(bucket);
  auto listener = std::make_shared<RecordingListener>(bucket);
  limiter.set_listener(listener);

  std::thread::id acquiring;
  Decision admitted;
  Decision refused;
  std::thread caller([&] {
    acquiring = std::this_thread::get_id();
    admitted = limiter.acquire("first", no_wait());
    refused = limiter.acquire("second", no_wait());
  });
  caller.join();

  const std::vector<Event> events = listener->events();
  REQUIRE(events.size() == 2);
  CHECK(events[0].kind == Event::kAdmitted);
  CHECK(events[0].name == "first");
  CHECK(events[0].decision.admitted);
  CHECK(events[0].slots_recorded == 1);  // the slot was recorded before the call
  CHECK(events[1].kind == Event::kRefused);
  CHECK(events[1].name == "second");
  CHECK(events[1].decision.retry_after == refused.retry_after);
  CHECK(events[1].decision.failing_rate == Rate(1, 60'000));
  for (const Event& event : events) CHECK(event.thread == acquiring);
  CHECK(admitted.admitted);
  CHECK_FALSE(refused.admitted);
}

TEST_CASE("on_waited is called after each sleep of a blocking acquire, with the time slept") {
  auto bucket = std::make_shared<pyrate::InMemoryBucket>(std::vector<Rate>{Rate(1, 100)});
  Limiter limiter(bucket, /*buffer_ms=*/10);
  REQUIRE(limiter.try_acquire("first", no_wait()));
  auto listener = std::make_shared<RecordingListener>(bucket);
  limiter.set_listener(listener);

  REQUIRE(limiter.acquire("second").admitted);

  const std::vector<Event> events = listener->events();
  REQUIRE(events.size() >= 2);
  Millis slept = 0;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    CHECK(events[i].kind == Event::kWaited);
    CHECK(events[i].slots_recorded == 1);  // after the sleep, before the next check
    CHECK(events[i].slept >= 0);
    slept += events[i].slept;
  }
  CHECK(events.back().kind == Event::kAdmitted);
  CHECK(slept > 0);
  // Admitted only once the first slot had left its 100 ms window.
  CHECK(bucket->peek(0)->timestamp - bucket->peek(1)->timestamp > 100);
  const pyrate::LimiterStats stats = limiter.stats();
  CHECK(stats.waits == static_cast<std::int64_t>(events.size() - 1));
  CHECK(stats.waited_ms == slept);
}

TEST_CASE("a throwing listener never turns an admission into a refusal nor loses a slot") {
  auto bucket = std::make_shared<pyrate::InMemoryBucket>(std::vector<Rate>{Rate(2, 60'000)});
  Limiter limiter(bucket);
  auto listener = std::make_shared<ThrowingListener>();
  limiter.set_listener(listener);
  const CapturedStderr captured;

  CHECK(limiter.acquire("a", no_wait()).admitted);
  CHECK(limiter.acquire("b", no_wait()).admitted);
  const Decision refused = limiter.acquire("c", no_wait());
  CHECK_FALSE(refused.admitted);
  CHECK(refused.failing_rate == Rate(2, 60'000));

  CHECK(listener->calls() == 3);
  CHECK(bucket->count() == 2);
  const pyrate::LimiterStats stats = limiter.stats();
  CHECK(stats.admitted == 2);
  CHECK(stats.refused == 1);
  CHECK(stats.errors == 0);
}

TEST_CASE("a throwing listener is reported once on stderr") {
  Limiter limiter(Rate(100, 60'000));
  limiter.set_listener(std::make_shared<ThrowingListener>());
  const CapturedStderr captured;
  for (int i = 0; i < 5; ++i) REQUIRE(limiter.try_acquire("x", no_wait()));
  const std::string text = captured.text();
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
  CHECK_THAT(text, Catch::Matchers::Contains("listener failure"));
}

TEST_CASE("a bucket error reaches on_error and the acquire throws it") {
  auto bucket = std::make_shared<pyrate::InMemoryBucket>(std::vector<Rate>{Rate(5, 1000)});
  Limiter limiter(bucket);
  auto listener = std::make_shared<RecordingListener>();
  limiter.set_listener(listener);
  bucket->close();

  CHECK_THROWS_AS(limiter.acquire("x", no_wait()), std::logic_error);
  const std::vector<Event> events = listener->events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == Event::kError);
  CHECK(events[0].name == "x");
  CHECK(limiter.stats().errors == 1);
  CHECK(limiter.stats().admitted + limiter.stats().refused == 0);
}

TEST_CASE("set_listener(nullptr) removes the listener") {
  Limiter limiter(Rate(5, 60'000));
  auto listener = std::make_shared<RecordingListener>();
  limiter.set_listener(listener);
  REQUIRE(limiter.try_acquire("x", no_wait()));
  limiter.set_listener(nullptr);
  REQUIRE(limiter.try_acquire("x", no_wait()));
  CHECK(listener->events().size() == 1);
}

TEST_CASE("stats count every acquire exactly when threads acquire at once") {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  constexpr std::int64_t kLimit = 3000;
  auto bucket =
      std::make_shared<pyrate::InMemoryBucket>(std::vector<Rate>{Rate(kLimit, 3'600'000)});
  Limiter limiter(bucket);
  auto listener = std::make_shared<RecordingListener>();
  limiter.set_listener(listener);

  std::atomic<std::int64_t> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        if (limiter.try_acquire("x", no_wait())) admitted.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  const pyrate::LimiterStats stats = limiter.stats();
  CHECK(admitted.load() == kLimit);
  CHECK(stats.admitted == kLimit);
  CHECK(stats.refused == kThreads * kPerThread - kLimit);
  CHECK(stats.waits == 0);
  CHECK(stats.waited_ms == 0);
  CHECK(stats.errors == 0);
  CHECK(listener->events().size() == static_cast<std::size_t>(kThreads * kPerThread));
}
