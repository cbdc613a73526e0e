#include "bucket_store.hpp"

#include <string_view>

#include "database_location.hpp"
#include "pyrate/sqlite_bucket.hpp"
#include "sqlite/recorded_buckets.hpp"
#include "stored_buckets.hpp"

namespace pyrate::cli {
namespace {

bool names_redis_server(std::string_view location) {
  return location.starts_with("redis://") || location.starts_with("unix://");
}

// A database file, at a location that locate_database found.
class SQLiteStore final : public BucketStore {
 public:
  explicit SQLiteStore(DatabaseLocation location) : location_(std::move(location)) {}

  std::string display_name() const override { return display_path(location_.path); }

  std::vector<StoredBucket> select(const std::optional<std::string>& only) const override {
    return select_stored_buckets(location_.path, only);
  }

  std::shared_ptr<AbstractBucket> open(const std::string& name,
                                       const std::vector<Rate>& rates) const override {
    create_default_directories(location_);
    return open_stored_bucket(location_.path, StoredBucket{name, rates});
  }

  // One read-only pass over the file, without opening the buckets or taking their lock.
  std::vector<BucketUsage> survey(const std::optional<std::string>& only) const override {
    const Millis now = SystemClock().now();
    std::vector<BucketUsage> buckets;
    for (const SurveyedBucket& surveyed : survey_sqlite_buckets(location_.path, now, only)) {
      buckets.push_back(usage_at(surveyed, now));
    }
    return buckets;
  }

 private:
  const DatabaseLocation location_;
};

}  // namespace

std::unique_ptr<BucketStore> open_bucket_store(const std::optional<std::string>& db_flag) {
  DatabaseLocation location = locate_database(db_flag);
  if (names_redis_server(location.path)) return open_redis_store(location.path);
  return std::make_unique<SQLiteStore>(std::move(location));
}

}  // namespace pyrate::cli
