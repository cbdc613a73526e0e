// SQLiteBucket: what the database file adds to the bucket rules (those every bucket obeys are in
// bucket_contract_test.cpp): count_since, persistence, many buckets per file, keys as data,
// temporary and in-memory databases, and threads against a Leaker.
#include <algorithm>
#include <array>
#include <atomic>
#include <barrier>
#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <pyrate/pyrate.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/fake_clock.hpp"
#include "support/sqlite_test_support.hpp"

using pyrate::Duration;
using pyrate::Millis;
using pyrate::Rate;
using pyrate::RateItem;
using pyrate::SQLiteBucket;
using pyrate::SQLiteOptions;
using pyrate_test::at;
using pyrate_test::FakeClock;
using pyrate_test::ScratchDir;

namespace {

// A bucket in a new temporary file whose clock the test drives.
struct ClockedBucket {
  explicit ClockedBucket(std::vector<Rate> rates, Millis start = 0, SQLiteOptions options = {})
      : clock(std::make_shared<FakeClock>(start)),
        bucket(std::make_shared<SQLiteBucket>(std::move(rates), std::move(options))) {
    bucket->set_clock(clock);
  }
  std::shared_ptr<FakeClock> clock;
  std::shared_ptr<SQLiteBucket> bucket;
};

RateItem item(Millis timestamp, std::int64_t weight = 1, std::string name = "item") {
  return RateItem{std::move(name), timestamp, weight};
}

}  // namespace

// --- Clock, slots and threads ---------------------------------------------------------------

TEST_CASE("SQLiteBucket: timestamps come from the system clock by default") {
  SQLiteBucket bucket({Rate(1, 1000)});
  pyrate::SystemClock system;
  const Millis before = system.now();
  const Millis now = bucket.now();
  CHECK(now >= before);
  CHECK(now <= system.now());
}

TEST_CASE("SQLiteBucket: the slot numbering restarts cleanly after leak empties the bucket") {
  ClockedBucket b({Rate(3, 1000)});
  REQUIRE(b.bucket->put(item(0, 3)));
  REQUIRE(b.bucket->leak(5000) == 3);
  CHECK(b.bucket->count() == 0);
  CHECK(b.bucket->put(item(6000, 2, "x")));
  CHECK(b.bucket->put(item(6001, 1, "y")));
  CHECK_FALSE(b.bucket->put(item(6002)));
  CHECK(b.bucket->count() == 3);
  CHECK(b.bucket->peek(2)->name == "x");
}

TEST_CASE("SQLiteBucket: count_since counts the slots stamped at or after a time") {
  ClockedBucket b({Rate(10, 1000)});
  CHECK(b.bucket->count_since(0) == 0);
  REQUIRE(b.bucket->put(item(100, 2)));
  REQUIRE(b.bucket->put(item(200, 3)));
  REQUIRE(b.bucket->put(item(300)));
  CHECK(b.bucket->count_since(std::numeric_limits<Millis>::min()) == 6);
  CHECK(b.bucket->count_since(100) == 6);
  CHECK(b.bucket->count_since(101) == 4);
  CHECK(b.bucket->count_since(200) == 4);
  CHECK(b.bucket->count_since(300) == 1);
  CHECK(b.bucket->count_since(301) == 0);
  REQUIRE(b.bucket->put(item(std::numeric_limits<Millis>::max())));
  CHECK(b.bucket->count_since(std::numeric_limits<Millis>::max()) == 1);
}

TEST_CASE("SQLiteBucket: count_since throws logic_error after close") {
  ClockedBucket b({Rate(2, 1000)});
  REQUIRE(b.bucket->put(item(0, 2)));
  b.bucket->close();
  CHECK_THROWS_AS(b.bucket->count_since(0), std::logic_error);
}

TEST_CASE("SQLiteBucket: peek and count_since find every slot, whatever the timestamps") {
  // Random weights, repeated timestamps, gaps from 0 to 2^61 ms across the whole range of
  // Millis, and items older than the newest slot (recorded with its timestamp).
  ClockedBucket b({Rate(1'000'000'000, Duration::Week)});
  std::mt19937_64 random(11);
  std::vector<RateItem> expected;  // one entry per slot, oldest first
  Millis timestamp = std::numeric_limits<Millis>::min();
  for (int i = 0; i < 150; ++i) {
    const std::int64_t weight = 1 + static_cast<std::int64_t>(random() % 4);
    const Millis gap = std::array<Millis, 4>{0, 1, 997, Millis{1} << 61}[random() % 4];
    const bool older = random() % 5 == 0 && timestamp > std::numeric_limits<Millis>::min() + 5;
    if (!older && timestamp <= std::numeric_limits<Millis>::max() - gap) timestamp += gap;
    const std::string name = "n" + std::to_string(i);
    REQUIRE(b.bucket->put(item(older ? timestamp - 5 : timestamp, weight, name)));
    for (std::int64_t w = 0; w < weight; ++w) expected.push_back(item(timestamp, 1, name));
  }
  const auto held = static_cast<std::int64_t>(expected.size());
  REQUIRE(b.bucket->count() == held);
  for (std::int64_t i = 0; i < held; ++i) {
    const RateItem& want = expected[static_cast<std::size_t>(held - 1 - i)];
    const std::optional<RateItem> got = b.bucket->peek(i);
    REQUIRE(got.has_value());
    CHECK(got->name == want.name);
    CHECK(got->timestamp == want.timestamp);
  }
  CHECK_FALSE(b.bucket->peek(held).has_value());
  for (const RateItem& slot : expected) {
    const auto since = std::count_if(expected.begin(), expected.end(), [&](const RateItem& s) {
      return s.timestamp >= slot.timestamp;
    });
    CHECK(b.bucket->count_since(slot.timestamp) == since);
  }
}

TEST_CASE("SQLiteBucket: 4 threads putting against a Leaker leaking every 1 ms admit exactly") {
  // The clock stands still within a phase, so each phase admits exactly `limit` items whatever
  // the interleaving; between phases it jumps past the widest interval, and the Leaker (every
  // 1 ms) deletes the previous phases' slots while the threads put.
  constexpr std::int64_t kLimit = 50;
  constexpr int kThreads = 4;
  constexpr int kPhases = 20;
  ClockedBucket b({Rate(kLimit, 1000)}, 1'000'000);
  pyrate::Leaker leaker(1);
  leaker.register_bucket(b.bucket);
  leaker.start();

  std::atomic<std::int64_t> admitted{0};
  std::barrier phase_end(kThreads, [&]() noexcept { b.clock->advance(1001); });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int phase = 0; phase < kPhases; ++phase) {
        while (b.bucket->put(RateItem{"t" + std::to_string(t), b.clock->now(), 1})) admitted++;
        phase_end.arrive_and_wait();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  leaker.close();

  CHECK(admitted.load() == kLimit * kPhases);
  b.bucket->leak();
  CHECK(b.bucket->count() == 0);  // the clock is 1001 ms past the last phase
}

// --- Clock steps ----------------------------------------------------------------------------

TEST_CASE("SQLiteBucket: a clock stepping backwards admits nothing beyond the limits") {
  const std::vector<Rate> rates{Rate(5, 1000), Rate(8, 10'000)};
  ClockedBucket b(rates, 1'000'000'000);
  std::mt19937 random(7);
  std::uniform_int_distribution<Millis> step(-2000, 2500);  // forwards on average, often back
  std::int64_t admitted = 0;
  for (int i = 0; i < 600; ++i) {
    b.clock->advance(step(random));
    if (b.bucket->put(item(b.bucket->now()))) ++admitted;
  }
  CHECK(admitted > 50);  // the walk admitted many, yet never beyond the rates:
  CHECK(pyrate_test::respects_rates(pyrate_test::all_slots(*b.bucket), rates));
}

TEST_CASE("SQLiteBucket: a clock stepped backwards still refuses after a restart") {
  ScratchDir dir;
  const std::string path = dir.file("steps.db");
  auto clock = std::make_shared<FakeClock>(5'000'000);
  {
    SQLiteBucket bucket({Rate(2, 60'000)}, at(path));
    bucket.set_clock(clock);
    REQUIRE(bucket.put(item(bucket.now())));
    REQUIRE(bucket.put(item(bucket.now())));
  }
  clock->set(5'000'000 - Duration::Hour * 1);  // the next process starts with an earlier clock
  SQLiteBucket bucket({Rate(2, 60'000)}, at(path));
  bucket.set_clock(clock);
  CHECK_FALSE(bucket.put(item(bucket.now())));
  CHECK(bucket.waiting(item(bucket.now())) == 60'001);  // measured from the newest slot
  CHECK(bucket.count() == 2);
}

// --- The database file ----------------------------------------------------------------------

TEST_CASE("SQLiteBucket: slots persist when the bucket is closed and reopened") {
  ScratchDir dir;
  const std::string path = dir.file("persist.db");
  auto clock = std::make_shared<FakeClock>(10'000);
  for (const auto durability :
       {pyrate::Durability::Off, pyrate::Durability::Normal, pyrate::Durability::Full}) {
    SQLiteOptions options = at(path);
    options.durability = durability;
    {
      SQLiteBucket bucket({Rate(3, 1000)}, options);
      bucket.set_clock(clock);
      bucket.flush();
      REQUIRE(bucket.put(item(10'000, 2, "first")));
      REQUIRE(bucket.put(item(10'100, 1, "second")));
    }
    SQLiteBucket reopened({Rate(3, 1000)}, options);
    CHECK(reopened.count() == 3);
    CHECK(reopened.peek(0)->name == "second");
    CHECK(reopened.peek(2)->name == "first");
    CHECK(reopened.peek(2)->timestamp == 10'000);
    CHECK_FALSE(reopened.put(item(10'500)));
    CHECK(reopened.put(item(11'001)));
  }
}

TEST_CASE("SQLiteBucket: many buckets in one file are independent") {
  ScratchDir dir;
  const std::string path = dir.file("many.db");
  SQLiteBucket a({Rate(2, 1000)}, at(path, "a"));
  SQLiteBucket b({Rate(3, 1000)}, at(path, "b"));
  REQUIRE(a.put(item(0, 2)));
  CHECK_FALSE(a.put(item(1)));
  CHECK(b.put(item(1, 3)));
  CHECK(a.count() == 2);
  CHECK(b.count() == 3);
  a.flush();
  CHECK(a.count() == 0);
  CHECK(b.count() == 3);
  REQUIRE(a.put(item(5000)));
  CHECK(b.leak(5000) == 3);
  CHECK(a.count() == 1);
  CHECK(a.peek(0)->timestamp == 5000);
  // One bucket's clamp does not reach another: b's newest slot was at 1.
  CHECK(b.put(item(1)));
  CHECK(b.peek(0)->timestamp == 1);
}

TEST_CASE("SQLiteBucket: bucket keys and item names are data, whatever their bytes") {
  ScratchDir dir;
  const std::string path = dir.file("keys.db");
  const std::vector<std::string> keys{"it's",
                                      "say \"hi\"",
                                      "x'; DROP TABLE slots; --",
                                      "100%",
                                      "_",
                                      "\xc3\xbc"
                                      "n\xc3\xaf"
                                      "c\xc3\xb8"
                                      "d\xc3\xa9 \xf0\x9f\x9a\xa6",
                                      std::string("nul\0byte", 8),
                                      "nul",
                                      "",
                                      "?1",
                                      "\\",
                                      "a,b/c"};
  for (std::size_t i = 0; i < keys.size(); ++i) {
    SQLiteBucket bucket({Rate(100, 1000)}, at(path, keys[i]));
    CHECK(bucket.bucket_name() == keys[i]);
    REQUIRE(bucket.put(item(0, static_cast<std::int64_t>(i) + 1, keys[i])));
  }
  for (std::size_t i = 0; i < keys.size(); ++i) {
    SQLiteBucket bucket({Rate(100, 1000)}, at(path, keys[i]));
    CHECK(bucket.count() == static_cast<std::int64_t>(i) + 1);
    CHECK(bucket.peek(0)->name == keys[i]);
  }
  const std::vector<pyrate::StoredBucket> stored = pyrate::list_sqlite_buckets(path);
  REQUIRE(stored.size() == keys.size());
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < sorted.size(); ++i) CHECK(stored[i].name == sorted[i]);
}

TEST_CASE("SQLiteBucket: the file records each bucket's rates, the last ones opened with") {
  ScratchDir dir;
  const std::string path = dir.file("rates.db");
  CHECK(pyrate::list_sqlite_buckets(path).empty());
  {
    SQLiteBucket api({Rate(100, Duration::Minute), Rate(5, Duration::Second)}, at(path, "api"));
    SQLiteBucket db({Rate(1, 250)}, at(path, "db"));
  }
  std::vector<pyrate::StoredBucket> stored = pyrate::list_sqlite_buckets(path);
  REQUIRE(stored.size() == 2);
  CHECK(stored[0].name == "api");
  CHECK(stored[0].rates == std::vector<Rate>{Rate(5, 1000), Rate(100, 60'000)});
  CHECK(stored[1].name == "db");
  CHECK(stored[1].rates == std::vector<Rate>{Rate(1, 250)});
  { SQLiteBucket api({Rate(7, Duration::Hour)}, at(path, "api")); }
  stored = pyrate::list_sqlite_buckets(path);
  CHECK(stored[0].rates == std::vector<Rate>{Rate(7, 3'600'000)});
}

TEST_CASE("SQLiteBucket: a narrower rate list's leak keeps the slots a wider list still counts") {
  ScratchDir dir;
  const std::string path = dir.file("lists.db");
  const std::vector<Rate> full{Rate(3, Duration::Second), Rate(10, Duration::Day)};
  auto clock = std::make_shared<FakeClock>(1'000'000);
  SQLiteBucket wide(full, at(path, "api"));
  wide.set_clock(clock);
  for (int i = 0; i < 3; ++i) REQUIRE(wide.put(RateItem{"w", clock->now(), 1}));
  clock->advance(5'000);
  {
    SQLiteBucket narrow({Rate(3, Duration::Second)}, at(path, "api"));
    narrow.set_clock(clock);
    CHECK(narrow.leak() == 0);  // the day's slots stay: the wide list registered a day
    REQUIRE(narrow.put(RateItem{"n", clock->now(), 3}));
  }
  CHECK(pyrate::list_sqlite_buckets(path)[0].rates == std::vector<Rate>{Rate(3, 1000)});
  // The reproduction: five more with the full list, a second apart. Ten fit the day, not 16.
  int admitted = 0;
  for (int i = 0; i < 5; ++i) {
    clock->advance(1'001);
    if (wide.put(RateItem{"w", clock->now(), 1})) ++admitted;
  }
  CHECK(admitted == 4);
  CHECK(wide.count() == 10);
  CHECK(wide.leak(1'000'000 + Duration::Day * 1) == 0);  // the first slots are a day old
  CHECK(wide.leak(1'000'000 + Duration::Day * 1 + 1) == 3);
}

TEST_CASE("SQLiteBucket: list_sqlite_buckets of a missing file lists nothing and creates nothing") {
  ScratchDir dir;
  const std::string path = dir.file("absent.db");
  CHECK(pyrate::list_sqlite_buckets(path).empty());
  CHECK_FALSE(pyrate_test::exists(path));
  CHECK(std::filesystem::is_empty(dir.path()));
  CHECK(pyrate::list_sqlite_buckets("").empty());
  CHECK(pyrate::list_sqlite_buckets(":memory:").empty());
}

TEST_CASE("SQLiteBucket: list_sqlite_buckets leaves no files beside the database") {
  ScratchDir dir;
  const std::string path = dir.file("listed.db");
  { SQLiteBucket bucket({Rate(1, 1000)}, at(path)); }
  REQUIRE(std::distance(std::filesystem::directory_iterator(dir.path()), {}) == 1);
  CHECK(pyrate::list_sqlite_buckets(path).size() == 1);
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path()), {}) == 1);
}

TEST_CASE("SQLiteBucket: db_path \"\" is a new temporary file that close deletes") {
  SQLiteBucket bucket({Rate(5, 1000)});
  const std::string path = bucket.db_path();
  CHECK(std::filesystem::path(path).is_absolute());
  CHECK(std::filesystem::path(path).parent_path() ==
        std::filesystem::absolute(std::filesystem::temp_directory_path()));
  REQUIRE(pyrate_test::exists(path));
  REQUIRE(bucket.put(item(0)));
  REQUIRE(pyrate_test::exists(path + "-wal"));
  SQLiteBucket other({Rate(5, 1000)});
  CHECK(other.db_path() != path);
  CHECK(other.count() == 0);
  bucket.close();
  CHECK(bucket.db_path() == path);
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    CHECK_FALSE(pyrate_test::exists(path + suffix));
  }
}

TEST_CASE("SQLiteBucket: destroying a bucket deletes its temporary file") {
  std::string path;
  {
    SQLiteBucket bucket({Rate(5, 1000)});
    path = bucket.db_path();
    REQUIRE(bucket.put(item(0)));
  }
  CHECK_FALSE(pyrate_test::exists(path));
  CHECK_FALSE(pyrate_test::exists(path + "-wal"));
}

TEST_CASE("SQLiteBucket: db_path is made absolute, and a file given by path survives close") {
  ScratchDir dir;
  const auto relative = std::filesystem::relative(dir.path() / "rel.db");
  REQUIRE(relative.is_relative());
  SQLiteBucket bucket({Rate(5, 1000)}, at(relative.string()));
  CHECK(bucket.db_path() == std::filesystem::absolute(relative).string());
  bucket.close();
  CHECK(pyrate_test::exists(dir.file("rel.db")));
}

TEST_CASE("SQLiteBucket: \":memory:\" is a private in-memory database") {
  SQLiteBucket a({Rate(2, 1000)}, at(":memory:"));
  SQLiteBucket b({Rate(2, 1000)}, at(":memory:"));
  CHECK(a.db_path() == ":memory:");
  REQUIRE(a.put(item(0, 2)));
  CHECK_FALSE(a.put(item(1)));
  CHECK(b.count() == 0);
  CHECK_FALSE(pyrate_test::exists(":memory:"));
  CHECK(a.limiter_lock() == nullptr);
}

TEST_CASE("SQLiteBucket: multiprocess with \":memory:\" throws invalid_argument") {
  SQLiteOptions options = at(":memory:");
  options.multiprocess = true;
  CHECK_THROWS_AS(SQLiteBucket({Rate(1, 1000)}, options), std::invalid_argument);
}

TEST_CASE("SQLiteBucket: bad options throw invalid_argument and create nothing") {
  ScratchDir dir;
  SQLiteOptions negative = at(dir.file("negative.db"));
  negative.busy_timeout = std::chrono::milliseconds(-1);
  CHECK_THROWS_AS(SQLiteBucket({Rate(1, 1000)}, negative), std::invalid_argument);
  SQLiteOptions unknown = at(dir.file("unknown.db"));
  unknown.durability = static_cast<pyrate::Durability>(7);
  CHECK_THROWS_AS(SQLiteBucket({Rate(1, 1000)}, unknown), std::invalid_argument);
  CHECK_THROWS_AS(SQLiteBucket({Rate(1, 1000)}, at(dir.file(std::string("nul\0.db", 6)))),
                  std::invalid_argument);
  CHECK(std::filesystem::is_empty(dir.path()));
}

TEST_CASE("SQLiteBucket: limiter_lock is an interprocess lock only with multiprocess") {
  ScratchDir dir;
  SQLiteBucket single({Rate(1, 1000)}, at(dir.file("lock.db")));
  CHECK(single.limiter_lock() == nullptr);
  SQLiteOptions options = at(dir.file("lock.db"));
  options.multiprocess = true;
  SQLiteBucket shared({Rate(1, 1000)}, options);
  pyrate::LimiterLock* lock = shared.limiter_lock();
  REQUIRE(lock != nullptr);
  CHECK(dynamic_cast<pyrate::InterprocessLock*>(lock) != nullptr);
  lock->lock();
  lock->unlock();
  shared.close();
  CHECK(shared.limiter_lock() == lock);
}

TEST_CASE("SQLiteBucket: create_sqlite_limiter limits through a file that keeps the limit") {
  ScratchDir dir;
  const std::string path = dir.file("limiter.db");
  const pyrate::AcquireOptions no_wait{1, false, std::nullopt};
  {
    auto limiter = pyrate::create_sqlite_limiter(3, 60'000, path, "api");
    CHECK(limiter->try_acquire("x", no_wait));
    CHECK(limiter->try_acquire("x", no_wait));
    CHECK(limiter->try_acquire("x", no_wait));
    CHECK_FALSE(limiter->try_acquire("x", no_wait));
  }
  auto restarted = pyrate::create_sqlite_limiter(3, 60'000, path, "api");
  CHECK_FALSE(restarted->try_acquire("x", no_wait));
  const auto stored = pyrate::list_sqlite_buckets(path);
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].name == "api");
  CHECK(stored[0].rates == std::vector<Rate>{Rate(3, 60'000)});
}
