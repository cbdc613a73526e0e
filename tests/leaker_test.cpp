#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <pyrate/pyrate.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/eventually.hpp"
#include "support/fake_clock.hpp"
#include "support/thread_census.hpp"

using pyrate::BucketFactory;
using pyrate::InMemoryBucket;
using pyrate::Leaker;
using pyrate::Millis;
using pyrate::Rate;
using pyrate::RateItem;
using pyrate::SingleBucketFactory;
using pyrate::testing::eventually;
using pyrate::testing::settled_threads_named;
using pyrate::testing::threads_named;
using pyrate_test::FakeClock;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// A bucket that records the leaks it receives and can be told to throw from them.
class ProbeBucket final : public pyrate::AbstractBucket {
 public:
  enum class Failure { kNone, kStd, kNonStd };

  explicit ProbeBucket(Failure failure = Failure::kNone, Millis clock_time = 0)
      : AbstractBucket({Rate(1, 1000)}), failure_(failure) {
    set_clock(std::make_shared<FakeClock>(clock_time));
  }

  bool put(const RateItem&) override { return true; }
  std::int64_t leak(std::optional<Millis> current_timestamp) override {
    {
      std::lock_guard lock(mutex_);
      leaks_.push_back({SteadyClock::now(), current_timestamp});
    }
    if (on_leak_) on_leak_();
    if (failure_ == Failure::kStd) throw std::runtime_error("probe: std failure");
    if (failure_ == Failure::kNonStd) throw 42;
    return 0;
  }
  void flush() override {}
  std::int64_t count() override { return 0; }
  std::optional<RateItem> peek(std::int64_t) override { return std::nullopt; }

  struct Leak {
    SteadyClock::time_point at;
    std::optional<Millis> timestamp;
  };
  std::vector<Leak> leaks() const {
    std::lock_guard lock(mutex_);
    return leaks_;
  }
  std::size_t leak_count() const { return leaks().size(); }
  // Runs inside each leak(); set it before the leaker starts.
  void on_leak(std::function<void()> hook) { on_leak_ = std::move(hook); }

 private:
  const Failure failure_;
  std::function<void()> on_leak_;
  mutable std::mutex mutex_;
  std::vector<Leak> leaks_;
};

// A factory that routes every item to one bucket without scheduling anything itself.
class RoutingFactory final : public BucketFactory {
 public:
  RateItem wrap_item(std::string_view name, std::int64_t weight) override {
    return RateItem{std::string(name), 0, weight};
  }
  std::shared_ptr<pyrate::AbstractBucket> get(const RateItem&) override { return get_buckets()[0]; }
};

// Redirects std::cerr into a string for its lifetime.
class CerrCapture {
 public:
  CerrCapture() : previous_(std::cerr.rdbuf(captured_.rdbuf())) {}
  ~CerrCapture() { std::cerr.rdbuf(previous_); }
  std::string text() const { return captured_.str(); }

 private:
  std::ostringstream captured_;
  std::streambuf* previous_;
};

int occurrences(const std::string& text, const std::string& word) {
  int found = 0;
  for (auto at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) ++found;
  return found;
}

}  // namespace

TEST_CASE("Leaker rejects a leak interval that is not positive") {
  CHECK_THROWS_AS(Leaker(0), std::invalid_argument);
  CHECK_THROWS_AS(Leaker(-1), std::invalid_argument);
  Leaker leaker(100);
  CHECK_THROWS_AS(leaker.set_leak_interval(0), std::invalid_argument);
  CHECK(leaker.leak_interval() == 100);
  CHECK(Leaker().leak_interval() == 10'000);
}

TEST_CASE("register_bucket only registers: the thread starts with start()") {
  Leaker leaker(10);
  auto bucket = std::make_shared<ProbeBucket>();
  leaker.register_bucket(bucket);
  CHECK(leaker.buckets() == std::vector<std::shared_ptr<pyrate::AbstractBucket>>{bucket});
  std::this_thread::sleep_for(50ms);
  CHECK_FALSE(leaker.is_alive());
  CHECK(bucket->leak_count() == 0);
  leaker.start();
  CHECK(leaker.is_alive());
  CHECK(eventually([&] { return bucket->leak_count() >= 2; }));
}

TEST_CASE("register_bucket refuses a null bucket and keeps one registration per bucket") {
  Leaker leaker(10);
  CHECK_THROWS_AS(leaker.register_bucket(nullptr), std::invalid_argument);
  auto first = std::make_shared<ProbeBucket>();
  auto second = std::make_shared<ProbeBucket>();
  leaker.register_bucket(first);
  leaker.register_bucket(second);
  leaker.register_bucket(first);
  CHECK(leaker.buckets() == std::vector<std::shared_ptr<pyrate::AbstractBucket>>{first, second});
}

TEST_CASE("start does nothing while no bucket is registered") {
  Leaker leaker(10);
  leaker.start();
  CHECK_FALSE(leaker.is_alive());
}

TEST_CASE("The leaker thread is named pyrate-leaker") {
  const std::size_t before = settled_threads_named("pyrate-leaker");
  Leaker leaker(10'000);
  leaker.register_bucket(std::make_shared<ProbeBucket>());
  leaker.start();
  CHECK(eventually([&] { return threads_named("pyrate-leaker") == before + 1; }));
  leaker.close();
  CHECK(eventually([&] { return threads_named("pyrate-leaker") == before; }));
}

TEST_CASE("The leaker calls leak(bucket.now()) one interval after start, then every interval") {
  Leaker leaker(200);
  auto bucket = std::make_shared<ProbeBucket>(ProbeBucket::Failure::kNone, 987'654);
  leaker.register_bucket(bucket);
  const auto started = SteadyClock::now();
  leaker.start();
  REQUIRE(eventually([&] { return bucket->leak_count() >= 3; }));
  leaker.close();
  const auto leaks = bucket->leaks();
  CHECK(leaks[0].at - started >= 200ms);
  CHECK(leaks[1].at - leaks[0].at >= 200ms);
  CHECK(leaks[2].at - leaks[1].at >= 200ms);
  for (const auto& leak : leaks) CHECK(leak.timestamp == 987'654);
}

TEST_CASE("A new leak interval applies from the next sleep") {
  // Leaks are held inside leak() so the test knows where the thread is.
  Leaker leaker(100);
  auto bucket = std::make_shared<ProbeBucket>();
  std::mutex gate;
  std::unique_lock held(gate);
  bucket->on_leak([&] { std::lock_guard pass(gate); });
  leaker.register_bucket(bucket);
  leaker.start();
  REQUIRE(eventually([&] { return bucket->leak_count() == 1; }));

  leaker.set_leak_interval(400);  // during the first leak: the next sleep takes 400 ms
  held.unlock();
  const auto first_released = SteadyClock::now();
  REQUIRE(eventually([&] { return bucket->leak_count() == 2; }));
  CHECK(bucket->leaks()[1].at - first_released >= 400ms);

  // During a sleep: that sleep keeps its length.
  const auto second = bucket->leaks()[1].at;
  std::this_thread::sleep_for(100ms);
  leaker.set_leak_interval(10);
  REQUIRE(eventually([&] { return bucket->leak_count() == 3; }));
  CHECK(bucket->leaks()[2].at - second >= 400ms);
  REQUIRE(eventually([&] { return bucket->leak_count() >= 6; }));
  leaker.close();
}

TEST_CASE("An exception from a bucket's leak is reported once on stderr and stops nothing") {
  std::string report;
  auto failing_std = std::make_shared<ProbeBucket>(ProbeBucket::Failure::kStd);
  auto failing_other = std::make_shared<ProbeBucket>(ProbeBucket::Failure::kNonStd);
  auto healthy = std::make_shared<ProbeBucket>();
  {
    CerrCapture capture;
    Leaker leaker(5);
    leaker.register_bucket(failing_std);
    leaker.register_bucket(failing_other);
    leaker.register_bucket(healthy);
    leaker.start();
    const bool all_leaked_repeatedly = eventually([&] {
      return failing_std->leak_count() >= 5 && failing_other->leak_count() >= 5 &&
             healthy->leak_count() >= 5;
    });
    const bool alive = leaker.is_alive();
    leaker.close();
    report = capture.text();
    CHECK(all_leaked_repeatedly);
    CHECK(alive);
  }
  CHECK(occurrences(report, "probe: std failure") == 1);
  CHECK(occurrences(report, "\n") == 2);  // one line per failing bucket
}

TEST_CASE("Leaker close returns within 100 ms whatever the interval") {
  Leaker leaker(std::numeric_limits<Millis>::max());
  auto bucket = std::make_shared<ProbeBucket>();
  leaker.register_bucket(bucket);
  leaker.start();
  std::this_thread::sleep_for(50ms);  // let the thread fall asleep
  CHECK(leaker.is_alive());
  const auto asked = SteadyClock::now();
  leaker.close();
  CHECK(SteadyClock::now() - asked < 100ms);
  CHECK_FALSE(leaker.is_alive());
  CHECK(bucket->leak_count() == 0);

  Leaker hourly(3'600'000);
  hourly.register_bucket(bucket);
  hourly.start();
  std::this_thread::sleep_for(50ms);
  const auto asked_hourly = SteadyClock::now();
  hourly.close();
  CHECK(SteadyClock::now() - asked_hourly < 100ms);
}

TEST_CASE("Leaker close is idempotent and keeps registrations, so start resumes") {
  Leaker leaker(10);
  auto bucket = std::make_shared<ProbeBucket>();
  leaker.register_bucket(bucket);
  leaker.start();
  REQUIRE(eventually([&] { return bucket->leak_count() >= 1; }));
  leaker.close();
  leaker.close();
  CHECK_FALSE(leaker.is_alive());
  CHECK(leaker.buckets().size() == 1);
  const std::size_t leaks_before = bucket->leak_count();
  leaker.start();
  CHECK(leaker.is_alive());
  CHECK(eventually([&] { return bucket->leak_count() > leaks_before; }));
}

TEST_CASE("deregister reports whether the bucket was registered and stops its leaks") {
  Leaker leaker(5);
  auto kept = std::make_shared<ProbeBucket>();
  auto dropped = std::make_shared<ProbeBucket>();
  leaker.register_bucket(kept);
  leaker.register_bucket(dropped);
  leaker.start();
  REQUIRE(eventually([&] { return dropped->leak_count() >= 1; }));
  CHECK(leaker.deregister(*dropped));
  CHECK_FALSE(leaker.deregister(*dropped));
  CHECK(leaker.buckets() == std::vector<std::shared_ptr<pyrate::AbstractBucket>>{kept});
  std::this_thread::sleep_for(20ms);  // a leak under way when deregistered may complete
  const std::size_t dropped_leaks = dropped->leak_count();
  const std::size_t kept_leaks = kept->leak_count();
  REQUIRE(eventually([&] { return kept->leak_count() >= kept_leaks + 5; }));
  CHECK(dropped->leak_count() == dropped_leaks);
}

TEST_CASE(
    "The thread ends once every bucket is deregistered; start after a registration restarts it") {
  Leaker leaker(5);
  auto first = std::make_shared<ProbeBucket>();
  leaker.register_bucket(first);
  leaker.start();
  REQUIRE(leaker.is_alive());
  REQUIRE(leaker.deregister(*first));
  CHECK(eventually([&] { return !leaker.is_alive(); }));

  auto second = std::make_shared<ProbeBucket>();
  leaker.register_bucket(second);
  CHECK_FALSE(leaker.is_alive());
  leaker.start();
  CHECK(leaker.is_alive());
  CHECK(eventually([&] { return second->leak_count() >= 2; }));
}

TEST_CASE("A bucket registered while the thread runs is leaked too") {
  Leaker leaker(5);
  auto first = std::make_shared<ProbeBucket>();
  auto later = std::make_shared<ProbeBucket>();
  leaker.register_bucket(first);
  leaker.start();
  leaker.register_bucket(later);
  CHECK(eventually([&] { return later->leak_count() >= 2; }));
}

TEST_CASE("The leaker removes expired slots from an in-memory bucket") {
  auto clock = std::make_shared<FakeClock>(0);
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(5, 1000)});
  bucket->set_clock(clock);
  REQUIRE(bucket->put(RateItem{"x", 0, 3}));
  REQUIRE(bucket->put(RateItem{"x", 600, 1}));
  Leaker leaker(5);
  leaker.register_bucket(bucket);
  leaker.start();
  clock->set(1001);
  CHECK(eventually([&] { return bucket->count() == 1; }));
  clock->set(1601);
  CHECK(eventually([&] { return bucket->count() == 0; }));
}

TEST_CASE("BucketFactory create constructs a bucket and schedules its leak") {
  RoutingFactory factory;
  factory.set_leak_interval(5);
  auto bucket = factory.create<InMemoryBucket>(std::vector<Rate>{Rate(5, 1000)});
  static_assert(std::is_same_v<decltype(bucket), std::shared_ptr<InMemoryBucket>>);
  CHECK(factory.get_buckets() == std::vector<std::shared_ptr<pyrate::AbstractBucket>>{bucket});
  auto clock = std::make_shared<FakeClock>(0);
  bucket->set_clock(clock);
  REQUIRE(bucket->put(RateItem{"x", 0, 2}));
  clock->set(5000);
  CHECK(eventually([&] { return bucket->count() == 0; }));
}

TEST_CASE("BucketFactory schedule_leak registers and starts leaking, refusing a null bucket") {
  RoutingFactory factory;
  factory.set_leak_interval(5);
  CHECK_THROWS_AS(factory.schedule_leak(nullptr), std::invalid_argument);
  auto bucket = std::make_shared<ProbeBucket>();
  factory.schedule_leak(bucket);
  CHECK(factory.get_buckets().size() == 1);
  CHECK(eventually([&] { return bucket->leak_count() >= 2; }));
}

TEST_CASE("BucketFactory dispose stops leaking a bucket and leaves it open") {
  RoutingFactory factory;
  factory.set_leak_interval(5);
  auto bucket = factory.create<InMemoryBucket>(std::vector<Rate>{Rate(5, 1000)});
  CHECK(factory.dispose(*bucket));
  CHECK_FALSE(factory.dispose(*bucket));
  CHECK(factory.get_buckets().empty());
  auto clock = std::make_shared<FakeClock>(0);
  bucket->set_clock(clock);
  REQUIRE(bucket->put(RateItem{"x", 0, 2}));
  clock->set(5000);
  std::this_thread::sleep_for(50ms);
  CHECK(bucket->count() == 2);  // not leaked, and open
}

TEST_CASE("BucketFactory leak_interval defaults to 10000 ms and can be set") {
  RoutingFactory factory;
  CHECK(factory.leak_interval() == 10'000);
  factory.set_leak_interval(250);
  CHECK(factory.leak_interval() == 250);
  CHECK_THROWS_AS(factory.set_leak_interval(0), std::invalid_argument);
  CHECK(factory.leak_interval() == 250);
}

TEST_CASE("BucketFactory close stops leaking and closes every scheduled bucket") {
  const std::size_t before = settled_threads_named("pyrate-leaker");
  RoutingFactory factory;
  auto first = factory.create<InMemoryBucket>(std::vector<Rate>{Rate(5, 1000)});
  auto second = factory.create<InMemoryBucket>(std::vector<Rate>{Rate(5, 1000)});
  auto unscheduled = std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(5, 1000)});
  REQUIRE(eventually([&] { return threads_named("pyrate-leaker") == before + 1; }));
  factory.close();
  CHECK(eventually([&] { return threads_named("pyrate-leaker") == before; }));
  CHECK_THROWS_AS(first->count(), std::logic_error);
  CHECK_THROWS_AS(second->count(), std::logic_error);
  CHECK(unscheduled->count() == 0);
  CHECK_NOTHROW(factory.close());
}

TEST_CASE("The BucketFactory destructor stops the leaker and leaves the buckets open") {
  const std::size_t before = settled_threads_named("pyrate-leaker");
  std::shared_ptr<InMemoryBucket> bucket;
  {
    RoutingFactory factory;
    bucket = factory.create<InMemoryBucket>(std::vector<Rate>{Rate(5, 1000)});
    REQUIRE(eventually([&] { return threads_named("pyrate-leaker") == before + 1; }));
  }
  CHECK(eventually([&] { return threads_named("pyrate-leaker") == before; }));
  CHECK(bucket->count() == 0);
}

TEST_CASE("SingleBucketFactory routes every item to its bucket, stamped with the bucket's now") {
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(5, 1000)});
  bucket->set_clock(std::make_shared<FakeClock>(4242));
  SingleBucketFactory factory(bucket);
  const RateItem stamped = factory.wrap_item("who", 3);
  CHECK(stamped.name == "who");
  CHECK(stamped.timestamp == 4242);
  CHECK(stamped.weight == 3);
  CHECK(factory.wrap_item("who").weight == 1);
  CHECK(factory.get(stamped) == bucket);
  CHECK(factory.get(RateItem{"other"}) == bucket);
}

TEST_CASE("SingleBucketFactory schedules its bucket's leak unless told not to") {
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(5, 1000)});
  SingleBucketFactory scheduled(bucket);
  CHECK(scheduled.get_buckets() == std::vector<std::shared_ptr<pyrate::AbstractBucket>>{bucket});
  SingleBucketFactory unscheduled(bucket, false);
  CHECK(unscheduled.get_buckets().empty());
  CHECK_THROWS_AS(SingleBucketFactory(nullptr), std::invalid_argument);
}

TEST_CASE("SingleBucketFactory close closes its bucket even when its leak was not scheduled") {
  auto bucket = std::make_shared<InMemoryBucket>(std::vector<Rate>{Rate(5, 1000)});
  SingleBucketFactory factory(bucket, false);
  factory.close();
  CHECK_THROWS_AS(bucket->count(), std::logic_error);
  CHECK_NOTHROW(factory.close());
}
