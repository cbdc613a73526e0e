// RedisBucket when its server fails: unreachable, killed mid-stream and restarted, stopped
// from answering, restarted with its data, or protected by a password the bucket gets wrong.
// Each test starts its own redis-server.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <mutex>
#include <pyrate/pyrate.hpp>
#include <pyrate/redis_bucket.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/redis_keys.hpp"
#include "support/redis_server.hpp"

using namespace pyrate;
using namespace pyrate::testing;
using namespace std::chrono_literals;

namespace {

RedisOptions on(const std::string& url, std::chrono::milliseconds command_timeout = 1000ms) {
  RedisOptions options;
  options.url = url;
  options.command_timeout = command_timeout;
  return options;
}

// A loopback socket that listens but never accepts nor answers, closed on destruction. With
// `full`, its accept queue is filled first, so that the kernel drops new connection attempts
// and connect() waits.
class SilentListener {
 public:
  explicit SilentListener(bool full = false) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(fd_, full ? 0 : 16) == 0);
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
    for (int i = 0; full && i < 4; ++i) {
      const int filler = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      ::connect(filler, reinterpret_cast<sockaddr*>(&address), sizeof address);
      fillers_.push_back(filler);
    }
    if (full) std::this_thread::sleep_for(50ms);
  }
  ~SilentListener() {
    for (const int filler : fillers_) ::close(filler);
    ::close(fd_);
  }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
  std::vector<int> fillers_;
};

template <class Call>
std::chrono::milliseconds time_of(Call call) {
  const auto start = std::chrono::steady_clock::now();
  call();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start);
}

}  // namespace

TEST_CASE("A server that cannot be reached throws StorageUnavailableError naming the URL",
          "[redis-fault]") {
  int port = 0;
  {
    RedisServer server;  // a port that was free a moment ago, and is free again
    port = server.port();
  }
  const std::string url = "redis://:hunter2@127.0.0.1:" + std::to_string(port);
  try {
    RedisBucket bucket({Rate(1, 1000)}, on(url));
    FAIL("constructed without a server");
  } catch (const StorageUnavailableError& error) {
    const std::string message = error.what();
    CHECK_THAT(message, Catch::Contains("redis://127.0.0.1:" + std::to_string(port) + "/0"));
    CHECK_THAT(message, Catch::Contains("refused"));
    CHECK_THAT(message, !Catch::Contains("hunter2"));
  }
}

TEST_CASE("A connection that cannot be opened in time fails after connect_timeout",
          "[redis-fault]") {
  SilentListener listener(true);
  RedisOptions options = on("redis://127.0.0.1:" + std::to_string(listener.port()), 5000ms);
  options.connect_timeout = 200ms;
  const auto took = time_of([&] {
    try {
      RedisBucket bucket({Rate(1, 1000)}, options);
      FAIL("connected to a full accept queue");
    } catch (const StorageUnavailableError& error) {
      CHECK_THAT(error.what(), Catch::Contains("connect"));
    }
  });
  CHECK(took >= 190ms);
  CHECK(took < 2000ms);
}

TEST_CASE("A server that accepts but never answers times out the setup within command_timeout",
          "[redis-fault]") {
  SilentListener listener;
  const std::string url = "redis://127.0.0.1:" + std::to_string(listener.port());
  const auto took = time_of([&] {
    CHECK_THROWS_AS(RedisBucket({Rate(1, 1000)}, on(url, 200ms)), StorageUnavailableError);
  });
  CHECK(took >= 190ms);
  CHECK(took < 2000ms);
}

TEST_CASE(
    "A server that stops answering times out each call within command_timeout, reconnecting "
    "with the timeout kept",
    "[redis-fault]") {
  RedisServer server;
  RedisBucket bucket({Rate(100, Duration::Minute)}, on(server.url(), 200ms));
  REQUIRE(bucket.put(RateItem{"before", bucket.now(), 1}));
  for (int round = 0; round < 2; ++round) {
    CAPTURE(round);
    server.pause();
    const auto took = time_of([&] {
      CHECK_THROWS_AS(bucket.put(RateItem{"paused", 0, 1}), StorageUnavailableError);
    });
    CHECK(took >= 190ms);
    CHECK(took < 2000ms);
    server.resume();
    // The timed-out connection is reopened, with its timeout, before the next command.
    CHECK(bucket.put(RateItem{"after", bucket.now(), 1}));
  }
}

TEST_CASE(
    "kill -9 of the server mid-stream: calls throw StorageUnavailableError, every admission "
    "reported is recorded, and the same bucket works after a restart on the same port",
    "[redis-fault]") {
  RedisServerOptions durable;
  durable.append_only = true;
  RedisServer server(durable);
  RedisBucket bucket({Rate(1'000'000, Duration::Hour)}, on(server.url(), 500ms));
  bucket.set_clock(std::make_shared<SystemClock>());

  std::mutex mutex;
  std::set<std::string> reported;  // guarded by mutex
  std::atomic<int> failures{0};
  std::atomic<int> other_errors{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        const std::string name = "t" + std::to_string(t) + "-" + std::to_string(i);
        try {
          if (bucket.put(RateItem{name, bucket.now(), 1})) {
            std::lock_guard lock(mutex);
            reported.insert(name);
          }
        } catch (const StorageUnavailableError&) {
          failures.fetch_add(1);
          std::this_thread::sleep_for(1ms);
        } catch (...) {
          other_errors.fetch_add(1);
        }
      }
    });
  }
  std::this_thread::sleep_for(300ms);
  server.kill();
  std::this_thread::sleep_for(200ms);
  CHECK_THROWS_AS(bucket.count(), StorageUnavailableError);
  server.restart();
  std::this_thread::sleep_for(200ms);
  stop.store(true);
  for (auto& thread : threads) thread.join();

  CHECK(failures.load() > 0);
  CHECK(other_errors.load() == 0);
  std::set<std::string> recorded;
  for (const StoredEntry& entry : stored_entries(server, "rate_bucket")) {
    recorded.insert(entry.name);
  }
  CAPTURE(reported.size(), recorded.size());
  CHECK(reported.size() > 100);
  std::vector<std::string> unrecorded;
  for (const std::string& name : reported) {
    if (!recorded.count(name)) unrecorded.push_back(name);
  }
  CHECK(unrecorded.empty());
  CHECK(bucket.put(RateItem{"after", bucket.now(), 1}));
  CHECK(bucket.peek(0)->name == "after");
}

TEST_CASE("A full bucket stays full across a server restart with appendonly and appendfsync always",
          "[redis-fault]") {
  RedisServerOptions durable;
  durable.append_only = true;
  RedisServer server(durable);
  RedisBucket bucket({Rate(3, Duration::Minute)}, on(server.url()));
  for (int i = 0; i < 3; ++i) REQUIRE(bucket.put(RateItem{"x", bucket.now(), 1}));
  REQUIRE_FALSE(bucket.put(RateItem{"x", bucket.now(), 1}));
  server.kill();
  server.restart();
  CHECK_FALSE(bucket.put(RateItem{"x", bucket.now(), 1}));
  RedisBucket reopened({Rate(3, Duration::Minute)}, on(server.url()));
  CHECK(reopened.count() == 3);
  CHECK_FALSE(reopened.put(RateItem{"x", reopened.now(), 1}));
  CHECK(reopened.waiting(RateItem{"x", reopened.now(), 1}) > 50'000);
}

TEST_CASE("With a password-protected server, no error message holds the password",
          "[redis-fault]") {
  RedisServerOptions protected_server;
  protected_server.password = "s3cret-pw";
  RedisServer server(protected_server);
  const auto message_of = [](const std::string& url) -> std::string {
    try {
      RedisBucket bucket({Rate(1, 1000)}, on(url, 300ms));
      bucket.put(RateItem{"x", bucket.now(), 1});
    } catch (const StorageError& error) {
      return error.what();
    }
    return "";
  };
  const std::string wrong = message_of(server.url_with_password("wrong-pw"));
  CHECK_THAT(wrong, Catch::Contains("AUTH"));
  CHECK_THAT(wrong, !Catch::Contains("wrong-pw"));
  const std::string missing = message_of(server.url_with_password(""));
  CHECK_THAT(missing, Catch::Contains("NOAUTH"));
  const std::string no_database = message_of(server.url() + "/99999");
  CHECK_THAT(no_database, Catch::Contains("SELECT"));
  CHECK_THAT(no_database, !Catch::Contains("s3cret-pw"));
  for (const std::string& message : {wrong, missing, no_database}) {
    CHECK_THAT(message, Catch::Contains("redis://127.0.0.1:" + std::to_string(server.port())));
  }

  RedisBucket bucket({Rate(5, 1000)}, on(server.url(), 300ms));
  REQUIRE(bucket.put(RateItem{"x", bucket.now(), 1}));
  CHECK(bucket.url().find("s3cret-pw") == std::string::npos);
  server.kill();
  try {
    bucket.put(RateItem{"x", 0, 1});
    FAIL("put without a server");
  } catch (const StorageUnavailableError& error) {
    CHECK_THAT(error.what(), !Catch::Contains("s3cret-pw"));
  }
}
