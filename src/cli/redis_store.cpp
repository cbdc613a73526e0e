// The pyrate command's buckets on a Redis server: RedisBuckets under the default key prefix,
// sharing one connection pool.
#include <memory>
#include <string>

#include "bucket_store.hpp"
#include "pyrate/redis_bucket.hpp"
#include "redis/redis_bucket_server.hpp"

namespace pyrate::cli {
namespace {

class RedisStore final : public BucketStore {
 public:
  explicit RedisStore(const std::string& url)
      : options_(options_for(url)), server_(std::make_shared<redis::BucketServer>(options_)) {}

  std::string display_name() const override { return server_->url(); }

  std::vector<StoredBucket> select(const std::optional<std::string>& only) const override {
    std::vector<StoredBucket> buckets = list_redis_buckets(options_);
    if (only) {
      std::erase_if(buckets, [&](const StoredBucket& stored) { return stored.name != *only; });
    }
    return buckets;
  }

  std::shared_ptr<AbstractBucket> open(const std::string& name,
                                       const std::vector<Rate>& rates) const override {
    return open_bucket(name, rates);
  }

  std::vector<BucketUsage> survey(const std::optional<std::string>& only) const override {
    std::vector<BucketUsage> buckets;
    for (const StoredBucket& stored : select(only)) {
      const auto bucket = open_bucket(stored.name, stored.rates);
      buckets.push_back(measure_bucket(
          *bucket, stored.name, [&](Millis timestamp) { return bucket->count_since(timestamp); }));
      bucket->close();
    }
    return buckets;
  }

 private:
  static RedisOptions options_for(const std::string& url) {
    RedisOptions options;
    options.url = url;
    return options;
  }

  std::shared_ptr<RedisBucket> open_bucket(const std::string& name,
                                           const std::vector<Rate>& rates) const {
    return std::make_shared<RedisBucket>(rates, server_, name, options_.key_prefix);
  }

  const RedisOptions options_;
  const std::shared_ptr<redis::BucketServer> server_;
};

}  // namespace

std::unique_ptr<BucketStore> open_redis_store(const std::string& url) {
  return std::make_unique<RedisStore>(url);
}

}  // namespace pyrate::cli
