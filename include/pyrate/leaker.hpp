// The background thread that removes expired slots from buckets.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "pyrate/bucket.hpp"
#include "pyrate/export.hpp"

namespace pyrate {

// One background thread, named "pyrate-leaker", that calls leak(bucket.now()) on every
// registered bucket one leak_interval() after start() and every leak_interval() after that.
// An exception from a bucket's leak(), std or not, is caught and reported on stderr once per
// bucket; it stops neither the other buckets nor the thread. Once every bucket has been
// deregistered the thread ends by itself; start() after a new registration starts it again.
// A sweep (set_sweep) runs on the same thread after the buckets, for factories that leak many
// buckets at once. All methods are thread-safe.
class PYRATE_EXPORT Leaker {
 public:
  // Throws std::invalid_argument unless `leak_interval` (milliseconds) is > 0.
  explicit Leaker(Millis leak_interval = 10'000);
  // close().
  ~Leaker();

  Leaker(const Leaker&) = delete;
  Leaker& operator=(const Leaker&) = delete;

  // Adds `bucket` to the buckets leaked; does not start the thread. Registering a bucket
  // twice keeps one registration. Throws std::invalid_argument for a null bucket.
  void register_bucket(std::shared_ptr<AbstractBucket> bucket);

  // Removes `bucket`; true if it was registered. A leak of it already under way completes.
  bool deregister(const AbstractBucket& bucket);

  // Runs `sweep` every interval after the registered buckets' leaks, until replaced; nullptr
  // removes it. An exception from it is reported on stderr once. The thread runs while a
  // bucket is registered or a sweep is set.
  void set_sweep(std::function<void()> sweep);

  // Starts the thread when it is not running and a bucket is registered or a sweep is set.
  void start();

  // True while the thread runs.
  bool is_alive() const;

  // Stops the thread and waits for it; returns within 100 ms whatever the interval, unless a
  // bucket's leak() is under way, which it lets finish. Registrations are kept, so start()
  // resumes. Idempotent.
  void close();

  Millis leak_interval() const;
  // Applies from the next sleep. Throws std::invalid_argument unless `interval` is > 0.
  void set_leak_interval(Millis interval);

  // The registered buckets, in registration order.
  std::vector<std::shared_ptr<AbstractBucket>> buckets() const;

 private:
  void run();
  void leak_all(const std::vector<std::shared_ptr<AbstractBucket>>& buckets);
  void run_sweep(const std::function<void()>& sweep);
  bool has_work() const { return !buckets_.empty() || sweep_ != nullptr; }

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::shared_ptr<AbstractBucket>> buckets_;
  std::unordered_set<const AbstractBucket*> reported_;  // buckets whose failure was reported
  std::function<void()> sweep_;
  bool sweep_reported_ = false;  // the sweep's failure was reported
  Millis leak_interval_;
  std::thread thread_;
  bool running_ = false;   // the thread is in run()
  bool stopping_ = false;  // close() asked the thread to end
};

}  // namespace pyrate
