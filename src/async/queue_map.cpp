#include "async/queue_map.hpp"

#include <vector>

#include "async/acquire_errors.hpp"

namespace pyrate {

QueueMap::QueueMap(boost::asio::any_io_executor executor, Millis buffer_ms, BlockingPool& pool)
    : executor_(std::move(executor)), buffer_ms_(buffer_ms), pool_(pool) {}

void QueueMap::start(std::shared_ptr<AbstractBucket> bucket, Acquire acquire) {
  std::lock_guard lock(mutex_);
  if (closed_) {
    acquire->complete(closed_error());
    return;
  }
  if (acquire->finished()) return;
  if (const auto found = queues_.find(bucket.get()); found != queues_.end()) {
    if (found->second->start(acquire)) return;
    queues_.erase(found);
  }
  if (checks_inline(*bucket)) {
    const std::optional<Decision> decision = check_inline_or_fail(*bucket, *acquire);
    if (!decision) return;
    const bool waits = !never_fits(bucket->rates(), acquire->options().weight);
    const auto wake = waits ? next_check(*acquire, *decision, buffer_ms_) : std::nullopt;
    if (!wake) {
      acquire->complete(nullptr, *decision);
      return;
    }
    const AbstractBucket* key = bucket.get();
    auto queue = make_queue(std::move(bucket));
    queue->adopt_head(std::move(acquire), *wake);
    queues_.emplace(key, std::move(queue));
    return;
  }
  const AbstractBucket* key = bucket.get();
  auto queue = make_queue(std::move(bucket));
  queues_.emplace(key, queue);
  queue->start(std::move(acquire));
}

std::shared_ptr<BucketQueue> QueueMap::make_queue(std::shared_ptr<AbstractBucket> bucket) {
  const AbstractBucket* key = bucket.get();
  return std::make_shared<BucketQueue>(executor_, checked(std::move(bucket), pool_), buffer_ms_,
                                       shared_from_this(), key);
}

void QueueMap::erase(const AbstractBucket* key, const BucketQueue* queue) {
  std::lock_guard lock(mutex_);
  const auto found = queues_.find(key);
  if (found != queues_.end() && found->second.get() == queue) queues_.erase(found);
}

void QueueMap::abort_all() {
  std::vector<std::shared_ptr<BucketQueue>> queues;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, queue] : queues_) queues.push_back(queue);
  }
  for (const auto& queue : queues) queue->abort_all();
}

void QueueMap::close() {
  std::unordered_map<const AbstractBucket*, std::shared_ptr<BucketQueue>> queues;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    queues.swap(queues_);
  }
  for (const auto& [key, queue] : queues) queue->close();
}

}  // namespace pyrate
