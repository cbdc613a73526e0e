#include <iostream>
#include <memory>

#include "bucket_store.hpp"
#include "commands.hpp"
#include "exit_codes.hpp"
#include "json_string.hpp"
#include "slot_count.hpp"

namespace pyrate::cli {

int run_leak(const CommandLine& line) {
  const std::unique_ptr<BucketStore> store = open_bucket_store(line.db);
  const std::vector<StoredBucket> stored = store->select(line.bucket);
  if (stored.empty()) {
    std::cout << "nothing to leak: no "
              << (line.bucket ? "bucket " + shown_name(*line.bucket) : std::string("buckets"))
              << " in " << store->display_name() << '\n';
    return kExitAdmitted;
  }
  for (const StoredBucket& entry : stored) {
    const auto bucket = store->open(entry.name, entry.rates);
    const std::int64_t removed = bucket->leak();
    bucket->close();
    std::cout << "leaked " << slot_count(removed, "expired") << " from bucket "
              << shown_name(entry.name) << '\n';
  }
  return kExitAdmitted;
}

}  // namespace pyrate::cli
