#include "stored_buckets.hpp"

#include <algorithm>
#include <filesystem>
#include <system_error>

namespace pyrate::cli {

std::vector<StoredBucket> select_stored_buckets(const std::string& db_path,
                                                const std::optional<std::string>& only) {
  std::vector<StoredBucket> buckets = list_sqlite_buckets(db_path);
  if (only) {
    std::erase_if(buckets, [&](const StoredBucket& stored) { return stored.name != *only; });
  }
  return buckets;
}

std::shared_ptr<SQLiteBucket> open_stored_bucket(const std::string& db_path,
                                                 const StoredBucket& stored) {
  SQLiteOptions options;
  options.db_path = db_path;
  options.bucket = stored.name;
  options.multiprocess = true;
  return std::make_shared<SQLiteBucket>(stored.rates, options);
}

std::string display_path(const std::string& path) {
  std::error_code error;
  const std::filesystem::path absolute = std::filesystem::absolute(path, error);
  return error ? path : absolute.lexically_normal().string();
}

}  // namespace pyrate::cli
