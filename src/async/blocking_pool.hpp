// Threads for the bucket calls that may block.
#pragma once

#include <utility>
//
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstddef>
#include <mutex>
#include <optional>

namespace pyrate {

// A pool of threads that run jobs posted to it, started on the first post so that an owner
// whose buckets never block starts none. Thread-safe.
class BlockingPool {
 public:
  // Throws std::invalid_argument when `threads` is 0.
  explicit BlockingPool(std::size_t threads);
  // join().
  ~BlockingPool();

  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // Runs `job` on one of the threads. Must not be called after join().
  template <class Job>
  void post(Job job) {
    boost::asio::post(pool(), std::move(job));
  }

  // Runs the jobs posted, then stops the threads and waits for them. Must not be called from
  // one of them. Idempotent.
  void join();

 private:
  boost::asio::thread_pool& pool();

  const std::size_t threads_;
  std::mutex mutex_;
  std::optional<boost::asio::thread_pool> pool_;  // once started
};

}  // namespace pyrate
