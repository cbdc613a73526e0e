// open_redis_store for a pyrate built without hiredis: a Redis URL is a usage error.
#include "bucket_store.hpp"
#include "exit_codes.hpp"

namespace pyrate::cli {

std::unique_ptr<BucketStore> open_redis_store(const std::string&) {
  throw UsageError("this pyrate was built without Redis support (meson -Dredis=enabled)");
}

}  // namespace pyrate::cli
