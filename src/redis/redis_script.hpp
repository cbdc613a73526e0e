// A Lua script run on the server by its SHA1, re-sent whole when the server lost it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "redis/redis_connection.hpp"

namespace pyrate::redis {

// A script that a server runs atomically. Thread-safe once loaded: run() only reads.
class Script {
 public:
  // `source` must outlive the script.
  explicit Script(std::string_view source) : source_(source) {}

  // Loads the script into the server's cache (SCRIPT LOAD) and keeps the SHA1 it answers.
  // Throws StorageError (or StorageUnavailableError) when the server fails.
  void load(Connection& connection);

  // EVALSHA with `keys` and `arguments`; when the server answers NOSCRIPT (its cache was
  // emptied by a restart, a failover or SCRIPT FLUSH), EVAL with the whole source, which
  // caches it again. Returns the script's reply; throws StorageError for an error reply.
  Reply run(Connection& connection, const std::vector<std::string_view>& keys,
            const std::vector<std::string_view>& arguments, const char* operation) const;

 private:
  std::string_view source_;
  std::string sha1_;
};

}  // namespace pyrate::redis
