#include <iostream>

#include "commands.hpp"
#include "database_location.hpp"
#include "exit_codes.hpp"
#include "json_string.hpp"
#include "slot_count.hpp"
#include "stored_buckets.hpp"

namespace pyrate::cli {

int run_leak(const CommandLine& line) {
  const std::string db_path = locate_database(line.db).path;
  const std::vector<StoredBucket> stored = select_stored_buckets(db_path, line.bucket);
  if (stored.empty()) {
    std::cout << "nothing to leak: no "
              << (line.bucket ? "bucket " + shown_name(*line.bucket) : std::string("buckets"))
              << " in " << display_path(db_path) << '\n';
    return kExitAdmitted;
  }
  for (const StoredBucket& entry : stored) {
    const auto bucket = open_stored_bucket(db_path, entry);
    const std::int64_t removed = bucket->leak();
    bucket->close();
    std::cout << "leaked " << slot_count(removed, "expired") << " from bucket "
              << shown_name(entry.name) << '\n';
  }
  return kExitAdmitted;
}

}  // namespace pyrate::cli
