#include "pyrate/async_limiter.hpp"

#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_set>

#include "async/acquire_errors.hpp"
#include "async/blocking_pool.hpp"
#include "async/bucket_checks.hpp"
#include "async/bucket_queue.hpp"
#include "async/queue_map.hpp"
#include "limiter/acquire_options_check.hpp"
#include "pyrate/in_memory_bucket.hpp"

namespace pyrate {
namespace {

void check_buffer(Millis buffer_ms) {
  if (buffer_ms < 0) {
    throw std::invalid_argument("AsyncLimiter: buffer_ms must not be negative, got " +
                                std::to_string(buffer_ms));
  }
}

}  // namespace

// Routes acquires to the queues of their buckets. Items of a factory that may block are
// wrapped and routed on the blocking threads; those of a sole bucket go to its queue, made
// once; the others to the queue map.
class AsyncLimiter::Impl {
 public:
  using Acquire = std::shared_ptr<async_detail::PendingAcquire>;

  Impl(executor_type executor, std::shared_ptr<BucketFactory> factory,
       const AsyncLimiterOptions& options)
      : factory_(std::move(factory)), pool_(options.blocking_threads) {
    if (!factory_) throw std::invalid_argument("AsyncLimiter: factory must not be null");
    check_buffer(options.buffer_ms);
    if (AbstractBucket* sole = factory_->sole_bucket()) {
      decides_at_once_ = !factory_->may_block() && checks_inline(*sole);
      // The sole bucket lives as long as the factory: share the factory's ownership.
      std::shared_ptr<AbstractBucket> bucket(factory_, sole);
      sole_queue_ = std::make_shared<BucketQueue>(executor, checked(std::move(bucket), pool_),
                                                  options.buffer_ms);
    } else {
      queues_ = std::make_shared<QueueMap>(executor, options.buffer_ms, pool_);
    }
  }

  Impl(executor_type executor, std::shared_ptr<AsyncBucket> bucket,
       const AsyncLimiterOptions& options)
      : async_bucket_(std::move(bucket)), pool_(options.blocking_threads) {
    if (!async_bucket_) throw std::invalid_argument("AsyncLimiter: bucket must not be null");
    check_buffer(options.buffer_ms);
    sole_queue_ =
        std::make_shared<BucketQueue>(executor, checked(async_bucket_), options.buffer_ms);
    leak_task_ = std::make_unique<AsyncLeakTask>(executor);
    leak_task_->register_bucket(async_bucket_);
    leak_task_->start();
  }

  ~Impl() {
    close();
    pool_.join();
  }

  // The path of an in-memory sole bucket, which makes no PendingAcquire for an acquire
  // decided at once; every other acquire goes to start(Acquire).
  std::optional<Decision> start(std::string name, const AcquireOptions& options,
                                async_detail::AcquireMaker maker) {
    const bool valid = options.weight >= 0 &&
                       (!options.timeout || (options.blocking && options.timeout->count() >= 0));
    if (!decides_at_once_ || !valid) {
      start(maker.make(maker.context, std::move(name), options));
      return std::nullopt;
    }
    if (options.weight == 0) {
      Decision admitted;
      admitted.admitted = true;
      return admitted;
    }
    RateItem item;
    std::exception_ptr error;
    try {
      item = factory_->wrap_item(name, options.weight);
    } catch (...) {
      error = std::current_exception();
    }
    if (error) {
      maker.make(maker.context, std::move(name), options)->complete(std::move(error));
      return std::nullopt;
    }
    std::optional<SteadyClock::time_point> deadline;
    if (options.timeout) deadline = steady_time_after(SteadyClock::now(), *options.timeout);
    return sole_queue_->start_or_decide(std::move(item), options, deadline, maker);
  }

  void start(Acquire acquire) {
    std::exception_ptr error;
    try {
      limiter::check_acquire_options(acquire->options());
    } catch (...) {
      error = std::current_exception();
    }
    if (error) {
      acquire->complete(std::move(error));
      return;
    }
    const AcquireOptions& options = acquire->options();
    if (options.weight == 0) {
      Decision admitted;
      admitted.admitted = true;
      acquire->complete(nullptr, admitted);
      return;
    }
    if (options.timeout) {
      acquire->deadline = steady_time_after(SteadyClock::now(), *options.timeout);
    }
    if (async_bucket_) {
      acquire->item = RateItem{acquire->name(), 0, options.weight};
      sole_queue_->start(std::move(acquire));
      return;
    }
    if (!factory_->may_block()) {
      route(std::move(acquire));
      return;
    }
    if (sole_queue_) {
      // Queued now, to keep its place, and stamped with the bucket's now() at its first check
      // (what the sole bucket's wrap_item gives), on the blocking threads.
      acquire->item = RateItem{acquire->name(), 0, options.weight};
      acquire->queued = true;
      sole_queue_->start(std::move(acquire));
      return;
    }
    {
      std::lock_guard lock(routing_mutex_);
      if (closed_) {
        acquire->complete(closed_error());
        return;
      }
      routing_.insert(acquire);
    }
    pool_.post([this, acquire = std::move(acquire)] {
      route(acquire);
      std::lock_guard lock(routing_mutex_);
      routing_.erase(acquire);
    });
  }

  void cancel() {
    abort_routing();
    if (sole_queue_) sole_queue_->abort_all();
    if (queues_) queues_->abort_all();
  }

  void close() {
    {
      std::lock_guard lock(routing_mutex_);
      if (closed_) return;
      closed_ = true;
    }
    abort_routing();
    if (sole_queue_) sole_queue_->close();
    if (queues_) queues_->close();
    if (leak_task_) leak_task_->close();
    if (factory_) factory_->close();
    if (async_bucket_) async_bucket_->close();
  }

 private:
  // Stamps the acquire's item and hands it to its bucket's queue.
  void route(const Acquire& acquire) {
    if (acquire->finished()) return;
    std::exception_ptr error;
    try {
      acquire->item = factory_->wrap_item(acquire->name(), acquire->options().weight);
      if (sole_queue_) {
        sole_queue_->start(acquire);
        return;
      }
      std::shared_ptr<AbstractBucket> bucket = factory_->get(acquire->item);
      if (!bucket) {
        throw std::logic_error("AsyncLimiter: the bucket factory routed an item to no bucket");
      }
      queues_->start(std::move(bucket), acquire);
    } catch (...) {
      error = std::current_exception();
    }
    if (error) acquire->complete(std::move(error));
  }

  void abort_routing() {
    std::unordered_set<Acquire> routing;
    {
      std::lock_guard lock(routing_mutex_);
      routing.swap(routing_);
    }
    for (const Acquire& acquire : routing) acquire->complete(aborted_error());
  }

  std::shared_ptr<BucketFactory> factory_;     // null with an AsyncBucket
  std::shared_ptr<AsyncBucket> async_bucket_;  // null with a factory
  BlockingPool pool_;
  std::shared_ptr<BucketQueue> sole_queue_;  // the sole bucket's or the AsyncBucket's
  bool decides_at_once_ = false;             // the sole bucket and the factory never block
  std::shared_ptr<QueueMap> queues_;         // otherwise
  std::unique_ptr<AsyncLeakTask> leak_task_;
  std::mutex routing_mutex_;
  std::unordered_set<Acquire> routing_;  // acquires being routed on the blocking threads
  bool closed_ = false;
};

AsyncLimiter::AsyncLimiter(executor_type executor, std::shared_ptr<BucketFactory> factory,
                           AsyncLimiterOptions options)
    : executor_(executor), impl_(std::make_unique<Impl>(executor, std::move(factory), options)) {}

AsyncLimiter::AsyncLimiter(executor_type executor, std::shared_ptr<AbstractBucket> bucket,
                           AsyncLimiterOptions options)
    : AsyncLimiter(std::move(executor), std::make_shared<SingleBucketFactory>(std::move(bucket)),
                   options) {}

AsyncLimiter::AsyncLimiter(executor_type executor, std::vector<Rate> rates,
                           AsyncLimiterOptions options)
    : AsyncLimiter(std::move(executor), std::make_shared<InMemoryBucket>(std::move(rates)),
                   options) {}

AsyncLimiter::AsyncLimiter(executor_type executor, std::shared_ptr<AsyncBucket> bucket,
                           AsyncLimiterOptions options)
    : executor_(executor), impl_(std::make_unique<Impl>(executor, std::move(bucket), options)) {}

AsyncLimiter::~AsyncLimiter() = default;

std::optional<Decision> AsyncLimiter::start(std::string name, const AcquireOptions& options,
                                            async_detail::AcquireMaker maker) {
  return impl_->start(std::move(name), options, maker);
}

void AsyncLimiter::cancel() { impl_->cancel(); }

void AsyncLimiter::close() { impl_->close(); }

}  // namespace pyrate
