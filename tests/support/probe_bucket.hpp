// A bucket for tests of the async limiter: an InMemoryBucket that says whether it may block,
// records the threads that admit into it, and runs a hook (that may throw or wait) first.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <pyrate/pyrate.hpp>
#include <thread>
#include <vector>

namespace pyrate_test {

class ProbeBucket final : public pyrate::AbstractBucket {
 public:
  ProbeBucket(std::vector<pyrate::Rate> rates, bool may_block)
      : AbstractBucket(rates),
        inner_(std::make_shared<pyrate::InMemoryBucket>(std::move(rates))),
        may_block_(may_block) {}

  // Runs before every admit; set before the bucket is used.
  std::function<void()> before_admit;
  // What limiter_lock() returns; set before the bucket is used.
  pyrate::LimiterLock* lock = nullptr;

  std::vector<std::thread::id> admit_threads() const {
    std::lock_guard guard(mutex_);
    return admit_threads_;
  }

  pyrate::InMemoryBucket& inner() { return *inner_; }

  bool put(const pyrate::RateItem& item) override { return admit(item).admitted; }
  pyrate::Decision admit(const pyrate::RateItem& item) override {
    {
      std::lock_guard guard(mutex_);
      admit_threads_.push_back(std::this_thread::get_id());
    }
    if (before_admit) before_admit();
    return inner_->admit(item);
  }
  std::int64_t leak(std::optional<pyrate::Millis> current_timestamp) override {
    return inner_->leak(current_timestamp);
  }
  void flush() override { inner_->flush(); }
  std::int64_t count() override { return inner_->count(); }
  std::optional<pyrate::RateItem> peek(std::int64_t index) override { return inner_->peek(index); }
  pyrate::Millis waiting(const pyrate::RateItem& item) override { return inner_->waiting(item); }
  pyrate::Millis now() override { return inner_->now(); }
  pyrate::LimiterLock* limiter_lock() override { return lock; }
  bool may_block() const noexcept override { return may_block_; }
  void close() override {
    inner_->close();
    AbstractBucket::close();
  }

 private:
  std::shared_ptr<pyrate::InMemoryBucket> inner_;
  bool may_block_;
  mutable std::mutex mutex_;
  std::vector<std::thread::id> admit_threads_;
};

// A LimiterLock over a std::timed_mutex.
class TimedLock final : public pyrate::LimiterLock {
 public:
  void lock() override { mutex_.lock(); }
  bool try_lock() override { return mutex_.try_lock(); }
  bool try_lock_until(std::chrono::steady_clock::time_point deadline) override {
    return mutex_.try_lock_until(deadline);
  }
  void unlock() override { mutex_.unlock(); }

 private:
  std::timed_mutex mutex_;
};

}  // namespace pyrate_test
