// One connection to a Redis server, through hiredis's blocking API.
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "redis/redis_url.hpp"

namespace pyrate::redis {

struct ReplyDeleter {
  void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};
// A reply, freed with it.
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

struct ContextDeleter {
  void operator()(redisContext* context) const noexcept { redisFree(context); }
};

// The time limits of a connection; zero means none.
struct Timeouts {
  std::chrono::milliseconds connect{1000};
  std::chrono::milliseconds command{1000};
};

// A connection that opens itself again when it must. Each command first checks that the
// connection is whole: when the last command failed (an I/O error, a timeout that left an
// answer pending) or the server closed its end (it restarted), it reconnects, and sends AUTH,
// SELECT and the command timeout again (redisReconnect forgets the timeout). A command is
// never sent twice: one that fails on the way is reported, since the server may have run it.
// Not thread-safe: used by one thread at a time (see ConnectionPool).
class Connection {
 public:
  // Connects and sets the connection up. Throws StorageUnavailableError when the server cannot
  // be reached or does not answer in time, StorageError when it refuses the setup (a wrong
  // password, a missing database).
  Connection(const RedisUrl& url, Timeouts timeouts);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends one command and returns its reply, which may be an error reply. Throws
  // StorageUnavailableError, naming `operation`, when the server cannot be reached or does not
  // answer in time.
  Reply command(const std::vector<std::string_view>& arguments, const char* operation);

  // command(), then a StorageError for an error reply (StorageUnavailableError for a server
  // that is loading, busy or not the primary).
  Reply checked_command(const std::vector<std::string_view>& arguments, const char* operation);

  // Throws the StorageError that `reply` (an error reply) calls for.
  [[noreturn]] void throw_error_reply(const redisReply& reply, const char* operation) const;

 private:
  // Opens a connection (or reopens this one) and sets it up.
  void open();
  // True when the last command broke the connection or the server closed its end.
  bool broken() const;
  [[noreturn]] void throw_unavailable(const char* operation, std::string_view cause) const;

  const RedisUrl& url_;
  const Timeouts timeouts_;
  std::unique_ptr<redisContext, ContextDeleter> context_;
};

}  // namespace pyrate::redis
