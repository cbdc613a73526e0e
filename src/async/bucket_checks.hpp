// How an AsyncLimiter checks an acquire against its bucket: inline, on the blocking threads,
// or through an AsyncBucket.
#pragma once

#include <utility>
//
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <pyrate/async_bucket.hpp>
#include <pyrate/async_limiter.hpp>
#include <pyrate/bucket.hpp>
#include <vector>

#include "async/blocking_pool.hpp"

namespace pyrate {

// A check takes the acquire's slots when there is room and reports the bucket's Decision.
// Every check but one made as the item is stamped (a re-check, or a first check after waiting
// behind others) restamps it with the bucket's now(), never earlier than before, as the
// Limiter does after sleeping.

// Checks `acquire` against an in-memory `bucket` on the calling thread. Throws what the
// bucket throws.
Decision check_inline(AbstractBucket& bucket, async_detail::PendingAcquire& acquire);

// check_inline, except that an exception it throws completes `acquire` with that exception
// (after the catch block has ended) and gives nullopt.
std::optional<Decision> check_inline_or_fail(AbstractBucket& bucket,
                                             async_detail::PendingAcquire& acquire);

// A check that runs elsewhere and reports later.
class DeferredCheck {
 public:
  using Acquire = std::shared_ptr<async_detail::PendingAcquire>;
  using Done = std::function<void(std::exception_ptr, Decision)>;

  virtual ~DeferredCheck() = default;
  // Checks `acquire` and calls `done` once, never from inside this call, from any thread.
  virtual void start(Acquire acquire, Done done) = 0;
};

// A bucket that may block, checked on the blocking threads. The check holds the bucket's
// limiter_lock(), when it has one, waiting for it no later than the acquire's deadline (a
// refusal for that lock names no rate and carries retry_after 0, as the Limiter's).
class PoolCheck final : public DeferredCheck {
 public:
  // `pool` must outlive every check started.
  PoolCheck(std::shared_ptr<AbstractBucket> bucket, BlockingPool& pool)
      : bucket_(std::move(bucket)), pool_(pool) {}
  void start(Acquire acquire, Done done) override;

 private:
  std::shared_ptr<AbstractBucket> bucket_;
  BlockingPool& pool_;
};

// An AsyncBucket: each check reads its now(), then admits.
class AsyncBucketCheck final : public DeferredCheck {
 public:
  explicit AsyncBucketCheck(std::shared_ptr<AsyncBucket> bucket) : bucket_(std::move(bucket)) {}
  void start(Acquire acquire, Done done) override;

 private:
  std::shared_ptr<AsyncBucket> bucket_;
};

// The bucket a queue admits into, and how its checks run: inline (`inline_bucket` set) or
// deferred.
struct CheckedBucket {
  const std::vector<Rate>* rates = nullptr;  // the bucket's, which outlives this
  std::shared_ptr<AbstractBucket> inline_bucket;
  std::unique_ptr<DeferredCheck> deferred;
};

// `bucket`, checked inline unless it may block or has a limiter_lock().
CheckedBucket checked(std::shared_ptr<AbstractBucket> bucket, BlockingPool& pool);
// `bucket`, checked through its operations.
CheckedBucket checked(std::shared_ptr<AsyncBucket> bucket);

// True when `bucket` is checked inline: it never blocks and has no limiter_lock().
bool checks_inline(AbstractBucket& bucket);

}  // namespace pyrate
