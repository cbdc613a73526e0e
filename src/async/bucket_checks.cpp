#include "async/bucket_checks.hpp"

#include <algorithm>
#include <mutex>

namespace pyrate {
namespace {

// Stamps a check that does not follow the stamping at once (a re-check, or a first check
// after waiting behind others) with `now`, never earlier than before.
void restamp(async_detail::PendingAcquire& acquire, Millis now) {
  if (acquire.checks > 0 || acquire.queued) {
    acquire.item.timestamp = std::max(acquire.item.timestamp, now);
  }
}

}  // namespace

Decision check_inline(AbstractBucket& bucket, async_detail::PendingAcquire& acquire) {
  if (acquire.checks > 0 || acquire.queued) restamp(acquire, bucket.now());
  ++acquire.checks;
  return bucket.admit(acquire.item);
}

std::optional<Decision> check_inline_or_fail(AbstractBucket& bucket,
                                             async_detail::PendingAcquire& acquire) {
  std::exception_ptr error;
  try {
    return check_inline(bucket, acquire);
  } catch (...) {
    error = std::current_exception();
  }
  acquire.complete(std::move(error));
  return std::nullopt;
}

void PoolCheck::start(Acquire acquire, Done done) {
  pool_.post([bucket = bucket_, acquire = std::move(acquire), done = std::move(done)] {
    Decision decision;
    std::exception_ptr error;
    try {
      std::unique_lock<LimiterLock> lock;
      bool locked = true;
      if (LimiterLock* shared = bucket->limiter_lock()) {
        lock = std::unique_lock(*shared, std::defer_lock);
        if (acquire->deadline) {
          locked = lock.try_lock_until(*acquire->deadline);
        } else {
          lock.lock();
        }
        // The wait for the lock may have been long: stamp the item now, as the Limiter does.
        if (locked) acquire->item.timestamp = std::max(acquire->item.timestamp, bucket->now());
      } else {
        restamp(*acquire, bucket->now());
      }
      if (locked) {
        ++acquire->checks;
        decision = bucket->admit(acquire->item);
      }
    } catch (...) {
      error = std::current_exception();
    }
    done(std::move(error), decision);
  });
}

void AsyncBucketCheck::start(Acquire acquire, Done done) {
  // `done` is moved into a job posted to the bucket's executor, so that what it owns (the
  // queue, and through it the bucket) is never released on a thread of the bucket's own,
  // which an AsyncBucketAdapter could not join.
  auto reported = [executor = bucket_->get_executor(), done = std::move(done)](
                      std::exception_ptr error, Decision decision) mutable {
    boost::asio::post(executor, [done = std::move(done), error = std::move(error),
                                 decision]() mutable { done(std::move(error), decision); });
  };
  AsyncBucket& bucket = *bucket_;
  bucket.now([bucket = bucket_, acquire = std::move(acquire), reported = std::move(reported)](
                 std::exception_ptr error, Millis now) mutable {
    if (error) {
      reported(error, Decision{});
      return;
    }
    acquire->item.timestamp = std::max(acquire->item.timestamp, now);
    ++acquire->checks;
    const std::shared_ptr<AsyncBucket> admitting = std::move(bucket);
    admitting->admit(acquire->item, std::move(reported));
  });
}

bool checks_inline(AbstractBucket& bucket) {
  return !bucket.may_block() && bucket.limiter_lock() == nullptr;
}

CheckedBucket checked(std::shared_ptr<AbstractBucket> bucket, BlockingPool& pool) {
  CheckedBucket result;
  result.rates = &bucket->rates();
  if (checks_inline(*bucket)) {
    result.inline_bucket = std::move(bucket);
  } else {
    result.deferred = std::make_unique<PoolCheck>(std::move(bucket), pool);
  }
  return result;
}

CheckedBucket checked(std::shared_ptr<AsyncBucket> bucket) {
  CheckedBucket result;
  result.rates = &bucket->rates();
  result.deferred = std::make_unique<AsyncBucketCheck>(std::move(bucket));
  return result;
}

}  // namespace pyrate
