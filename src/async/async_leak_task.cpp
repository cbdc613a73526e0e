#include <utility>
//
#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_set>

#include "pyrate/async_bucket.hpp"

namespace pyrate {
namespace {

void check_interval(Millis interval) {
  if (interval <= 0) {
    throw std::invalid_argument("leak interval must be > 0, got " + std::to_string(interval));
  }
}

}  // namespace

// The task's state, shared with its timer wait and the leaks under way so that they can end
// after the AsyncLeakTask.
class AsyncLeakTask::State : public std::enable_shared_from_this<State> {
 public:
  State(executor_type executor, Millis interval)
      : executor_(std::move(executor)), timer_(executor_), interval_(interval) {}

  void register_bucket(std::shared_ptr<AsyncBucket> bucket) {
    std::lock_guard lock(mutex_);
    if (std::find(buckets_.begin(), buckets_.end(), bucket) == buckets_.end()) {
      buckets_.push_back(std::move(bucket));
    }
  }

  bool deregister(const AsyncBucket& bucket) {
    std::lock_guard lock(mutex_);
    const auto found = std::find_if(buckets_.begin(), buckets_.end(), [&](const auto& registered) {
      return registered.get() == &bucket;
    });
    if (found == buckets_.end()) return false;
    buckets_.erase(found);
    return true;
  }

  void start() {
    std::lock_guard lock(mutex_);
    if (running_ || buckets_.empty()) return;
    running_ = true;
    wait_interval();
  }

  bool is_running() const {
    std::lock_guard lock(mutex_);
    return running_;
  }

  void close() {
    std::lock_guard lock(mutex_);
    running_ = false;
    ++generation_;
    timer_.cancel();
  }

  Millis interval() const {
    std::lock_guard lock(mutex_);
    return interval_;
  }

  void set_interval(Millis interval) {
    std::lock_guard lock(mutex_);
    interval_ = interval;
  }

  std::vector<std::shared_ptr<AsyncBucket>> buckets() const {
    std::lock_guard lock(mutex_);
    return buckets_;
  }

 private:
  // With the mutex held.
  void wait_interval() {
    timer_.expires_after(std::chrono::milliseconds(interval_));
    timer_.async_wait([self = weak_from_this(),
                       generation = generation_](const boost::system::error_code& error) {
      if (error) return;
      if (const auto state = self.lock()) state->leak_all(generation);
    });
  }

  // One round: leak(now) on every bucket; the next wait starts once all have completed.
  void leak_all(std::uint64_t generation) {
    std::vector<std::shared_ptr<AsyncBucket>> buckets;
    {
      std::lock_guard lock(mutex_);
      if (generation != generation_ || !running_) return;
      if (buckets_.empty()) {
        running_ = false;
        return;
      }
      buckets = buckets_;
      pending_ = buckets.size();
    }
    for (auto& bucket : buckets) leak_one(std::move(bucket), generation);
  }

  // Reads the bucket's now(), then leaks it. Each step continues on the executor, so that
  // neither the state nor the bucket is ever released on a thread of the bucket's own, which
  // an AsyncBucketAdapter could not join.
  void leak_one(std::shared_ptr<AsyncBucket> bucket, std::uint64_t generation) {
    AsyncBucket& reading = *bucket;
    reading.now([self = shared_from_this(), bucket = std::move(bucket), generation](
                    std::exception_ptr error, Millis now) mutable {
      const executor_type& executor = self->executor_;
      boost::asio::post(executor, [self = std::move(self), bucket = std::move(bucket), error, now,
                                   generation]() mutable {
        if (error) {
          self->finish_one(bucket.get(), error, generation);
          return;
        }
        AsyncBucket* const leaked = bucket.get();
        bucket->leak(
            now, [self, leaked, generation](std::exception_ptr error, std::int64_t) mutable {
              const executor_type& executor = self->executor_;
              boost::asio::post(executor, [self = std::move(self), leaked, error, generation] {
                self->finish_one(leaked, error, generation);
              });
            });
      });
    });
  }

  void finish_one(AsyncBucket* bucket, std::exception_ptr error, std::uint64_t generation) {
    std::lock_guard lock(mutex_);
    if (error && reported_.insert(bucket).second) report(error);
    // A round that close() ended counts for no later round.
    if (generation != generation_ || --pending_ > 0 || !running_) return;
    if (buckets_.empty()) {
      running_ = false;
      return;
    }
    wait_interval();
  }

  static void report(std::exception_ptr error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      std::cerr << "pyrate: leaking an async bucket failed: " << e.what()
                << " (further failures of this bucket are not reported)\n";
    } catch (...) {
      std::cerr << "pyrate: leaking an async bucket failed with a non-standard exception "
                   "(further failures of this bucket are not reported)\n";
    }
  }

  const executor_type executor_;
  mutable std::mutex mutex_;
  boost::asio::steady_timer timer_;
  std::vector<std::shared_ptr<AsyncBucket>> buckets_;
  std::unordered_set<const AsyncBucket*> reported_;
  Millis interval_;
  std::size_t pending_ = 0;
  std::uint64_t generation_ = 0;
  bool running_ = false;
};

AsyncLeakTask::AsyncLeakTask(executor_type executor, Millis leak_interval) {
  check_interval(leak_interval);
  state_ = std::make_shared<State>(std::move(executor), leak_interval);
}

AsyncLeakTask::~AsyncLeakTask() { close(); }

void AsyncLeakTask::register_bucket(std::shared_ptr<AsyncBucket> bucket) {
  if (!bucket) throw std::invalid_argument("AsyncLeakTask: bucket must not be null");
  state_->register_bucket(std::move(bucket));
}

bool AsyncLeakTask::deregister(const AsyncBucket& bucket) { return state_->deregister(bucket); }

void AsyncLeakTask::start() { state_->start(); }

bool AsyncLeakTask::is_running() const { return state_->is_running(); }

void AsyncLeakTask::close() { state_->close(); }

Millis AsyncLeakTask::leak_interval() const { return state_->interval(); }

void AsyncLeakTask::set_leak_interval(Millis interval) {
  check_interval(interval);
  state_->set_interval(interval);
}

std::vector<std::shared_ptr<AsyncBucket>> AsyncLeakTask::buckets() const {
  return state_->buckets();
}

}  // namespace pyrate
