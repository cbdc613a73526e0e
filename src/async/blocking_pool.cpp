#include "async/blocking_pool.hpp"

#include <stdexcept>

namespace pyrate {

BlockingPool::BlockingPool(std::size_t threads) : threads_(threads) {
  if (threads_ == 0) throw std::invalid_argument("blocking_threads must be at least 1");
}

BlockingPool::~BlockingPool() { join(); }

boost::asio::thread_pool& BlockingPool::pool() {
  std::lock_guard lock(mutex_);
  if (!pool_) pool_.emplace(threads_);
  return *pool_;
}

void BlockingPool::join() {
  boost::asio::thread_pool* started = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (pool_) started = &*pool_;
  }
  if (started) started->join();
}

}  // namespace pyrate
