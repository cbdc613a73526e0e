#include "gate.hpp"

#include <iostream>
#include <memory>

#include "database_location.hpp"
#include "json_string.hpp"
#include "pyrate/bucket_factory.hpp"
#include "pyrate/limiter.hpp"
#include "pyrate/sqlite_bucket.hpp"

namespace pyrate::cli {
namespace {

// The narrowest rate whose limit is below `weight`, if any: the weight can never fit it.
const Rate* rate_too_small_for(const std::vector<Rate>& rates, std::int64_t weight) {
  for (const Rate& rate : rates) {
    if (rate.limit < weight) return &rate;
  }
  return nullptr;
}

std::string refusal_reason(const CommandLine& line, const std::optional<Rate>& failing_rate) {
  const std::string bucket = json_string(line.bucket_or_default());
  const std::string why = failing_rate
                              ? "bucket " + bucket + " is full (" + to_string(*failing_rate) + ")"
                              : "another process held bucket " + bucket + "'s lock";
  if (line.no_wait) return "refused: " + why;
  return "no room within " + line.timeout_text + ": " + why;
}

}  // namespace

Admission pass_gate(const CommandLine& line, const std::string& item_name) {
  if (const Rate* rate = rate_too_small_for(line.rates, line.weight)) {
    std::cerr << "pyrate: refused: weight " << line.weight << " can never fit " << to_string(*rate)
              << ", which holds at most " << rate->limit << '\n';
    return Admission::kRefused;
  }

  const DatabaseLocation location = locate_database(line.db);
  create_default_directories(location);
  SQLiteOptions options;
  options.db_path = location.path;
  options.bucket = line.bucket_or_default();
  options.multiprocess = true;
  auto bucket = std::make_shared<SQLiteBucket>(line.rates, options);
  // Leaking first means a storage error surfaces before any slot is taken.
  bucket->leak();
  Limiter limiter(std::make_shared<SingleBucketFactory>(bucket, /*schedule_leak=*/false));

  AcquireOptions acquire;
  acquire.weight = line.weight;
  acquire.blocking = !line.no_wait;
  acquire.timeout = line.timeout;
  const bool admitted = limiter.try_acquire(item_name, acquire);
  const std::optional<Rate> failing_rate = bucket->failing_rate();
  limiter.close();

  if (admitted) return Admission::kAdmitted;
  std::cerr << "pyrate: " << refusal_reason(line, failing_rate) << '\n';
  return Admission::kRefused;
}

}  // namespace pyrate::cli
