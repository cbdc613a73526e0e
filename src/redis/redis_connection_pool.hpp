// The connections of one bucket: a small pool that threads borrow from.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "redis/redis_connection.hpp"
#include "redis/redis_url.hpp"

namespace pyrate::redis {

// Up to kMaxConnections connections to one server, opened when a borrower finds none idle and
// kept for the next. A borrower waits while every connection is lent. Thread-safe.
class ConnectionPool {
 public:
  static constexpr std::size_t kMaxConnections = 4;

  // A borrowed connection, given back on destruction.
  class Lease {
   public:
    Lease(ConnectionPool& pool, std::unique_ptr<Connection> connection)
        : pool_(&pool), connection_(std::move(connection)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (connection_) pool_->give_back(std::move(connection_));
    }
    Connection& operator*() const { return *connection_; }
    Connection* operator->() const { return connection_.get(); }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Connection> connection_;
  };

  // Opens no connection yet. `url` is kept.
  ConnectionPool(RedisUrl url, Timeouts timeouts);

  // An idle connection, or a new one when fewer than kMaxConnections exist; waits for one to be
  // given back otherwise. nullopt once close() has run. Throws what Connection's constructor
  // throws when a new connection cannot be opened.
  std::optional<Lease> borrow();

  // Closes the idle connections, and every lent one when it is given back; borrow() returns
  // nullopt from now on. Idempotent.
  void close() noexcept;

  const RedisUrl& url() const { return url_; }

 private:
  void give_back(std::unique_ptr<Connection> connection) noexcept;

  const RedisUrl url_;
  const Timeouts timeouts_;
  std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mutex_
  std::size_t open_ = 0;                           // idle and lent; guarded by mutex_
  bool closed_ = false;                            // guarded by mutex_
};

}  // namespace pyrate::redis
