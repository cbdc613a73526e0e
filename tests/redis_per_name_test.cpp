// per_name_redis_factory against redis-servers the tests start themselves: one bucket per
// name under PREFIX/NAME, every name on one connection pool, names remade from the server.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <pyrate/pyrate.hpp>
#include <pyrate/redis_bucket.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/eventually.hpp"
#include "support/redis_keys.hpp"
#include "support/redis_server.hpp"

using namespace pyrate;
using namespace pyrate::testing;
using namespace std::chrono_literals;

namespace {

RedisOptions on(const RedisServer& server, const std::string& bucket) {
  RedisOptions options;
  options.url = server.url();
  options.bucket = bucket;
  return options;
}

AcquireOptions non_blocking() { return AcquireOptions{1, false, std::nullopt}; }

// The server's connected_clients, the connection that asks included.
long long connected_clients(const RedisServer& server) {
  const std::string info = server.command({"INFO", "clients"}).text;
  const std::string field = "connected_clients:";
  const auto at = info.find(field);
  REQUIRE(at != std::string::npos);
  return std::stoll(info.substr(at + field.size()));
}

}  // namespace

TEST_CASE("per_name_redis_factory gives each name a limit of its own", "[redis-per-name]") {
  RedisServer server;
  Limiter limiter(per_name_redis_factory({Rate(2, Duration::Hour)}, on(server, "users")));
  for (const std::string name : {"alice", "bob"}) {
    INFO(name);
    CHECK(limiter.try_acquire(name, non_blocking()));
    CHECK(limiter.try_acquire(name, non_blocking()));
    CHECK_FALSE(limiter.try_acquire(name, non_blocking()));
  }
  CHECK(limiter.try_acquire("carol", non_blocking()));
}

TEST_CASE("A name's bucket is stored under the key prefix and PREFIX/NAME", "[redis-per-name]") {
  RedisServer server;
  RedisOptions options = on(server, "api");
  options.key_prefix = "app:";
  Limiter limiter(per_name_redis_factory({Rate(5, Duration::Minute)}, options));
  REQUIRE(limiter.try_acquire("key-1", AcquireOptions{3, false, std::nullopt}));
  CHECK(server.command({"ZCARD", entries_key("api/key-1", "app:")}).integer == 1);
  CHECK(server
            .command({"EXISTS", entries_key("api/key-1", "app:"), times_key("api/key-1", "app:"),
                      widest_key("api/key-1", "app:"), rates_key("api/key-1", "app:")})
            .integer == 4);
  CHECK(server.command({"GET", rates_key("api/key-1", "app:")}).text == "5/60000");
  CHECK(server.command({"EXISTS", entries_key("api/key-1")}).integer == 0);
  RedisOptions same = options;
  same.bucket = "api/key-1";
  RedisBucket direct({Rate(5, Duration::Minute)}, same);
  CHECK(direct.count() == 3);
}

TEST_CASE("A dropped Redis name is made again from what the server holds, keeping its limit",
          "[redis-per-name]") {
  RedisServer server;
  auto factory = per_name_redis_factory({Rate(2, Duration::Hour)}, on(server, "p"));
  Limiter limiter(factory);
  REQUIRE(limiter.try_acquire("x", non_blocking()));
  REQUIRE(limiter.try_acquire("x", non_blocking()));
  const auto first = factory->get(RateItem{"x", 0, 1});
  CHECK(factory->dispose(*first));
  CHECK(factory->resident() == 0);
  CHECK_FALSE(limiter.try_acquire("x", non_blocking()));
  CHECK(factory->get(RateItem{"x", 0, 1}) != first);
  CHECK(first->count() == 2);  // the dropped bucket stays open for whoever holds it
}

TEST_CASE("Idle Redis names leave memory after the leaker empties them, and come back empty",
          "[redis-per-name]") {
  RedisServer server;
  auto factory = per_name_redis_factory({Rate(2, 100ms)}, on(server, "idle"));
  factory->set_leak_interval(20);
  Limiter limiter(factory);
  for (int i = 0; i < 10; ++i)
    REQUIRE(limiter.try_acquire("n" + std::to_string(i), non_blocking()));
  CHECK(eventually([&] { return factory->resident() == 0; }, 5s));
  CHECK(limiter.try_acquire("n0", non_blocking()));
  CHECK(limiter.try_acquire("n0", non_blocking()));
  CHECK_FALSE(limiter.try_acquire("n0", non_blocking()));
}

TEST_CASE("Every name of a factory shares one pool: the server's clients stay few",
          "[redis-per-name]") {
  RedisServer server;
  auto factory = per_name_redis_factory({Rate(3, Duration::Minute)}, on(server, "pool"));
  factory->set_leak_interval(10);  // the leaker borrows from the same pool
  Limiter limiter(factory);
  constexpr int kThreads = 8;
  constexpr int kNames = 400;
  std::vector<std::thread> threads;
  std::atomic<int> admitted{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kNames; i += kThreads) {
        for (int k = 0; k < 4; ++k) {
          if (limiter.try_acquire("name-" + std::to_string(i), non_blocking())) ++admitted;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(admitted == 3 * kNames);
  // At most the pool's 4, and the connection that asks.
  CHECK(connected_clients(server) <= 5);
}

TEST_CASE("Per-name bucket names are data: any bytes, each name its own bucket",
          "[redis-per-name]") {
  RedisServer server;
  Limiter limiter(per_name_redis_factory({Rate(1, Duration::Minute)}, on(server, "b")));
  const std::vector<std::string> names{
      std::string("a\0b", 3),         std::string("a\0c", 3), "}{", "x/y", "*", "",
      "'); redis.call('FLUSHALL') --"};
  for (const std::string& name : names) {
    CHECK(limiter.try_acquire(name, non_blocking()));
    CHECK_FALSE(limiter.try_acquire(name, non_blocking()));
  }
  for (const std::string& name : names) {
    CAPTURE(name);
    CHECK(server.command({"ZCARD", entries_key("b/" + name)}).integer == 1);
  }
}

TEST_CASE("per_name_redis_factory fails at once for a server that cannot be reached",
          "[redis-per-name]") {
  RedisOptions options;
  options.url = "unix:///nonexistent/pyrate-test.sock";
  CHECK_THROWS_AS(per_name_redis_factory({Rate(1, Duration::Second)}, options),
                  StorageUnavailableError);
  CHECK_THROWS_AS(per_name_redis_factory({Rate(2, 1000), Rate(1, 2000)}, options),
                  std::invalid_argument);
}
