#include <iostream>
#include <memory>
#include <mutex>

#include "bucket_store.hpp"
#include "commands.hpp"
#include "exit_codes.hpp"
#include "json_string.hpp"
#include "slot_count.hpp"

namespace pyrate::cli {

int run_flush(const CommandLine& line) {
  const std::unique_ptr<BucketStore> store = open_bucket_store(line.db);
  const std::string name = line.bucket_or_default();
  const std::vector<StoredBucket> stored = store->select(name);
  if (stored.empty()) {
    std::cout << "nothing to flush: no bucket " << shown_name(name) << " in "
              << store->display_name() << '\n';
    return kExitAdmitted;
  }
  const auto bucket = store->open(stored.front().name, stored.front().rates);
  std::int64_t removed = 0;
  {
    std::unique_lock<LimiterLock> guard;
    if (LimiterLock* lock = bucket->limiter_lock()) guard = std::unique_lock(*lock);
    removed = bucket->count();
    bucket->flush();
  }
  bucket->close();
  std::cout << "flushed " << slot_count(removed) << " from bucket " << shown_name(name) << '\n';
  return kExitAdmitted;
}

}  // namespace pyrate::cli
