#include "pyrate/bucket_factory.hpp"

#include <stdexcept>

namespace pyrate {

BucketFactory::BucketFactory() = default;

BucketFactory::~BucketFactory() { leaker_.close(); }

void BucketFactory::schedule_leak(std::shared_ptr<AbstractBucket> bucket) {
  leaker_.register_bucket(std::move(bucket));
  leaker_.start();
}

bool BucketFactory::dispose(const AbstractBucket& bucket) { return leaker_.deregister(bucket); }

std::vector<std::shared_ptr<AbstractBucket>> BucketFactory::get_buckets() const {
  return leaker_.buckets();
}

Millis BucketFactory::leak_interval() const { return leaker_.leak_interval(); }

void BucketFactory::set_leak_interval(Millis interval) { leaker_.set_leak_interval(interval); }

void BucketFactory::schedule_sweep(std::function<void()> sweep) {
  leaker_.set_sweep(std::move(sweep));
  leaker_.start();
}

void BucketFactory::stop_leaking() {
  leaker_.set_sweep(nullptr);
  leaker_.close();
}

void BucketFactory::close() {
  leaker_.close();
  for (const auto& bucket : leaker_.buckets()) bucket->close();
}

SingleBucketFactory::SingleBucketFactory(std::shared_ptr<AbstractBucket> bucket, bool schedule_leak)
    : bucket_(std::move(bucket)) {
  if (!bucket_) throw std::invalid_argument("SingleBucketFactory: bucket must not be null");
  if (schedule_leak) this->schedule_leak(bucket_);
}

RateItem SingleBucketFactory::wrap_item(std::string_view name, std::int64_t weight) {
  return RateItem{std::string(name), bucket_->now(), weight};
}

std::shared_ptr<AbstractBucket> SingleBucketFactory::get(const RateItem& /*item*/) {
  return bucket_;
}

void SingleBucketFactory::close() {
  BucketFactory::close();
  bucket_->close();
}

}  // namespace pyrate
