// A redis-server of the test's own: started on a free loopback port or a unix socket in a
// scratch directory, without persistence unless asked, and stopped by its pid.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "scratch/temporary_directory.hpp"

namespace pyrate::testing {

struct RedisServerOptions {
  bool unix_socket = false;  // listen on a unix socket only, not on TCP
  std::string password;      // requirepass; none when empty
  bool append_only = false;  // appendonly yes with appendfsync always, instead of no persistence
};

// What a command answered, read out of hiredis's reply.
struct RedisValue {
  enum class Type { String, Array, Integer, Nil, Status, Error };
  Type type = Type::Nil;
  long long integer = 0;
  std::string text;  // String, Status, Error
  std::vector<RedisValue> elements;
};

// A redis-server process. Only loopback (127.0.0.1) or a unix socket, never another address.
class RedisServer {
 public:
  // Starts the server and waits until it answers PING. Throws std::runtime_error when it
  // cannot be started.
  explicit RedisServer(RedisServerOptions options = {});
  // Stops the server (SIGKILL) if it runs.
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // The URL to reach it, with the password when it has one.
  std::string url() const;
  // The URL with `password` in place of the server's.
  std::string url_with_password(const std::string& password) const;
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

  // SIGKILL, and waits for the process to end.
  void kill();
  // Starts the server again, on the same port or socket and in the same directory (so that
  // an append-only file is read back).
  void restart();
  // SIGSTOP / SIGCONT: the server stops answering, then answers again.
  void pause() const;
  void resume() const;

  // Runs a command on a new connection (AUTH first with the server's password). Throws
  // std::runtime_error when the server cannot be reached.
  RedisValue command(const std::vector<std::string>& arguments) const;

 private:
  // Launches redis-server and waits for it; false when it exited (its port was taken).
  bool launch();

  RedisServerOptions options_;
  TemporaryDirectory dir_{"pyrate-redis"};
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace pyrate::testing
