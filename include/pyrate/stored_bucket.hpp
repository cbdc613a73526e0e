// A bucket as a store records it, for tools that list the buckets of a file or a server.
#pragma once

#include <string>
#include <vector>

#include "pyrate/export.hpp"
#include "pyrate/rate.hpp"

namespace pyrate {

// One bucket of a store (see list_sqlite_buckets, and list_redis_buckets in redis_bucket.hpp).
struct PYRATE_EXPORT StoredBucket {
  std::string name;         // the bucket's key
  std::vector<Rate> rates;  // the rate list it was last opened with (Redis: last checked with)
};

}  // namespace pyrate
