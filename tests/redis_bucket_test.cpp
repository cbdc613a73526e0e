// What RedisBucket does beyond the rules every bucket obeys (bucket_contract_test.cpp): the
// decisions of the shared core computed by its script, one entry per item, the server's clock,
// its keys, names as data, expiry, the script cache, rate lists sharing a bucket, and the URL's
// database and socket. Each test starts its own redis-server.
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <pyrate/pyrate.hpp>
#include <pyrate/redis_bucket.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/eventually.hpp"
#include "support/fake_clock.hpp"
#include "support/redis_keys.hpp"
#include "support/redis_server.hpp"

using namespace pyrate;
using namespace pyrate::testing;
using namespace std::chrono_literals;
using pyrate_test::FakeClock;

namespace {

RedisOptions on(const RedisServer& server, const std::string& bucket = "rate_bucket") {
  RedisOptions options;
  options.url = server.url();
  options.bucket = bucket;
  return options;
}

long long integer_of(const RedisValue& value) { return value.integer; }

void check_same(const Decision& actual, const Decision& expected) {
  CHECK(actual.admitted == expected.admitted);
  CHECK(actual.failing_rate == expected.failing_rate);
  CHECK(actual.retry_after == expected.retry_after);
  CHECK(actual.tightest_rate == expected.tightest_rate);
  CHECK(actual.remaining == expected.remaining);
  CHECK(actual.reset_after == expected.reset_after);
}

}  // namespace

TEST_CASE("admit and waiting decide every item exactly as an InMemoryBucket does",
          "[redis-bucket]") {
  RedisServer server;
  const std::vector<Rate> rates{Rate(3, 100), Rate(10, 1000), Rate(40, 10'000)};
  RedisBucket redis(rates, on(server));
  InMemoryBucket memory(rates);
  auto clock = std::make_shared<FakeClock>(1'700'000'000'000);
  redis.set_clock(clock);
  memory.set_clock(clock);

  std::mt19937 random(20261201);
  for (int i = 0; i < 1500; ++i) {
    // Mostly forwards, sometimes back (a clock that stepped, or a caller's own stamp).
    clock->advance(static_cast<Millis>(random() % 120) - 10);
    const RateItem item{"item" + std::to_string(i % 7), clock->now(),
                        static_cast<std::int64_t>(random() % 13)};
    CAPTURE(i, item.timestamp, item.weight);
    check_same(redis.admit(item), memory.admit(item));
    CHECK(redis.failing_rate() == memory.failing_rate());
    const RateItem probe{"probe", clock->now(), static_cast<std::int64_t>(random() % 45)};
    CHECK(redis.waiting(probe) == memory.waiting(probe));
    if (i % 100 == 99) {
      const Millis leak_at = clock->now() + static_cast<Millis>(random() % 20'000);
      CHECK(redis.leak(leak_at) == memory.leak(leak_at));
    }
  }
  REQUIRE(redis.count() == memory.count());
  for (std::int64_t i = 0; i < memory.count(); ++i) {
    CAPTURE(i);
    CHECK(redis.peek(i)->name == memory.peek(i)->name);
    CHECK(redis.peek(i)->timestamp == memory.peek(i)->timestamp);
  }
}

TEST_CASE("An item of any weight is one entry on the server", "[redis-bucket]") {
  RedisServer server;
  RedisBucket bucket({Rate(5000, Duration::Minute)}, on(server, "heavy"));
  REQUIRE(bucket.put(RateItem{"bulk", bucket.now(), 1000}));
  CHECK(bucket.count() == 1000);
  CHECK(integer_of(server.command({"ZCARD", entries_key("heavy")})) == 1);
  CHECK(integer_of(server.command({"ZCARD", times_key("heavy")})) == 1);
  CHECK(bucket.peek(999)->name == "bulk");
  CHECK_FALSE(bucket.peek(1000).has_value());
}

TEST_CASE("The default clock is the server's TIME, and recorded stamps come from it",
          "[redis-bucket]") {
  RedisServer server;
  RedisBucket bucket({Rate(5, Duration::Second)}, on(server));
  const auto server_ms = [&] {
    const RedisValue time = server.command({"TIME"});
    return std::stoll(time.elements[0].text) * 1000 + std::stoll(time.elements[1].text) / 1000;
  };
  const Millis before = server_ms();
  const Millis now = bucket.now();
  REQUIRE(bucket.put(RateItem{"x", now, 1}));
  const Millis after = server_ms();
  CHECK(now >= before);
  CHECK(now <= after);
  CHECK(bucket.peek(0)->timestamp == now);
}

TEST_CASE("The bucket's keys share its hash tag under the key prefix", "[redis-bucket]") {
  RedisServer server;
  RedisOptions options = on(server, "tagged");
  options.key_prefix = "app:limits:";
  RedisBucket bucket({Rate(5, Duration::Second)}, options);
  REQUIRE(bucket.put(RateItem{"x", bucket.now(), 1}));
  const RedisValue keys = server.command({"KEYS", "*"});
  std::vector<std::string> names;
  for (const RedisValue& key : keys.elements) names.push_back(key.text);
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"app:limits:{tagged}:entries",
                                          "app:limits:{tagged}:rates", "app:limits:{tagged}:times",
                                          "app:limits:{tagged}:widest"});
}

TEST_CASE("Bucket names are data: any bytes, each name its own bucket", "[redis-bucket]") {
  RedisServer server;
  const std::vector<std::string> names{std::string("a\0b", 3),
                                       std::string("a\0c", 3),
                                       "'); redis.call('FLUSHALL') --",
                                       "}{",
                                       "",
                                       "a b\n"};
  std::vector<std::unique_ptr<RedisBucket>> buckets;
  for (const std::string& name : names) {
    buckets.push_back(std::make_unique<RedisBucket>(std::vector<Rate>{Rate(2, Duration::Minute)},
                                                    on(server, name)));
  }
  for (auto& bucket : buckets) {
    CHECK(bucket->put(RateItem{"x", bucket->now(), 2}));
    CHECK_FALSE(bucket->put(RateItem{"x", bucket->now(), 1}));
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    CAPTURE(i);
    CHECK(buckets[i]->count() == 2);
    CHECK(buckets[i]->bucket_name() == names[i]);
    CHECK(integer_of(server.command({"EXISTS", entries_key(names[i])})) == 1);
  }
}

TEST_CASE("Item names are any bytes, colons and NUL included", "[redis-bucket]") {
  RedisServer server;
  RedisBucket bucket({Rate(10, Duration::Minute)}, on(server));
  const std::vector<std::string> names{std::string("n\0ul", 4), "a:b:c", "", "12:34", "\xff\xfe"};
  for (const std::string& name : names) REQUIRE(bucket.put(RateItem{name, bucket.now(), 1}));
  for (std::size_t i = 0; i < names.size(); ++i) {
    CHECK(bucket.peek(static_cast<std::int64_t>(names.size() - 1 - i))->name == names[i]);
  }
}

TEST_CASE("An idle bucket's keys expire after its widest interval", "[redis-bucket]") {
  RedisServer server;
  RedisBucket bucket({Rate(2, 100), Rate(5, 400)}, on(server, "idle"));
  REQUIRE(bucket.put(RateItem{"x", bucket.now(), 1}));
  const long long ttl = integer_of(server.command({"PTTL", entries_key("idle")}));
  CHECK(ttl > 0);
  CHECK(ttl <= 401);
  CHECK(integer_of(server.command({"PTTL", times_key("idle")})) <= 401);
  CHECK(integer_of(server.command({"PTTL", widest_key("idle")})) <= 401);
  CHECK(integer_of(server.command({"PTTL", rates_key("idle")})) <= 401);
  CHECK(eventually(
      [&] {
        return integer_of(server.command({"EXISTS", entries_key("idle"), times_key("idle"),
                                          widest_key("idle"), rates_key("idle")})) == 0;
      },
      2s));
  CHECK(bucket.count() == 0);
  CHECK(bucket.put(RateItem{"y", bucket.now(), 2}));
}

TEST_CASE("A bucket whose clock runs ahead of the server's keeps its keys that much longer",
          "[redis-bucket]") {
  RedisServer server;
  RedisBucket bucket({Rate(2, 1000)}, on(server, "ahead"));
  bucket.set_clock(std::make_shared<FakeClock>(SystemClock().now() + 600));
  REQUIRE(bucket.put(RateItem{"x", bucket.now(), 1}));
  const long long ttl = integer_of(server.command({"PTTL", entries_key("ahead")}));
  CHECK(ttl > 1500);
  CHECK(ttl <= 1601);
}

TEST_CASE("Every operation works again after SCRIPT FLUSH empties the server's cache",
          "[redis-bucket]") {
  RedisServer server;
  RedisBucket bucket({Rate(3, Duration::Minute)}, on(server));
  auto clock = std::make_shared<FakeClock>(1000);
  bucket.set_clock(clock);
  REQUIRE(bucket.put(RateItem{"a", 1000, 2}));
  server.command({"SCRIPT", "FLUSH"});
  CHECK(bucket.put(RateItem{"b", 1001, 1}));
  server.command({"SCRIPT", "FLUSH"});
  CHECK_FALSE(bucket.put(RateItem{"c", 1002, 1}));
  server.command({"SCRIPT", "FLUSH"});
  CHECK(bucket.waiting(RateItem{"c", 1002, 1}) == 1000 - (1002 - 60'000) + 1);
  server.command({"SCRIPT", "FLUSH"});
  CHECK(bucket.count() == 3);
  server.command({"SCRIPT", "FLUSH"});
  CHECK(bucket.peek(0)->name == "b");
  server.command({"SCRIPT", "FLUSH"});
  CHECK(bucket.leak(61'002) == 3);
}

TEST_CASE("leak keeps the slots that a wider rate list on the same bucket still counts",
          "[redis-bucket]") {
  RedisServer server;
  RedisBucket narrow({Rate(5, 1000)}, on(server, "shared"));
  RedisBucket wide({Rate(5, 1000), Rate(20, 10'000)}, on(server, "shared"));
  REQUIRE(wide.put(RateItem{"w", 0, 1}));
  REQUIRE(narrow.put(RateItem{"n", 500, 1}));
  CHECK(narrow.leak(5000) == 0);  // the wide list counts [-5000, 5000]
  CHECK(narrow.leak(10'001) == 1);
  CHECK(narrow.leak(10'501) == 1);
  CHECK(wide.count() == 0);
}

TEST_CASE("The URL's database holds the bucket's keys", "[redis-bucket]") {
  RedisServer server;
  RedisOptions options = on(server, "in-five");
  options.url += "/5";
  RedisBucket bucket({Rate(5, Duration::Minute)}, options);
  REQUIRE(bucket.put(RateItem{"x", bucket.now(), 1}));
  CHECK(integer_of(server.command({"EXISTS", entries_key("in-five")})) == 0);
  server.command({"SELECT", "5"});  // a new connection per command: check inside one script
  const RedisValue in_five =
      server.command({"EVAL", "redis.call('SELECT', 5) return redis.call('EXISTS', KEYS[1])", "1",
                      entries_key("in-five")});
  CHECK(in_five.integer == 1);
  CHECK(bucket.url() == server.url() + "/5");
}

TEST_CASE("A unix socket URL reaches the server", "[redis-bucket]") {
  RedisServerOptions unix_socket;
  unix_socket.unix_socket = true;
  RedisServer server(unix_socket);
  REQUIRE(server.url().starts_with("unix:///"));
  RedisBucket bucket({Rate(2, Duration::Minute)}, on(server));
  CHECK(bucket.put(RateItem{"x", bucket.now(), 2}));
  CHECK_FALSE(bucket.put(RateItem{"x", bucket.now(), 1}));
  CHECK(bucket.count() == 2);
}

TEST_CASE("A Limiter over a RedisBucket waits out a full window with the server's clock",
          "[redis-bucket]") {
  RedisServer server;
  auto bucket = std::make_shared<RedisBucket>(std::vector<Rate>{Rate(2, 200)}, on(server));
  Limiter limiter(bucket, 10);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) CHECK(limiter.try_acquire("x"));
  CHECK(std::chrono::steady_clock::now() - start >= 400ms);
}

TEST_CASE("A negative timeout is refused", "[redis-bucket]") {
  RedisOptions options;
  options.connect_timeout = -1ms;
  CHECK_THROWS_AS(RedisBucket({Rate(1, 1000)}, options), std::invalid_argument);
  options.connect_timeout = 1000ms;
  options.command_timeout = -1ms;
  CHECK_THROWS_AS(RedisBucket({Rate(1, 1000)}, options), std::invalid_argument);
  CHECK_THROWS_AS(per_name_redis_factory({Rate(1, 1000)}, options), std::invalid_argument);
  CHECK_THROWS_AS(list_redis_buckets(options), std::invalid_argument);
}

TEST_CASE("After close, the server's clock throws logic_error", "[redis-bucket]") {
  RedisServer server;
  RedisBucket bucket({Rate(2, 1000)}, on(server));
  bucket.close();
  CHECK_THROWS_AS(bucket.now(), std::logic_error);
}

namespace {

constexpr std::int64_t kLargestExact = (std::int64_t{1} << 53) - 1;

}  // namespace

TEST_CASE("Limits and intervals above 2^53 - 1 are refused: the scripts count in doubles",
          "[redis-bucket]") {
  RedisServer server;
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  for (const Rate& rate :
       {Rate(kMax, kMax), Rate(kLargestExact + 1, 1000), Rate(1, kLargestExact + 1)}) {
    try {
      RedisBucket bucket({rate}, on(server, "huge"));
      FAIL("a rate the scripts cannot count exactly was accepted: " + to_string(rate));
    } catch (const std::invalid_argument& error) {
      CHECK_THAT(error.what(), Catch::Contains("2^53 - 1"));
      CHECK_THAT(error.what(), Catch::Contains(std::to_string(rate.limit)));
    }
  }
  CHECK(integer_of(server.command({"DBSIZE"})) == 0);
  RedisBucket largest({Rate(kLargestExact, kLargestExact)}, on(server, "largest"));
  largest.set_clock(std::make_shared<FakeClock>(0));
  const Decision admitted = largest.admit(RateItem{"a", 0, kLargestExact});
  CHECK(admitted.admitted);
  CHECK(admitted.reset_after == kLargestExact + 1);
  CHECK(largest.count() == kLargestExact);
  const Decision refused = largest.admit(RateItem{"a", 1, 1});
  CHECK_FALSE(refused.admitted);
  CHECK(refused.retry_after == kLargestExact);  // 0 - 1 + (2^53 - 1) + 1
  CHECK(largest.admit(RateItem{"a", 1, kMax}).retry_after == -1);
  CHECK(largest.admit(RateItem{"a", 1, kLargestExact + 2}).retry_after == -1);
  CHECK(largest.count() == kLargestExact);
}

TEST_CASE("Waits and resets are exact for windows reaching below -2^53", "[redis-bucket]") {
  // t - interval does not fit a double exactly here: the script computes (slot - t) + interval.
  RedisServer server;
  const std::vector<Rate> rates{Rate(1, kLargestExact - 2)};
  RedisBucket bucket(rates, on(server, "early"));
  InMemoryBucket expected(rates);
  const Millis t = -(Millis{1} << 52);
  for (const RateItem& item : {RateItem{"a", t, 1}, RateItem{"a", t, 1}, RateItem{"a", t + 7, 1}}) {
    check_same(bucket.admit(item), expected.admit(item));
  }
  CHECK(bucket.waiting(RateItem{"a", t + 7, 1}) == kLargestExact - 2 + 1 - 7);
}

TEST_CASE("count_since counts the slots stamped at or after a timestamp", "[redis-bucket]") {
  RedisServer server;
  RedisBucket bucket({Rate(10, Duration::Minute)}, on(server));
  bucket.set_clock(std::make_shared<FakeClock>(1000));
  REQUIRE(bucket.put(RateItem{"a", 1000, 2}));
  REQUIRE(bucket.put(RateItem{"b", 1500, 3}));
  CHECK(bucket.count_since(0) == 5);
  CHECK(bucket.count_since(1000) == 5);
  CHECK(bucket.count_since(1001) == 3);
  CHECK(bucket.count_since(1500) == 3);
  CHECK(bucket.count_since(1501) == 0);
  server.command({"SCRIPT", "FLUSH"});
  CHECK(bucket.count_since(1200) == 3);
}

TEST_CASE("The bucket records the rate list of its last check beside its slots", "[redis-bucket]") {
  RedisServer server;
  RedisBucket wide({Rate(100, Duration::Minute), Rate(5, Duration::Second)}, on(server, "r"));
  REQUIRE(wide.put(RateItem{"x", wide.now(), 1}));
  CHECK(server.command({"GET", rates_key("r")}).text == "5/1000,100/60000");
  RedisBucket narrow({Rate(3, 500)}, on(server, "r"));
  CHECK_FALSE(narrow.put(RateItem{"y", narrow.now(), 4}));  // refused, still a check
  CHECK(server.command({"GET", rates_key("r")}).text == "3/500");
}

TEST_CASE("list_redis_buckets lists the buckets under the prefix with SCAN, never KEYS",
          "[redis-bucket]") {
  RedisServer server;
  RedisOptions options = on(server);
  options.key_prefix = "a*[?]\\:";  // glob characters are literal
  const std::vector<std::string> names{std::string("n\0ul", 4), "}{", "a/b", "*", "", "z"};
  for (const std::string& name : names) {
    options.bucket = name;
    RedisBucket bucket({Rate(2, Duration::Minute)}, options);
    REQUIRE(bucket.put(RateItem{"x", bucket.now(), 1}));
  }
  RedisOptions other = on(server, "other prefix");
  other.key_prefix = "ab:";
  RedisBucket elsewhere({Rate(2, Duration::Minute)}, other);
  REQUIRE(elsewhere.put(RateItem{"x", elsewhere.now(), 1}));
  RedisBucket never_checked({Rate(2, Duration::Minute)}, on(server, "never checked"));

  const std::vector<StoredBucket> listed = list_redis_buckets(options);
  std::vector<std::string> expected = names;
  std::sort(expected.begin(), expected.end());
  std::vector<std::string> listed_names;
  for (const StoredBucket& stored : listed) {
    listed_names.push_back(stored.name);
    CHECK(stored.rates == std::vector<Rate>{Rate(2, Duration::Minute)});
  }
  CHECK(listed_names == expected);
  const std::string stats = server.command({"INFO", "commandstats"}).text;
  CHECK(stats.find("cmdstat_scan:") != std::string::npos);
  CHECK(stats.find("cmdstat_keys:") == std::string::npos);
}

TEST_CASE("list_redis_buckets follows SCAN's cursor over many pages", "[redis-bucket]") {
  RedisServer server;
  auto factory = per_name_redis_factory({Rate(1, Duration::Minute)}, on(server, "many"));
  Limiter limiter(factory);
  constexpr int kNames = 1500;  // 6000 keys: several pages of SCAN's COUNT 1000
  for (int i = 0; i < kNames; ++i) {
    REQUIRE(limiter.try_acquire("n" + std::to_string(i), AcquireOptions{1, false, std::nullopt}));
  }
  const std::vector<StoredBucket> listed = list_redis_buckets(on(server));
  REQUIRE(listed.size() == kNames);
  CHECK(std::adjacent_find(listed.begin(), listed.end(), [](const auto& a, const auto& b) {
          return a.name >= b.name;
        }) == listed.end());
  CHECK(listed.front().name.starts_with("many/n"));
}
