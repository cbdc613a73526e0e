// Buckets whose operations complete later, and their leaking as a task on an executor.
// Pulls in Boost.Asio; not included by pyrate.hpp.
//
// How this maps to PyrateLimiter's async half:
// - Its bucket methods may return awaitables; here an AsyncBucket's operations start at once
//   and complete later, through a callback or any Boost.Asio completion token.
// - Its BucketAsyncWrapper is AsyncBucketAdapter: any AbstractBucket as an AsyncBucket, with
//   the calls that may block run on threads of its own.
// - Its Leaker keeps `async_buckets` beside `sync_buckets` and leaks them in `aio_leak_task`,
//   an asyncio task that `leak_async()` creates. Here AsyncLeakTask is that task:
//   register_bucket() adds to its async buckets, start() is leak_async(), and the task runs as
//   timer waits on an executor instead of a thread. Sync buckets keep the Leaker thread.
#pragma once

// Before any Boost.Asio header: with GCC 12 and Boost 1.74, awaitable.hpp needs std::exchange.
#include <utility>
//
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "pyrate/bucket.hpp"
#include "pyrate/decision.hpp"
#include "pyrate/rate.hpp"

namespace pyrate {

class BlockingPool;

// A bucket whose operations start at once and complete later: the same slots, rates and
// results as AbstractBucket's methods of the same names, delivered to a completion.
//
// Implementations override the callback operations (admit, leak, ...): each returns at once
// and calls `done` exactly once, never from inside the call, from any thread, with the
// exception the operation failed with (and a default result) or nullptr and the result.
// Callers use either those or the async_* members, which take any Boost.Asio completion token
// (a callback, boost::asio::use_future, boost::asio::use_awaitable) with the completion
// signature void(std::exception_ptr, Result) and run the handler on its associated executor,
// get_executor() when it has none, never inside the async_* call.
//
// Thread safety: every operation may be started from several threads at once.
class PYRATE_EXPORT AsyncBucket {
 public:
  using executor_type = boost::asio::any_io_executor;
  template <class... Results>
  using Completion = std::function<void(std::exception_ptr, Results...)>;

  explicit AsyncBucket(executor_type executor) : executor_(std::move(executor)) {}
  virtual ~AsyncBucket() = default;

  AsyncBucket(const AsyncBucket&) = delete;
  AsyncBucket& operator=(const AsyncBucket&) = delete;

  // The executor that runs handlers of async_* calls that have none of their own.
  executor_type get_executor() const noexcept { return executor_; }

  // The rates, sorted by interval.
  virtual const std::vector<Rate>& rates() const noexcept = 0;

  // AbstractBucket::admit.
  virtual void admit(RateItem item, Completion<Decision> done) = 0;
  // AbstractBucket::leak.
  virtual void leak(std::optional<Millis> current_timestamp, Completion<std::int64_t> done) = 0;
  // AbstractBucket::flush.
  virtual void flush(Completion<> done) = 0;
  // AbstractBucket::count.
  virtual void count(Completion<std::int64_t> done) = 0;
  // AbstractBucket::peek.
  virtual void peek(std::int64_t index, Completion<std::optional<RateItem>> done) = 0;
  // AbstractBucket::waiting.
  virtual void waiting(RateItem item, Completion<Millis> done) = 0;
  // AbstractBucket::now.
  virtual void now(Completion<Millis> done) = 0;
  // AbstractBucket::close: operations started afterwards fail with std::logic_error (leak
  // yields 0). Operations under way complete. Idempotent.
  virtual void close() = 0;

  template <class CompletionToken>
  auto async_admit(RateItem item, CompletionToken&& token) {
    return initiate<Decision>(std::forward<CompletionToken>(token),
                              [this, item = std::move(item)](Completion<Decision> done) mutable {
                                admit(std::move(item), std::move(done));
                              });
  }
  template <class CompletionToken>
  auto async_leak(std::optional<Millis> current_timestamp, CompletionToken&& token) {
    return initiate<std::int64_t>(std::forward<CompletionToken>(token),
                                  [this, current_timestamp](Completion<std::int64_t> done) {
                                    leak(current_timestamp, std::move(done));
                                  });
  }
  template <class CompletionToken>
  auto async_flush(CompletionToken&& token) {
    return initiate<>(std::forward<CompletionToken>(token),
                      [this](Completion<> done) { flush(std::move(done)); });
  }
  template <class CompletionToken>
  auto async_count(CompletionToken&& token) {
    return initiate<std::int64_t>(
        std::forward<CompletionToken>(token),
        [this](Completion<std::int64_t> done) { count(std::move(done)); });
  }
  template <class CompletionToken>
  auto async_peek(std::int64_t index, CompletionToken&& token) {
    return initiate<std::optional<RateItem>>(
        std::forward<CompletionToken>(token),
        [this, index](Completion<std::optional<RateItem>> done) { peek(index, std::move(done)); });
  }
  template <class CompletionToken>
  auto async_waiting(RateItem item, CompletionToken&& token) {
    return initiate<Millis>(std::forward<CompletionToken>(token),
                            [this, item = std::move(item)](Completion<Millis> done) mutable {
                              waiting(std::move(item), std::move(done));
                            });
  }
  template <class CompletionToken>
  auto async_now(CompletionToken&& token) {
    return initiate<Millis>(std::forward<CompletionToken>(token),
                            [this](Completion<Millis> done) { now(std::move(done)); });
  }

 private:
  // A handler and the work it keeps on its executor, shared so that a Completion, which
  // std::function must be able to copy, can own a handler that only moves.
  template <class Handler>
  struct PendingHandler {
    using Executor = boost::asio::associated_executor_t<Handler, executor_type>;
    PendingHandler(Handler h, const executor_type& fallback)
        : work(boost::asio::get_associated_executor(h, fallback)), handler(std::move(h)) {}
    boost::asio::executor_work_guard<Executor> work;
    Handler handler;
  };

  // Starts `start` with a Completion that posts the handler made from `token`.
  template <class... Results, class CompletionToken, class Start>
  auto initiate(CompletionToken&& token, Start start) {
    return boost::asio::async_initiate<CompletionToken, void(std::exception_ptr, Results...)>(
        [this](auto handler, Start start) {
          using Pending = PendingHandler<decltype(handler)>;
          auto pending = std::make_shared<Pending>(std::move(handler), executor_);
          start([pending](std::exception_ptr error, Results... results) {
            auto executor = pending->work.get_executor();
            boost::asio::post(executor, [pending, error, results...]() mutable {
              std::move(pending->handler)(error, std::move(results)...);
            });
          });
        },
        token, std::move(start));
  }

  executor_type executor_;
};

// Any AbstractBucket as an AsyncBucket (PyrateLimiter's BucketAsyncWrapper). A bucket whose
// may_block() is true is called on the adapter's own threads, started on first use; the
// others are called inline and their completion is posted to the executor. admit() holds the
// bucket's limiter_lock(), when it has one, around the call.
//
// Thread safety: as AsyncBucket. The adapter must not be destroyed on one of its own threads
// (the callback operations' `done` runs there for a bucket that may block).
class PYRATE_EXPORT AsyncBucketAdapter final : public AsyncBucket {
 public:
  // Throws std::invalid_argument for a null bucket or zero `blocking_threads`.
  AsyncBucketAdapter(executor_type executor, std::shared_ptr<AbstractBucket> bucket,
                     std::size_t blocking_threads = 1);
  // Runs the calls already started, then stops the adapter's threads. Does not close the
  // bucket.
  ~AsyncBucketAdapter() override;

  // The bucket adapted.
  AbstractBucket& bucket() const noexcept { return *bucket_; }

  const std::vector<Rate>& rates() const noexcept override { return bucket_->rates(); }
  void admit(RateItem item, Completion<Decision> done) override;
  void leak(std::optional<Millis> current_timestamp, Completion<std::int64_t> done) override;
  void flush(Completion<> done) override;
  void count(Completion<std::int64_t> done) override;
  void peek(std::int64_t index, Completion<std::optional<RateItem>> done) override;
  void waiting(RateItem item, Completion<Millis> done) override;
  void now(Completion<Millis> done) override;
  // Closes the bucket, on the calling thread.
  void close() override;

 private:
  // Runs `call` on the bucket where it belongs and hands its result or exception to `done`.
  template <class Call, class... Results>
  void run(Call call, Completion<Results...> done);

  std::shared_ptr<AbstractBucket> bucket_;
  std::unique_ptr<BlockingPool> pool_;
};

// Leaks AsyncBuckets as a task on an executor: one leak_interval() after start() and every
// leak_interval() after the previous round's leaks have all completed, it calls leak(now) on
// each registered bucket, `now` being that bucket's own now(). No thread sleeps: the waits are
// timer waits. An exception from a bucket, std or not, is caught and reported on stderr once
// per bucket; it stops neither the other buckets nor the task. Once every bucket has been
// deregistered the task ends by itself; start() after a new registration starts it again.
// The executor must run for the task to make progress. All methods are thread-safe.
class PYRATE_EXPORT AsyncLeakTask {
 public:
  using executor_type = boost::asio::any_io_executor;

  // Throws std::invalid_argument unless `leak_interval` (milliseconds) is > 0.
  explicit AsyncLeakTask(executor_type executor, Millis leak_interval = 10'000);
  // close().
  ~AsyncLeakTask();

  AsyncLeakTask(const AsyncLeakTask&) = delete;
  AsyncLeakTask& operator=(const AsyncLeakTask&) = delete;

  // Adds `bucket` to the buckets leaked (the seed's Leaker.async_buckets); does not start the
  // task. Registering a bucket twice keeps one registration. Throws std::invalid_argument for
  // a null bucket.
  void register_bucket(std::shared_ptr<AsyncBucket> bucket);
  // Removes `bucket`; true if it was registered. A leak of it already under way completes.
  bool deregister(const AsyncBucket& bucket);
  // Starts the task when it is not running and a bucket is registered (the seed's
  // leak_async()).
  void start();
  // True while the task is scheduled.
  bool is_running() const;
  // Stops the task: leaks under way complete, none follows. Registrations are kept, so start()
  // resumes. Idempotent.
  void close();

  Millis leak_interval() const;
  // Applies from the next wait. Throws std::invalid_argument unless `interval` is > 0.
  void set_leak_interval(Millis interval);

  // The registered buckets, in registration order.
  std::vector<std::shared_ptr<AsyncBucket>> buckets() const;

 private:
  class State;
  std::shared_ptr<State> state_;
};

}  // namespace pyrate
