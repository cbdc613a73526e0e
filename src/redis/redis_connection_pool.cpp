#include "redis/redis_connection_pool.hpp"

namespace pyrate::redis {

ConnectionPool::ConnectionPool(RedisUrl url, Timeouts timeouts)
    : url_(std::move(url)), timeouts_(timeouts) {}

std::optional<ConnectionPool::Lease> ConnectionPool::borrow() {
  {
    std::unique_lock lock(mutex_);
    returned_.wait(lock, [&] { return closed_ || !idle_.empty() || open_ < kMaxConnections; });
    if (closed_) return std::nullopt;
    if (!idle_.empty()) {
      std::unique_ptr<Connection> connection = std::move(idle_.back());
      idle_.pop_back();
      return Lease(*this, std::move(connection));
    }
    ++open_;
  }
  // Connecting may take up to the connect timeout: not under the lock.
  try {
    return Lease(*this, std::make_unique<Connection>(url_, timeouts_));
  } catch (...) {
    std::lock_guard lock(mutex_);
    --open_;
    returned_.notify_one();
    throw;
  }
}

void ConnectionPool::give_back(std::unique_ptr<Connection> connection) noexcept {
  std::lock_guard lock(mutex_);
  if (closed_) {
    --open_;
    return;  // `connection` closes on the way out
  }
  idle_.push_back(std::move(connection));
  returned_.notify_one();
}

void ConnectionPool::close() noexcept {
  std::vector<std::unique_ptr<Connection>> closing;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    open_ -= idle_.size();
    closing.swap(idle_);
  }
  returned_.notify_all();
}

}  // namespace pyrate::redis
