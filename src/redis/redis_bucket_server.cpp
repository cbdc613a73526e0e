#include "redis/redis_bucket_server.hpp"

#include <chrono>

#include "redis/redis_url.hpp"

namespace pyrate::redis {
namespace {

std::chrono::milliseconds checked_timeout(std::chrono::milliseconds timeout, const char* name) {
  if (timeout.count() < 0) {
    throw std::invalid_argument(std::string(name) + " must not be negative, got " +
                                std::to_string(timeout.count()) + " ms");
  }
  return timeout;
}

}  // namespace

Timeouts checked_timeouts(const RedisOptions& options) {
  return Timeouts{checked_timeout(options.connect_timeout, "connect_timeout"),
                  checked_timeout(options.command_timeout, "command_timeout")};
}

BucketServer::BucketServer(const RedisOptions& options)
    : pool(RedisUrl::parse(options.url), checked_timeouts(options)) {
  on_connection("open", [&](Connection& connection) {
    for (Script* script :
         {&decide_script, &count_script, &count_since_script, &peek_script, &leak_script}) {
      script->load(connection);
    }
  });
}

}  // namespace pyrate::redis
