// What a RedisBucket keeps on the server, read back by tests and benches with their own
// connection (see RedisServer::command).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "support/redis_server.hpp"

namespace pyrate::testing {

// The keys of `bucket` under `prefix`, as redis_bucket.hpp names them.
inline std::string entries_key(const std::string& bucket, const std::string& prefix = "pyrate:") {
  return prefix + "{" + bucket + "}:entries";
}
inline std::string times_key(const std::string& bucket, const std::string& prefix = "pyrate:") {
  return prefix + "{" + bucket + "}:times";
}
inline std::string widest_key(const std::string& bucket, const std::string& prefix = "pyrate:") {
  return prefix + "{" + bucket + "}:widest";
}
inline std::string rates_key(const std::string& bucket, const std::string& prefix = "pyrate:") {
  return prefix + "{" + bucket + "}:rates";
}

// One recorded item, read out of an entries member "END:TIMESTAMP:NAME" and its score.
struct StoredEntry {
  std::int64_t weight;
  std::int64_t timestamp;
  std::string name;
};

// Every entry of `bucket`, oldest first.
inline std::vector<StoredEntry> stored_entries(const RedisServer& server,
                                               const std::string& bucket) {
  const RedisValue reply = server.command({"ZRANGE", entries_key(bucket), "0", "-1", "WITHSCORES"});
  std::vector<StoredEntry> entries;
  for (std::size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
    const std::string& member = reply.elements[i].text;
    const auto first = member.find(':');
    const auto second = member.find(':', first + 1);
    const std::int64_t end = std::stoll(member.substr(0, first));
    const std::int64_t start = std::stoll(reply.elements[i + 1].text);
    entries.push_back(StoredEntry{end - start,
                                  std::stoll(member.substr(first + 1, second - first - 1)),
                                  member.substr(second + 1)});
  }
  return entries;
}

// One timestamp per slot of `entries`, in their order.
inline std::vector<std::int64_t> slot_stamps(const std::vector<StoredEntry>& entries) {
  std::vector<std::int64_t> stamps;
  for (const StoredEntry& entry : entries) {
    stamps.insert(stamps.end(), static_cast<std::size_t>(entry.weight), entry.timestamp);
  }
  return stamps;
}

}  // namespace pyrate::testing
