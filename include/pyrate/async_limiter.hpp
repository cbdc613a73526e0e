// The AsyncLimiter: the Limiter's acquire for Boost.Asio code, waiting on timers instead of
// sleeping threads. Pulls in Boost.Asio; not included by pyrate.hpp.
#pragma once

// Before any Boost.Asio header: with GCC 12 and Boost 1.74, awaitable.hpp needs std::exchange.
#include <utility>
//
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "pyrate/async_bucket.hpp"
#include "pyrate/bucket.hpp"
#include "pyrate/bucket_factory.hpp"
#include "pyrate/decision.hpp"
#include "pyrate/limiter.hpp"

namespace pyrate {

struct AsyncLimiterOptions {
  // Added to every wait, as the Limiter's buffer_ms. Default 50.
  Millis buffer_ms = 50;
  // Threads for the bucket and factory calls that may block (SQLite transactions, Redis round
  // trips, the inter-process lock), started on first use. Default 1.
  std::size_t blocking_threads = 1;
};

namespace async_detail {

// One async_acquire under way: what it asks for, and its handler, which runs once.
class PYRATE_EXPORT PendingAcquire {
 public:
  PendingAcquire(std::string name, const AcquireOptions& options)
      : name_(std::move(name)), options_(options) {}
  virtual ~PendingAcquire() = default;

  PendingAcquire(const PendingAcquire&) = delete;
  PendingAcquire& operator=(const PendingAcquire&) = delete;

  const std::string& name() const noexcept { return name_; }
  const AcquireOptions& options() const noexcept { return options_; }

  // The item to admit, how many checks of it have run, and whether it waited behind others
  // before its first; touched by one check at a time.
  RateItem item;
  int checks = 0;
  bool queued = false;
  // When a timeout was given: the time by which the acquire completes.
  std::optional<std::chrono::steady_clock::time_point> deadline;

  // True once complete() has run.
  bool finished() const noexcept { return finished_.load(std::memory_order_acquire); }

  // Posts the handler with `error` and `decision` to its executor unless the acquire has
  // completed already; returns whether this call completed it. Thread-safe. Called outside
  // catch blocks, so that the thrower's own hold on the exception has ended before the
  // handler's thread sees it.
  bool complete(std::exception_ptr error, Decision decision = {}) {
    if (finished_.exchange(true, std::memory_order_acq_rel)) return false;
    post_handler(std::move(error), std::move(decision));
    return true;
  }

 private:
  virtual void post_handler(std::exception_ptr error, Decision decision) = 0;

  std::string name_;
  AcquireOptions options_;
  std::atomic<bool> finished_{false};
};

// boost::asio::post(executor, function), without the type-erased path when `executor` is an
// any_io_executor holding an io_context's executor: one allocation instead of two.
template <class Executor, class Function>
void post_completion(const Executor& executor, Function&& function) {
  if constexpr (std::is_same_v<Executor, boost::asio::any_io_executor>) {
    if (const auto* io = executor.template target<boost::asio::io_context::executor_type>()) {
      boost::asio::post(*io, std::forward<Function>(function));
      return;
    }
  }
  boost::asio::post(executor, std::forward<Function>(function));
}

// A PendingAcquire holding a handler of type Handler, and work on the I/O executor and on the
// handler's own until it completes.
template <class Handler, class IoExecutor>
class HandlerAcquire final : public PendingAcquire {
 public:
  HandlerAcquire(Handler handler, const IoExecutor& io_executor, std::string name,
                 const AcquireOptions& options)
      : PendingAcquire(std::move(name), options),
        io_work_(io_executor),
        handler_work_(boost::asio::get_associated_executor(handler, io_executor)),
        handler_(std::move(handler)) {}

 private:
  void post_handler(std::exception_ptr error, Decision decision) override {
    auto executor = handler_work_.get_executor();
    post_completion(executor, [handler = std::move(handler_), error = std::move(error),
                               decision = std::move(decision)]() mutable {
      std::move(handler)(std::move(error), std::move(decision));
    });
    handler_work_.reset();
    io_work_.reset();
  }

  boost::asio::executor_work_guard<IoExecutor> io_work_;
  boost::asio::executor_work_guard<boost::asio::associated_executor_t<Handler, IoExecutor>>
      handler_work_;
  Handler handler_;
};

// Makes the PendingAcquire of an acquire that cannot be decided at once, moving the handler
// into it: `make(context, name, options)`.
struct AcquireMaker {
  void* context;
  std::shared_ptr<PendingAcquire> (*make)(void* context, std::string name,
                                          const AcquireOptions& options);
};

}  // namespace async_detail

// Admits items into buckets as the Limiter does, for code running on a Boost.Asio executor:
// each wait is a timer on the executor, so no thread sleeps, and the executor's threads never
// block on storage or on the inter-process lock. Bucket and factory calls that may block
// (may_block()) run on the limiter's own blocking_threads; in-memory buckets are called inline.
//
// Acquires of one bucket, with room or not, queue in the order they were started (FIFO): a
// blocking acquire is admitted only after every blocking acquire of that bucket started before
// it has completed, even when the bucket has room for it now. Only the head of a bucket's
// queue is checked, and only it waits on the bucket's timer (beside the deadlines of the
// others); once admitted, the next one is checked at once. Head-of-line blocking: a heavy head
// (a weight that fits only once many slots free) holds back every acquire behind it, light ones
// included, until it is admitted, times out or is cancelled. Non-blocking acquires, and
// weights that can never fit, are checked at once and do not queue. (A factory without a
// sole_bucket() whose may_block() is true routes each acquire on the blocking threads first;
// with several of them, acquires of one bucket started at nearly the same time enter its queue
// in the order their routing ends.)
//
// Timeouts follow the Limiter: the head is refused at once when its wait would end past its
// deadline and never later than the deadline; an acquire queued behind others is refused at
// once when the head's own wait ends past its deadline, and at its deadline otherwise, with a
// Decision that names no rate and carries retry_after 0 (as the Limiter's refusal while
// waiting for the limiter lock).
//
// Thread safety: all methods are thread-safe; the executor may be run by several threads
// (each bucket's queue has its own mutex, held only for bookkeeping and in-memory checks).
// The limiter must be destroyed before its executor's execution context.
class PYRATE_EXPORT AsyncLimiter {
 public:
  using executor_type = boost::asio::any_io_executor;

  // Throws std::invalid_argument for a null factory or bucket, a negative buffer_ms, zero
  // blocking_threads, or an invalid rate list.
  AsyncLimiter(executor_type executor, std::shared_ptr<BucketFactory> factory,
               AsyncLimiterOptions options = {});
  // Wraps `bucket` in a SingleBucketFactory that leaks it in the background (a Leaker thread).
  AsyncLimiter(executor_type executor, std::shared_ptr<AbstractBucket> bucket,
               AsyncLimiterOptions options = {});
  // A new InMemoryBucket with `rates`, leaked in the background.
  AsyncLimiter(executor_type executor, std::vector<Rate> rates, AsyncLimiterOptions options = {});
  // Admits every item into `bucket`, stamped with its now(), and leaks it every 10 s as an
  // AsyncLeakTask on `executor`.
  AsyncLimiter(executor_type executor, std::shared_ptr<AsyncBucket> bucket,
               AsyncLimiterOptions options = {});
  // close(), then waits for the bucket calls under way on the blocking threads.
  ~AsyncLimiter();

  AsyncLimiter(const AsyncLimiter&) = delete;
  AsyncLimiter& operator=(const AsyncLimiter&) = delete;

  executor_type get_executor() const noexcept { return executor_; }

  // Limiter::acquire without blocking a thread: completes with the decision of the last check
  // (admitted, or refused: not blocking, timed out, never fits with retry_after -1), or with
  // the exception that stopped it: std::invalid_argument for a negative weight, a negative
  // timeout or a timeout without blocking; what the factory or bucket threw (StorageError
  // keeps its type and message); boost::system::system_error holding
  // boost::asio::error::operation_aborted after cancel() or close(); std::logic_error when
  // started after close(). Weight 0 is admitted with no check.
  //
  // Completion signature void(std::exception_ptr, Decision); works with a callback,
  // boost::asio::use_future and boost::asio::use_awaitable. The handler runs once, on its
  // associated executor (get_executor() when it has none), never inside async_acquire. The
  // acquire keeps the factory and the bucket alive until it completes.
  template <class CompletionToken>
  auto async_acquire(std::string name, AcquireOptions options, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(std::exception_ptr, Decision)>(
        [this](auto handler, std::string name, AcquireOptions options) {
          using Handler = decltype(handler);
          // An acquire decided at once posts its handler without making a PendingAcquire.
          std::pair<Handler*, const executor_type*> parts{&handler, &executor_};
          const async_detail::AcquireMaker maker{
              &parts,
              [](void* context, std::string name,
                 const AcquireOptions& options) -> std::shared_ptr<async_detail::PendingAcquire> {
                auto& [handler, executor] =
                    *static_cast<std::pair<Handler*, const executor_type*>*>(context);
                return std::make_shared<async_detail::HandlerAcquire<Handler, executor_type>>(
                    std::move(*handler), *executor, std::move(name), options);
              }};
          if (std::optional<Decision> decision = start(std::move(name), options, maker)) {
            auto executor = boost::asio::get_associated_executor(handler, executor_);
            async_detail::post_completion(executor, [handler = std::move(handler),
                                                     decision = std::move(*decision)]() mutable {
              std::move(handler)(std::exception_ptr(), std::move(decision));
            });
          }
        },
        token, std::move(name), std::move(options));
  }

  // Completes every acquire pending now with operation_aborted; acquires started afterwards
  // are served as usual. An acquire whose check is under way on a blocking thread completes
  // at once too, and may have taken its slots.
  void cancel();

  // cancel(), then stops leaking and closes the buckets. Idempotent.
  void close();

 private:
  class Impl;
  // Starts an acquire. Returns its decision when it was made at once, without calling
  // `maker`; otherwise completes the acquire that `maker` made.
  std::optional<Decision> start(std::string name, const AcquireOptions& options,
                                async_detail::AcquireMaker maker);

  executor_type executor_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pyrate
