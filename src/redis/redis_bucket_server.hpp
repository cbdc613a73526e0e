// What the RedisBuckets of one server share: the connection pool and the loaded scripts.
#pragma once

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "pyrate/redis_bucket.hpp"
#include "redis/redis_bucket_scripts.hpp"
#include "redis/redis_connection_pool.hpp"
#include "redis/redis_script.hpp"

namespace pyrate::redis {

// The timeouts of `options`. Throws std::invalid_argument for a negative one.
Timeouts checked_timeouts(const RedisOptions& options);

// One server as RedisOptions::url names it, with the scripts of every bucket operation loaded
// into its cache. A RedisBucket made on its own has one of these; the buckets of
// per_name_redis_factory share one, so that any number of names use at most
// ConnectionPool::kMaxConnections connections. The connections close when the last bucket that
// shares it lets it go. Thread-safe: the pool is, and the scripts only read once loaded.
class BucketServer {
 public:
  // Connects (one connection, AUTH and SELECT as the URL says) and loads the scripts, so that a
  // wrong URL, password or database fails here. Throws std::invalid_argument for a malformed
  // URL or a negative timeout (never holding the password); StorageUnavailableError when the
  // server cannot be reached; StorageError when it refuses the connection's setup.
  explicit BucketServer(const RedisOptions& options);

  // Runs `operation(connection)` on a borrowed connection; throws std::logic_error naming
  // `name` when the pool is closed.
  template <class Operation>
  auto on_connection(const char* name, Operation operation) {
    std::optional<ConnectionPool::Lease> connection = pool.borrow();
    if (!connection) throw std::logic_error(std::string(name) + ": the bucket is closed");
    return operation(**connection);
  }

  // The URL without user and password, as messages name it.
  const std::string& url() const { return pool.url().redacted; }

  ConnectionPool pool;
  Script decide_script{redis::decide_script()};
  Script count_script{redis::count_script()};
  Script count_since_script{redis::count_since_script()};
  Script peek_script{redis::peek_script()};
  Script leak_script{redis::leak_script()};
};

}  // namespace pyrate::redis
