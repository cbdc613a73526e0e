#include <iostream>
#include <mutex>

#include "commands.hpp"
#include "database_location.hpp"
#include "exit_codes.hpp"
#include "json_string.hpp"
#include "slot_count.hpp"
#include "stored_buckets.hpp"

namespace pyrate::cli {

int run_flush(const CommandLine& line) {
  const std::string db_path = locate_database(line.db).path;
  const std::string name = line.bucket_or_default();
  const std::vector<StoredBucket> stored = select_stored_buckets(db_path, name);
  if (stored.empty()) {
    std::cout << "nothing to flush: no bucket " << shown_name(name) << " in "
              << display_path(db_path) << '\n';
    return kExitAdmitted;
  }
  const auto bucket = open_stored_bucket(db_path, stored.front());
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
