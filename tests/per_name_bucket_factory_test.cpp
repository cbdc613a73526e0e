// PerNameBucketFactory: one bucket per item name, in memory and in one SQLite file, dropped
// from memory when idle and made again, without forgetting what a persistent store holds.
#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <pyrate/pyrate.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/child_process.hpp"
#include "support/eventually.hpp"
#include "support/fake_clock.hpp"
#include "support/process_usage.hpp"
#include "support/sqlite_test_support.hpp"
#include "support/thread_census.hpp"

using pyrate::AcquireOptions;
using pyrate::Duration;
using pyrate::InMemoryBucket;
using pyrate::Limiter;
using pyrate::Millis;
using pyrate::PerNameBucketFactory;
using pyrate::Rate;
using pyrate::RateItem;
using pyrate::testing::eventually;
using pyrate_test::at;
using pyrate_test::FakeClock;
using pyrate_test::ScratchDir;
using namespace std::chrono_literals;

namespace {

AcquireOptions non_blocking(std::int64_t weight = 1) {
  AcquireOptions options;
  options.weight = weight;
  options.blocking = false;
  return options;
}

// A factory of in-memory buckets that all read `clock`, counting the buckets made.
struct ClockedFactory {
  explicit ClockedFactory(std::vector<Rate> rates)
      : clock(std::make_shared<FakeClock>(1000)),
        made(std::make_shared<std::atomic<int>>(0)),
        factory(std::make_shared<PerNameBucketFactory>(
            [rates = std::move(rates), clock = clock, made = made](std::string_view) {
              made->fetch_add(1);
              auto bucket = std::make_shared<InMemoryBucket>(rates);
              bucket->set_clock(clock);
              return bucket;
            })) {}
  std::shared_ptr<FakeClock> clock;
  std::shared_ptr<std::atomic<int>> made;
  std::shared_ptr<PerNameBucketFactory> factory;
};

}  // namespace

TEST_CASE("Each name gets its own bucket with the factory's rates, made on first use") {
  ClockedFactory f({Rate(2, 1000)});
  Limiter limiter(f.factory);
  CHECK(f.factory->resident() == 0);
  CHECK(limiter.try_acquire("alice", non_blocking()));
  CHECK(limiter.try_acquire("alice", non_blocking()));
  CHECK_FALSE(limiter.try_acquire("alice", non_blocking()));
  CHECK(limiter.try_acquire("bob", non_blocking()));
  CHECK(f.factory->resident() == 2);
  CHECK(*f.made == 2);
  const auto alice = f.factory->get(RateItem{"alice", 0, 1});
  CHECK(alice->count() == 2);
  CHECK(alice->rates() == std::vector<Rate>{Rate(2, 1000)});
  CHECK(f.factory->get(RateItem{"alice", 0, 1}) == alice);
}

TEST_CASE("wrap_item stamps an item with the clock of its name's bucket") {
  ClockedFactory f({Rate(2, 1000)});
  f.clock->set(123'456);
  const RateItem item = f.factory->wrap_item("carol", 3);
  CHECK(item.name == "carol");
  CHECK(item.timestamp == 123'456);
  CHECK(item.weight == 3);
}

TEST_CASE("per_name_inmemory_factory refuses an invalid rate list at once") {
  CHECK_THROWS_AS(pyrate::per_name_inmemory_factory({Rate(5, 1000), Rate(4, 2000)}),
                  std::invalid_argument);
  CHECK_THROWS_AS(pyrate::per_name_inmemory_factory({}), std::invalid_argument);
}

TEST_CASE("A PerNameBucketFactory refuses an empty maker and a maker that returns no bucket") {
  CHECK_THROWS_AS(PerNameBucketFactory(nullptr), std::invalid_argument);
  PerNameBucketFactory factory([](std::string_view) { return nullptr; });
  CHECK_THROWS_AS(factory.wrap_item("x"), std::logic_error);
}

TEST_CASE("A closed PerNameBucketFactory closes its buckets and refuses new lookups") {
  auto factory = pyrate::per_name_inmemory_factory({Rate(2, 1000)});
  const auto bucket = factory->get(RateItem{"x", 0, 1});
  factory->close();
  CHECK(factory->resident() == 0);
  CHECK_THROWS_AS(bucket->count(), std::logic_error);
  CHECK_THROWS_AS(factory->wrap_item("x"), std::logic_error);
  factory->close();
}

TEST_CASE("An idle in-memory name leaves memory and the leaker, and is made again on next use") {
  ClockedFactory f({Rate(1, 1000)});
  f.factory->set_leak_interval(5);
  Limiter limiter(f.factory);
  REQUIRE(limiter.try_acquire("dave", non_blocking()));
  REQUIRE(limiter.try_acquire("erin", non_blocking()));
  // Both hold a slot inside their window: they stay.
  std::this_thread::sleep_for(50ms);
  CHECK(f.factory->resident() == 2);
  CHECK(f.factory->get_buckets().size() == 2);
  f.clock->advance(1001);
  REQUIRE(eventually([&] { return f.factory->resident() == 0; }));
  CHECK(f.factory->get_buckets().empty());
  CHECK(limiter.try_acquire("dave", non_blocking()));
  CHECK(*f.made == 3);
}

TEST_CASE("A bucket that an acquire is using is never dropped, even when empty") {
  auto gate = std::make_shared<std::mutex>();
  auto entered = std::make_shared<std::atomic<bool>>(false);
  // A bucket whose put stops while the gate is held, as a slow store would.
  class StoppingBucket final : public pyrate::AbstractBucket {
   public:
    StoppingBucket(std::shared_ptr<std::mutex> gate, std::shared_ptr<std::atomic<bool>> entered)
        : AbstractBucket({Rate(1, 1000)}),
          inner_({Rate(1, 1000)}),
          gate_(gate),
          entered_(entered) {}
    bool put(const RateItem& item) override {
      entered_->store(true);
      std::lock_guard pass(*gate_);
      return inner_.put(item);
    }
    std::int64_t leak(std::optional<Millis> at) override { return inner_.leak(at); }
    void flush() override { inner_.flush(); }
    std::int64_t count() override { return inner_.count(); }
    std::optional<RateItem> peek(std::int64_t index) override { return inner_.peek(index); }

   private:
    InMemoryBucket inner_;
    std::shared_ptr<std::mutex> gate_;
    std::shared_ptr<std::atomic<bool>> entered_;
  };
  auto factory = std::make_shared<PerNameBucketFactory>(
      [=](std::string_view) { return std::make_shared<StoppingBucket>(gate, entered); });
  factory->set_leak_interval(1);
  Limiter limiter(factory);
  std::unique_lock closed(*gate);
  auto acquire = std::async(std::launch::async, [&] { return limiter.try_acquire("busy"); });
  REQUIRE(eventually([&] { return entered->load(); }));
  std::this_thread::sleep_for(50ms);  // many sweeps find the bucket empty, but in use
  CHECK(factory->resident() == 1);
  closed.unlock();
  CHECK(acquire.get());
  CHECK(factory->get(RateItem{"busy", 0, 1})->count() == 1);
}

TEST_CASE("Threads racing acquires on names that are being dropped admit exactly each limit") {
  auto factory = pyrate::per_name_inmemory_factory({Rate(3, Duration::Hour)});
  factory->set_leak_interval(1);
  Limiter limiter(factory);
  constexpr int kThreads = 4;
  constexpr int kHotNames = 8;
  std::atomic<int> admitted[kHotNames] = {};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 400; ++round) {
        // A weight that never fits leaves its bucket empty, so the leaker drops it while
        // others acquire it.
        (void)limiter.try_acquire("cold-" + std::to_string(round % 5), non_blocking(4));
        const int hot = (round + t) % kHotNames;
        if (limiter.try_acquire("hot-" + std::to_string(hot), non_blocking())) ++admitted[hot];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int hot = 0; hot < kHotNames; ++hot) CHECK(admitted[hot].load() == 3);
}

// --- SQLite -----------------------------------------------------------------------------------

TEST_CASE("per_name_sqlite_factory gives each name its limit in one file, under PREFIX/NAME") {
  ScratchDir dir;
  const std::string path = dir.file("names.db");
  Limiter limiter(pyrate::per_name_sqlite_factory({Rate(2, Duration::Minute)}, at(path, "api")));
  CHECK(limiter.try_acquire("alice", non_blocking()));
  CHECK(limiter.try_acquire("alice", non_blocking()));
  CHECK_FALSE(limiter.try_acquire("alice", non_blocking()));
  CHECK(limiter.try_acquire("bob", non_blocking()));
  std::vector<std::string> names;
  for (const auto& stored : pyrate::list_sqlite_buckets(path)) names.push_back(stored.name);
  CHECK(names == std::vector<std::string>{"api/alice", "api/bob"});
  // A bucket opened under the same key shares the name's limit.
  pyrate::SQLiteBucket alice({Rate(2, Duration::Minute)}, at(path, "api/alice"));
  CHECK(alice.count() == 2);
  CHECK_FALSE(alice.put(RateItem{"x", alice.now(), 1}));
}

TEST_CASE("per_name_sqlite_factory stores names as bytes: quotes, slashes, NUL and unicode") {
  ScratchDir dir;
  const std::string path = dir.file("bytes.db");
  auto factory = pyrate::per_name_sqlite_factory({Rate(1, Duration::Minute)}, at(path, "p"));
  Limiter limiter(factory);
  const std::vector<std::string> names{"it's",   "\"quoted\"",
                                       "a/b/c",  std::string("nul\0byte", 8),
                                       "żółw 🐢", "'; DROP TABLE slots; --"};
  for (const std::string& name : names) CHECK(limiter.try_acquire(name, non_blocking()));
  for (const std::string& name : names) CHECK_FALSE(limiter.try_acquire(name, non_blocking()));
  const auto stored = pyrate::list_sqlite_buckets(path);
  REQUIRE(stored.size() == names.size());
  for (const std::string& name : names) {
    CHECK(std::count_if(stored.begin(), stored.end(),
                        [&](const auto& bucket) { return bucket.name == "p/" + name; }) == 1);
  }
}

TEST_CASE("All names of one file share one connection: open files do not grow with names") {
  ScratchDir dir;
  auto factory =
      pyrate::per_name_sqlite_factory({Rate(5, Duration::Minute)}, at(dir.file("fds.db")));
  Limiter limiter(factory);
  REQUIRE(limiter.try_acquire("first", non_blocking()));
  const int before = pyrate::testing::open_file_descriptors();
  for (int i = 0; i < 300; ++i)
    REQUIRE(limiter.try_acquire("n" + std::to_string(i), non_blocking()));
  CHECK(factory->resident() == 301);
  CHECK(pyrate::testing::open_file_descriptors() == before);
}

TEST_CASE("With multiprocess, every name of a file shares one inter-process lock") {
  ScratchDir dir;
  pyrate::SQLiteOptions options = at(dir.file("lock.db"), "p");
  options.multiprocess = true;
  auto factory = pyrate::per_name_sqlite_factory({Rate(5, Duration::Minute)}, options);
  const auto a = factory->get(RateItem{"a", 0, 1});
  const auto b = factory->get(RateItem{"b", 0, 1});
  REQUIRE(a->limiter_lock() != nullptr);
  CHECK(a->limiter_lock() == b->limiter_lock());
  Limiter limiter(factory);
  CHECK(limiter.try_acquire("a", non_blocking()));
}

TEST_CASE("A name that was full stays full for a new process on the same file") {
  ScratchDir dir;
  const std::string path = dir.file("restart.db");
  {
    Limiter limiter(pyrate::per_name_sqlite_factory({Rate(2, Duration::Hour)}, at(path, "api")));
    REQUIRE(limiter.try_acquire("key-1", non_blocking()));
    REQUIRE(limiter.try_acquire("key-1", non_blocking()));
  }
  pyrate::testing::ChildProcess child([&] {
    Limiter limiter(pyrate::per_name_sqlite_factory({Rate(2, Duration::Hour)}, at(path, "api")));
    const bool full_refused = !limiter.try_acquire("key-1", non_blocking());
    const bool other_admitted = limiter.try_acquire("key-2", non_blocking());
    return full_refused && other_admitted ? 0 : 1;
  });
  CHECK(child.wait() == 0);
}

TEST_CASE("A dropped SQLite name is made again from the slots its file holds") {
  ScratchDir dir;
  auto factory =
      pyrate::per_name_sqlite_factory({Rate(2, Duration::Hour)}, at(dir.file("drop.db"), "p"));
  Limiter limiter(factory);
  REQUIRE(limiter.try_acquire("x", non_blocking()));
  REQUIRE(limiter.try_acquire("x", non_blocking()));
  const auto first = factory->get(RateItem{"x", 0, 1});
  CHECK(factory->dispose(*first));
  CHECK(factory->resident() == 0);
  CHECK_FALSE(limiter.try_acquire("x", non_blocking()));
  CHECK(factory->get(RateItem{"x", 0, 1}) != first);
}

TEST_CASE("The sweep starts with the first name, so an interval set before it applies at once") {
  const std::size_t leakers = pyrate::testing::settled_threads_named("pyrate-leaker");
  auto factory = pyrate::per_name_inmemory_factory({Rate(2, 50ms)});
  CHECK(pyrate::testing::threads_named("pyrate-leaker") == leakers);  // no name yet
  factory->set_leak_interval(10);
  Limiter limiter(factory);
  REQUIRE(limiter.try_acquire("first", non_blocking()));
  CHECK(eventually([&] { return pyrate::testing::threads_named("pyrate-leaker") == leakers + 1; }));
  // The first sweep comes after 10 ms, not after the default 10 s.
  CHECK(eventually([&] { return factory->resident() == 0; }, std::chrono::seconds(3)));
}

TEST_CASE("Idle SQLite names leave memory, and one leak removes the expired slots of every name") {
  ScratchDir dir;
  const std::string path = dir.file("idle.db");
  {
    // Another process's names, never loaded into the factory below.
    Limiter other(pyrate::per_name_sqlite_factory({Rate(2, 100ms)}, at(path, "p")));
    for (int i = 0; i < 50; ++i)
      REQUIRE(other.try_acquire("old-" + std::to_string(i), non_blocking()));
  }
  auto factory = pyrate::per_name_sqlite_factory({Rate(2, 100ms)}, at(path, "p"));
  factory->set_leak_interval(20);
  Limiter limiter(factory);
  for (int i = 0; i < 20; ++i)
    REQUIRE(limiter.try_acquire("new-" + std::to_string(i), non_blocking()));
  // Another prefix in the same file is not this factory's to leak.
  pyrate::SQLiteBucket outside({Rate(2, 100ms)}, at(path, "q/kept"));
  REQUIRE(outside.put(RateItem{"k", 0, 1}));
  REQUIRE(eventually([&] { return factory->resident() == 0; }));
  REQUIRE(eventually([&] {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    return db.execAndGet("SELECT count(*) FROM slots").getInt() == 1;
  }));
  CHECK(outside.count() == 1);
}
