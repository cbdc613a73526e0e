// Where the pyrate command keeps its buckets: an SQLite file, or a Redis server.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bucket_usage.hpp"
#include "pyrate/bucket.hpp"
#include "pyrate/stored_bucket.hpp"

namespace pyrate::cli {

// The buckets of one store, as the subcommands use them. Each method throws
// pyrate::StorageError (or StorageUnavailableError) naming the store when it fails.
class BucketStore {
 public:
  virtual ~BucketStore() = default;

  // The store as output names it: the file's absolute path, or the server's URL without
  // user and password.
  virtual std::string display_name() const = 0;

  // The stored buckets, ordered by name: all of them, or only the one named `only` (none
  // when it is not stored). A file that does not exist lists nothing and is not created.
  virtual std::vector<StoredBucket> select(const std::optional<std::string>& only) const = 0;

  // The bucket `name` with `rates`, made in the store if needed (a file, and the default
  // location's directories, are created on first use). A file's buckets come with the
  // inter-process lock as limiter_lock().
  virtual std::shared_ptr<AbstractBucket> open(const std::string& name,
                                               const std::vector<Rate>& rates) const = 0;

  // How full each stored bucket is now, measured with its stored rates: all of them, or only
  // the one named `only`, ordered by name.
  virtual std::vector<BucketUsage> survey(const std::optional<std::string>& only) const = 0;
};

// The store that --db (`db_flag`) or the environment names (see locate_database): a Redis
// server for a value that starts with "redis://" or "unix://", else an SQLite file.
// Throws UsageError when no location is available; std::invalid_argument for a malformed
// Redis URL, and StorageUnavailableError or StorageError when its server cannot be reached or
// refuses the connection (each naming the URL without its password); UsageError for a Redis
// URL when this pyrate was built without Redis.
std::unique_ptr<BucketStore> open_bucket_store(const std::optional<std::string>& db_flag);

// The Redis server at `url`, connected to at once (see open_bucket_store). Built from
// redis_store.cpp, or from redis_store_missing.cpp without hiredis.
std::unique_ptr<BucketStore> open_redis_store(const std::string& url);

}  // namespace pyrate::cli
