// Routing items to buckets, and scheduling their leaks.
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "pyrate/bucket.hpp"
#include "pyrate/export.hpp"
#include "pyrate/leaker.hpp"

namespace pyrate {

// Decides which bucket an item goes to and owns the Leaker that leaks the buckets it
// schedules. Subclasses implement wrap_item (stamp an item) and get (pick its bucket).
// The methods of this class are thread-safe; subclasses must keep wrap_item and get so.
class PYRATE_EXPORT BucketFactory {
 public:
  BucketFactory();
  // Stops the leaker. Does not close the buckets: close() does.
  virtual ~BucketFactory();

  BucketFactory(const BucketFactory&) = delete;
  BucketFactory& operator=(const BucketFactory&) = delete;

  // An item named `name` of `weight`, stamped with the time of the bucket it will go to.
  virtual RateItem wrap_item(std::string_view name, std::int64_t weight = 1) = 0;

  // The bucket `item` goes to.
  virtual std::shared_ptr<AbstractBucket> get(const RateItem& item) = 0;

  // wrap_item(name, weight) and the bucket get() picks for it, in one step; the Limiter calls
  // this. The default calls the two; a factory that finds both with one lookup overrides it.
  virtual std::pair<RateItem, std::shared_ptr<AbstractBucket>> route(std::string_view name,
                                                                     std::int64_t weight);

  // The bucket get() returns for every item, when there is one such bucket that lives as long
  // as the factory; nullptr (the default) otherwise. The answer must not change: a Limiter
  // asks once, when it is made, and then routes items to that bucket without calling get(),
  // which saves copying a shared_ptr on every acquire.
  virtual AbstractBucket* sole_bucket() noexcept { return nullptr; }

  // True (the default) when wrap_item or get may wait on storage, the network or another
  // process, so that an AsyncLimiter calls them on its blocking threads.
  virtual bool may_block() const noexcept { return true; }

  // Constructs a Bucket from `args`, then schedule_leak()s it.
  template <class Bucket, class... Args>
  std::shared_ptr<Bucket> create(Args&&... args) {
    auto bucket = std::make_shared<Bucket>(std::forward<Args>(args)...);
    schedule_leak(bucket);
    return bucket;
  }

  // Registers `bucket` with the leaker and starts the leaker if it is not running.
  // Throws std::invalid_argument for a null bucket.
  void schedule_leak(std::shared_ptr<AbstractBucket> bucket);

  // Stops leaking `bucket`; true if it was scheduled. The bucket stays open.
  virtual bool dispose(const AbstractBucket& bucket);

  // The buckets scheduled and not disposed.
  virtual std::vector<std::shared_ptr<AbstractBucket>> get_buckets() const;

  // Milliseconds between leaks; default 10'000.
  Millis leak_interval() const;
  // Applies from the leaker's next sleep. Throws std::invalid_argument unless > 0.
  void set_leak_interval(Millis interval);

  // Stops leaking and closes every scheduled bucket. Idempotent.
  virtual void close();

 protected:
  // Runs `sweep` on the leaker's thread every leak_interval(), after the scheduled buckets,
  // and starts the thread; for factories that leak their buckets themselves.
  void schedule_sweep(std::function<void()> sweep);
  // Stops the leaker's thread, sweep included; it is not restarted.
  void stop_leaking();

 private:
  Leaker leaker_;
};

// A factory with one bucket that every item goes to; items are stamped with its now().
class PYRATE_EXPORT SingleBucketFactory final : public BucketFactory {
 public:
  // Schedules the leak of `bucket` unless `schedule_leak` is false.
  // Throws std::invalid_argument for a null bucket.
  explicit SingleBucketFactory(std::shared_ptr<AbstractBucket> bucket, bool schedule_leak = true);

  RateItem wrap_item(std::string_view name, std::int64_t weight = 1) override;
  std::shared_ptr<AbstractBucket> get(const RateItem& item) override;
  // The bucket, since every item goes to it.
  AbstractBucket* sole_bucket() noexcept override { return bucket_.get(); }
  // Whether the bucket may block: wrap_item reads its clock.
  bool may_block() const noexcept override { return bucket_->may_block(); }
  // Stops leaking and closes the bucket, scheduled or not. Idempotent.
  void close() override;

 private:
  std::shared_ptr<AbstractBucket> bucket_;
};

}  // namespace pyrate
