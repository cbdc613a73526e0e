// RedisOptions::url: the forms RedisUrl accepts, what it makes of them, and what it refuses.
#include "redis/redis_url.hpp"

#include <catch2/catch.hpp>
#include <stdexcept>
#include <string>

using pyrate::redis::RedisUrl;

TEST_CASE("A redis:// URL without port or database means port 6379 and database 0", "[redis-url]") {
  const RedisUrl url = RedisUrl::parse("redis://127.0.0.1");
  CHECK(url.transport == RedisUrl::Transport::Tcp);
  CHECK(url.host == "127.0.0.1");
  CHECK(url.port == 6379);
  CHECK(url.database == 0);
  CHECK(url.password.empty());
  CHECK(url.redacted == "redis://127.0.0.1:6379/0");
}

TEST_CASE("A redis:// URL gives host, port, database, user and password", "[redis-url]") {
  const RedisUrl url = RedisUrl::parse("redis://alice:s%40cret/x@localhost:7000/3");
  CHECK(url.host == "localhost");
  CHECK(url.port == 7000);
  CHECK(url.database == 3);
  CHECK(url.user == "alice");
  CHECK(url.password == "s@cret/x");
  CHECK(url.redacted == "redis://localhost:7000/3");
  const RedisUrl no_user = RedisUrl::parse("redis://:pw@localhost");
  CHECK(no_user.user.empty());
  CHECK(no_user.password == "pw");
}

TEST_CASE("A bracketed IPv6 address is a host", "[redis-url]") {
  const RedisUrl url = RedisUrl::parse("redis://[::1]:6380");
  CHECK(url.host == "::1");
  CHECK(url.port == 6380);
  CHECK(url.redacted == "redis://[::1]:6380/0");
}

TEST_CASE("A unix:// URL gives the socket's path, database and password", "[redis-url]") {
  const RedisUrl plain = RedisUrl::parse("unix:///run/redis/redis.sock");
  CHECK(plain.transport == RedisUrl::Transport::Unix);
  CHECK(plain.path == "/run/redis/redis.sock");
  CHECK(plain.database == 0);
  CHECK(plain.redacted == "unix:///run/redis/redis.sock");
  const RedisUrl full = RedisUrl::parse("unix://:pw@/tmp/r.sock?db=2");
  CHECK(full.path == "/tmp/r.sock");
  CHECK(full.password == "pw");
  CHECK(full.database == 2);
  CHECK(full.redacted == "unix:///tmp/r.sock?db=2");
}

TEST_CASE("A malformed URL is refused with invalid_argument that never holds the password",
          "[redis-url]") {
  for (const std::string text :
       {"http://:hunter2@host", "redis://:hunter2@", "redis://:hunter2@host:0",
        "redis://:hunter2@host:65536", "redis://:hunter2@host:port", "redis://:hunter2@host/x",
        "redis://:hunter2@[::1", "redis://hunter2@host", "redis://:hunter2%zz@host",
        "unix://:hunter2@relative", "unix://:hunter2@/tmp/s?database=1", "unix://"}) {
    CAPTURE(text);
    try {
      RedisUrl::parse(text);
      FAIL("accepted");
    } catch (const std::invalid_argument& error) {
      CHECK_THAT(error.what(), !Catch::Contains("hunter2"));
    }
  }
}
