#include <utility>
//
#include <mutex>
#include <stdexcept>
#include <tuple>
#include <type_traits>

#include "async/blocking_pool.hpp"
#include "pyrate/async_bucket.hpp"

namespace pyrate {

AsyncBucketAdapter::AsyncBucketAdapter(executor_type executor,
                                       std::shared_ptr<AbstractBucket> bucket,
                                       std::size_t blocking_threads)
    : AsyncBucket(std::move(executor)),
      bucket_(std::move(bucket)),
      pool_(std::make_unique<BlockingPool>(blocking_threads)) {
  if (!bucket_) throw std::invalid_argument("AsyncBucketAdapter: bucket must not be null");
}

AsyncBucketAdapter::~AsyncBucketAdapter() = default;

template <class Call, class... Results>
void AsyncBucketAdapter::run(Call call, Completion<Results...> done) {
  // Calls `call`, returning a job that hands its result or its exception to `done`.
  auto call_then_report = [bucket = bucket_, call = std::move(call),
                           done = std::move(done)]() mutable {
    std::exception_ptr error;
    if constexpr (sizeof...(Results) == 0) {
      try {
        call(*bucket);
      } catch (...) {
        error = std::current_exception();
      }
      return
          [done = std::move(done), error = std::move(error)]() mutable { done(std::move(error)); };
    } else {
      std::tuple_element_t<0, std::tuple<Results...>> result{};
      try {
        result = call(*bucket);
      } catch (...) {
        error = std::current_exception();
      }
      return [done = std::move(done), error = std::move(error),
              result = std::move(result)]() mutable { done(std::move(error), result); };
    }
  };
  if (bucket_->may_block()) {
    pool_->post(
        [call_then_report = std::move(call_then_report)]() mutable { call_then_report()(); });
  } else {
    boost::asio::post(get_executor(), call_then_report());
  }
}

void AsyncBucketAdapter::admit(RateItem item, Completion<Decision> done) {
  run(
      [item = std::move(item)](AbstractBucket& bucket) {
        std::unique_lock<LimiterLock> lock;
        if (LimiterLock* shared = bucket.limiter_lock()) lock = std::unique_lock(*shared);
        return bucket.admit(item);
      },
      std::move(done));
}

void AsyncBucketAdapter::leak(std::optional<Millis> current_timestamp,
                              Completion<std::int64_t> done) {
  run([current_timestamp](AbstractBucket& bucket) { return bucket.leak(current_timestamp); },
      std::move(done));
}

void AsyncBucketAdapter::flush(Completion<> done) {
  run([](AbstractBucket& bucket) { bucket.flush(); }, std::move(done));
}

void AsyncBucketAdapter::count(Completion<std::int64_t> done) {
  run([](AbstractBucket& bucket) { return bucket.count(); }, std::move(done));
}

void AsyncBucketAdapter::peek(std::int64_t index, Completion<std::optional<RateItem>> done) {
  run([index](AbstractBucket& bucket) { return bucket.peek(index); }, std::move(done));
}

void AsyncBucketAdapter::waiting(RateItem item, Completion<Millis> done) {
  run([item = std::move(item)](AbstractBucket& bucket) { return bucket.waiting(item); },
      std::move(done));
}

void AsyncBucketAdapter::now(Completion<Millis> done) {
  run([](AbstractBucket& bucket) { return bucket.now(); }, std::move(done));
}

void AsyncBucketAdapter::close() { bucket_->close(); }

}  // namespace pyrate
