// The queues of the buckets a factory routes to.
#pragma once

#include <utility>
//
#include <boost/asio/any_io_executor.hpp>
#include <memory>
#include <mutex>
#include <pyrate/async_limiter.hpp>
#include <pyrate/bucket.hpp>
#include <unordered_map>

#include "async/blocking_pool.hpp"
#include "async/bucket_queue.hpp"

namespace pyrate {

// One BucketQueue per bucket that has acquires waiting or checks under way; a queue leaves
// the map once idle, so that the map holds no bucket that nothing uses. An acquire of an
// in-memory bucket that nothing waits for is decided under the map's mutex, without a queue.
// Thread-safe. Lock order: the map's mutex, then a queue's.
class QueueMap : public std::enable_shared_from_this<QueueMap> {
 public:
  using Acquire = std::shared_ptr<async_detail::PendingAcquire>;

  // Queues time on `executor`, add `buffer_ms` to every wait, and check buckets that may
  // block on `pool`, which must outlive every check (close() stops new ones).
  QueueMap(boost::asio::any_io_executor executor, Millis buffer_ms, BlockingPool& pool);

  // Starts `acquire`, whose item is stamped, on `bucket`'s queue.
  void start(std::shared_ptr<AbstractBucket> bucket, Acquire acquire);

  // Removes `queue` if it is still the queue of `key`.
  void erase(const AbstractBucket* key, const BucketQueue* queue);

  // BucketQueue::abort_all() on every queue.
  void abort_all();

  // BucketQueue::close() on every queue, then forgets them; acquires started later complete
  // with closed_error(). Idempotent.
  void close();

 private:
  std::shared_ptr<BucketQueue> make_queue(std::shared_ptr<AbstractBucket> bucket);

  const boost::asio::any_io_executor executor_;
  const Millis buffer_ms_;
  BlockingPool& pool_;

  std::mutex mutex_;
  std::unordered_map<const AbstractBucket*, std::shared_ptr<BucketQueue>> queues_;
  bool closed_ = false;
};

}  // namespace pyrate
