#include "pyrate/leaker.hpp"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <stdexcept>
#include <string>

#include "pyrate/clock.hpp"

namespace pyrate {
namespace {

void check_interval(Millis interval) {
  if (interval <= 0) {
    throw std::invalid_argument("leak interval must be positive, got " + std::to_string(interval) +
                                "ms");
  }
}

}  // namespace

Leaker::Leaker(Millis leak_interval) : leak_interval_(leak_interval) {
  check_interval(leak_interval);
}

Leaker::~Leaker() { close(); }

void Leaker::register_bucket(std::shared_ptr<AbstractBucket> bucket) {
  if (!bucket) throw std::invalid_argument("register_bucket: bucket must not be null");
  std::lock_guard lock(mutex_);
  if (std::find(buckets_.begin(), buckets_.end(), bucket) == buckets_.end()) {
    buckets_.push_back(std::move(bucket));
  }
}

bool Leaker::deregister(const AbstractBucket& bucket) {
  std::shared_ptr<AbstractBucket> removed;  // released after the lock, outside the leaker
  std::lock_guard lock(mutex_);
  const auto found = std::find_if(buckets_.begin(), buckets_.end(),
                                  [&](const auto& b) { return b.get() == &bucket; });
  if (found == buckets_.end()) return false;
  removed = std::move(*found);
  buckets_.erase(found);
  reported_.erase(&bucket);
  return true;
}

void Leaker::set_sweep(std::function<void()> sweep) {
  std::lock_guard lock(mutex_);
  sweep_ = std::move(sweep);
  sweep_reported_ = false;
}

void Leaker::start() {
  std::unique_lock lock(mutex_);
  if (running_ || !has_work()) return;
  // A thread that ended by itself cleared running_ under the lock and takes it no more, so
  // joining it here cannot deadlock.
  if (thread_.joinable()) thread_.join();
  stopping_ = false;
  running_ = true;
  thread_ = std::thread(&Leaker::run, this);
}

bool Leaker::is_alive() const {
  std::lock_guard lock(mutex_);
  return running_;
}

void Leaker::close() {
  std::thread thread;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    thread = std::move(thread_);
  }
  wake_.notify_all();
  if (thread.joinable()) thread.join();
  std::lock_guard lock(mutex_);
  if (!running_) stopping_ = false;
}

Millis Leaker::leak_interval() const {
  std::lock_guard lock(mutex_);
  return leak_interval_;
}

void Leaker::set_leak_interval(Millis interval) {
  check_interval(interval);
  std::lock_guard lock(mutex_);
  leak_interval_ = interval;
}

std::vector<std::shared_ptr<AbstractBucket>> Leaker::buckets() const {
  std::lock_guard lock(mutex_);
  return buckets_;
}

void Leaker::run() {
  pthread_setname_np(pthread_self(), "pyrate-leaker");
  std::unique_lock lock(mutex_);
  while (true) {
    const auto wake_at = steady_time_after(std::chrono::milliseconds(leak_interval_));
    wake_.wait_until(lock, wake_at, [this] { return stopping_; });
    if (stopping_ || !has_work()) break;
    std::vector<std::shared_ptr<AbstractBucket>> snapshot = buckets_;
    const std::function<void()> sweep = sweep_;
    lock.unlock();
    leak_all(snapshot);
    snapshot.clear();
    if (sweep) run_sweep(sweep);
    lock.lock();
  }
  running_ = false;
}

void Leaker::leak_all(const std::vector<std::shared_ptr<AbstractBucket>>& buckets) {
  for (const auto& bucket : buckets) {
    std::string failure;
    try {
      bucket->leak(bucket->now());
      continue;
    } catch (const std::exception& e) {
      failure = e.what();
    } catch (...) {
      failure = "an exception that is not a std::exception";
    }
    std::lock_guard lock(mutex_);
    const bool still_registered =
        std::find(buckets_.begin(), buckets_.end(), bucket) != buckets_.end();
    if (still_registered && reported_.insert(bucket.get()).second) {
      std::cerr << "pyrate-leaker: leaking a bucket failed (reported once per bucket): " << failure
                << '\n';
    }
  }
}

void Leaker::run_sweep(const std::function<void()>& sweep) {
  std::string failure;
  try {
    sweep();
    return;
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "an exception that is not a std::exception";
  }
  std::lock_guard lock(mutex_);
  if (!sweep_reported_) {
    sweep_reported_ = true;
    std::cerr << "pyrate-leaker: a sweep failed (reported once): " << failure << '\n';
  }
}

}  // namespace pyrate
