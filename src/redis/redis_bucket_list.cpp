// list_redis_buckets: the ":rates" keys under a prefix, walked with SCAN.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/rate_list.hpp"
#include "pyrate/errors.hpp"
#include "pyrate/redis_bucket.hpp"
#include "redis/redis_bucket_server.hpp"
#include "redis/redis_connection.hpp"
#include "redis/redis_url.hpp"

namespace pyrate {
namespace {

constexpr std::string_view kRatesSuffix = "}:rates";

// `text` with the characters that SCAN's MATCH gives a meaning to escaped.
std::string glob_literal(std::string_view text) {
  std::string escaped;
  for (const char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return escaped;
}

std::string_view text_of(const redisReply& reply) { return {reply.str, reply.len}; }

}  // namespace

std::vector<StoredBucket> list_redis_buckets(const RedisOptions& options) {
  const redis::RedisUrl url = redis::RedisUrl::parse(options.url);
  redis::Connection connection(url, redis::checked_timeouts(options));
  const std::string pattern = glob_literal(options.key_prefix) + "{*" + std::string(kRatesSuffix);
  const auto unexpected = [&] { return StorageError(url.redacted + ": SCAN: unexpected answer"); };
  std::vector<StoredBucket> buckets;
  std::string cursor = "0";
  do {
    const redis::Reply page = connection.checked_command(
        {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"}, "list buckets");
    if (page->type != REDIS_REPLY_ARRAY || page->elements != 2 ||
        page->element[1]->type != REDIS_REPLY_ARRAY) {
      throw unexpected();
    }
    cursor = std::string(text_of(*page->element[0]));
    const redisReply& keys = *page->element[1];
    if (keys.elements == 0) continue;
    std::vector<std::string_view> get{"MGET"};
    for (std::size_t i = 0; i < keys.elements; ++i) get.push_back(text_of(*keys.element[i]));
    const redis::Reply values = connection.checked_command(get, "list buckets");
    if (values->type != REDIS_REPLY_ARRAY || values->elements != keys.elements) throw unexpected();
    for (std::size_t i = 0; i < keys.elements; ++i) {
      if (values->element[i]->type != REDIS_REPLY_STRING) continue;  // expired meanwhile
      const std::string_view key = text_of(*keys.element[i]);
      const std::string_view name =
          key.substr(options.key_prefix.size() + 1,
                     key.size() - options.key_prefix.size() - 1 - kRatesSuffix.size());
      try {
        buckets.push_back(
            StoredBucket{std::string(name), core::decode_rate_list(text_of(*values->element[i]))});
      } catch (const std::invalid_argument& error) {
        throw StorageError(url.redacted + ": list buckets: " + error.what());
      }
    }
  } while (cursor != "0");
  std::sort(buckets.begin(), buckets.end(),
            [](const StoredBucket& a, const StoredBucket& b) { return a.name < b.name; });
  // SCAN may return a key more than once.
  buckets.erase(
      std::unique(buckets.begin(), buckets.end(),
                  [](const StoredBucket& a, const StoredBucket& b) { return a.name == b.name; }),
      buckets.end());
  return buckets;
}

}  // namespace pyrate
