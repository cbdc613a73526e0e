#include "pyrate/redis_bucket.hpp"

#include <charconv>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>

#include "core/rate_list.hpp"
#include "core/sliding_window.hpp"
#include "pyrate/errors.hpp"
#include "pyrate/per_name_bucket_factory.hpp"
#include "redis/redis_bucket_server.hpp"

namespace pyrate {
namespace {

// The largest integer that the scripts' numbers (Lua's doubles) hold exactly with every integer
// below it: 2^53 - 1.
constexpr std::int64_t kLargestExactInteger = (std::int64_t{1} << 53) - 1;

// `rates`, each limit and interval checked to be at most kLargestExactInteger.
const std::vector<Rate>& exact_in_scripts(const std::vector<Rate>& rates) {
  for (const Rate& rate : rates) {
    if (rate.limit > kLargestExactInteger || rate.interval > kLargestExactInteger) {
      throw std::invalid_argument(
          "RedisBucket: rate " + to_string(rate) + " (" + std::to_string(rate.limit) + " per " +
          std::to_string(rate.interval) +
          " ms) is too large: Redis scripts count in doubles, exact up to 2^53 - 1");
    }
  }
  return rates;
}

// A decimal integer that a script answered, saturated to the range of std::int64_t.
std::int64_t to_integer(const redisReply& reply) {
  if (reply.type == REDIS_REPLY_INTEGER) return reply.integer;
  std::int64_t value = 0;
  const char* const end = reply.str + reply.len;
  const auto [stop, error] = std::from_chars(reply.str, end, value);
  if (error == std::errc::result_out_of_range) {
    return reply.len > 0 && reply.str[0] == '-' ? std::numeric_limits<std::int64_t>::min()
                                                : std::numeric_limits<std::int64_t>::max();
  }
  if (error != std::errc() || stop != end) {
    throw StorageError("unexpected answer from a pyrate script: " +
                       std::string(reply.str, reply.len));
  }
  return value;
}

// A bucket's hold on its server, shared with its clock: released by close(), after which
// neither reaches the server.
class ServerHold {
 public:
  explicit ServerHold(std::shared_ptr<redis::BucketServer> server) : server_(std::move(server)) {}

  // The server; throws std::logic_error naming `operation` once released.
  std::shared_ptr<redis::BucketServer> get(const char* operation) const {
    std::shared_ptr<redis::BucketServer> server = get_if_held();
    if (!server) throw std::logic_error(std::string(operation) + ": the bucket is closed");
    return server;
  }

  // The server; null once released.
  std::shared_ptr<redis::BucketServer> get_if_held() const {
    std::lock_guard lock(mutex_);
    return server_;
  }

  // Lets the server go: its connections close when no other bucket shares it and no call
  // under way still uses it.
  void release() noexcept {
    std::shared_ptr<redis::BucketServer> released;  // freed outside the lock
    std::lock_guard lock(mutex_);
    released.swap(server_);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<redis::BucketServer> server_;  // guarded by mutex_; null once released
};

// The server's clock, read with TIME, in Unix milliseconds.
class ServerClock final : public Clock {
 public:
  explicit ServerClock(std::shared_ptr<const ServerHold> hold) : hold_(std::move(hold)) {}

  Millis now() override {
    const std::shared_ptr<redis::BucketServer> server = hold_->get("now");
    const redis::Reply reply = server->on_connection("now", [](redis::Connection& connection) {
      return connection.checked_command({"TIME"}, "TIME");
    });
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
      throw StorageError(server->url() + ": TIME: unexpected answer");
    }
    return to_integer(*reply->element[0]) * 1000 + to_integer(*reply->element[1]) / 1000;
  }

 private:
  std::shared_ptr<const ServerHold> hold_;
};

std::string bucket_key(const std::string& prefix, const std::string& bucket, const char* part) {
  return prefix + "{" + bucket + "}:" + part;
}

}  // namespace

struct RedisBucket::Impl {
  Impl(const std::vector<Rate>& rates, std::shared_ptr<redis::BucketServer> server,
       std::string bucket_key_name, const std::string& key_prefix);

  // Runs `operation(server, connection)` on a borrowed connection; throws std::logic_error
  // naming `name` once the bucket is closed.
  template <class Operation>
  auto on_connection(const char* name, Operation operation) {
    const std::shared_ptr<redis::BucketServer> server = hold->get(name);
    return server->on_connection(
        name, [&](redis::Connection& connection) { return operation(*server, connection); });
  }

  // The decision on `item`, recorded when admitted and `record` is set.
  Decision decide(const std::vector<Rate>& rates, const RateItem& item, bool record);

  const std::string bucket;
  const std::string url;  // the server's, without user and password
  const std::shared_ptr<ServerHold> hold;
  const std::string entries_key;
  const std::string times_key;
  const std::string widest_key;
  const std::string rates_key;
  std::vector<std::string> rate_arguments;  // limit, interval of each rate
  std::string widest;                       // the widest interval of the rates
};

RedisBucket::Impl::Impl(const std::vector<Rate>& rates, std::shared_ptr<redis::BucketServer> server,
                        std::string bucket_key_name, const std::string& key_prefix)
    : bucket(std::move(bucket_key_name)),
      url(server->url()),
      hold(std::make_shared<ServerHold>(std::move(server))),
      entries_key(bucket_key(key_prefix, bucket, "entries")),
      times_key(bucket_key(key_prefix, bucket, "times")),
      widest_key(bucket_key(key_prefix, bucket, "widest")),
      rates_key(bucket_key(key_prefix, bucket, "rates")),
      widest(std::to_string(exact_in_scripts(rates).back().interval)) {
  for (const Rate& rate : rates) {
    rate_arguments.push_back(std::to_string(rate.limit));
    rate_arguments.push_back(std::to_string(rate.interval));
  }
}

Decision RedisBucket::Impl::decide(const std::vector<Rate>& rates, const RateItem& item,
                                   bool record) {
  const std::string timestamp = std::to_string(item.timestamp);
  const std::string weight = std::to_string(item.weight);
  const std::string ceiling = std::to_string(core::stamp_ceiling(item.timestamp));
  std::vector<std::string_view> arguments{timestamp, weight, record ? "1" : "0",
                                          item.name, widest, ceiling};
  arguments.insert(arguments.end(), rate_arguments.begin(), rate_arguments.end());
  const char* const operation = record ? "put" : "waiting";
  const redis::Reply reply =
      on_connection(operation, [&](redis::BucketServer& server, redis::Connection& connection) {
        return server.decide_script.run(connection, {entries_key, times_key, widest_key, rates_key},
                                        arguments, operation);
      });
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 6) {
    throw StorageError(url + ": " + operation + ": unexpected answer");
  }
  const auto field = [&](std::size_t i) { return to_integer(*reply->element[i]); };
  const auto rate_at = [&](std::int64_t index) -> std::optional<Rate> {
    if (index < 0 || index >= static_cast<std::int64_t>(rates.size())) return std::nullopt;
    return rates[static_cast<std::size_t>(index)];
  };
  Decision decision;
  decision.admitted = field(0) == 1;
  decision.failing_rate = rate_at(field(1));
  decision.retry_after = field(2);
  decision.tightest_rate = rate_at(field(3));
  decision.remaining = field(4);
  decision.reset_after = field(5);
  return decision;
}

RedisBucket::RedisBucket(std::vector<Rate> rates, RedisOptions options)
    : RedisBucket(std::move(rates), std::make_shared<redis::BucketServer>(options),
                  std::move(options.bucket), options.key_prefix) {}

RedisBucket::RedisBucket(std::vector<Rate> rates, std::shared_ptr<redis::BucketServer> server,
                         std::string bucket, const std::string& key_prefix)
    : AbstractBucket(std::move(rates)),
      impl_(
          std::make_unique<Impl>(this->rates(), std::move(server), std::move(bucket), key_prefix)) {
  set_clock(std::make_shared<ServerClock>(impl_->hold));
}

RedisBucket::~RedisBucket() { close(); }

const std::string& RedisBucket::url() const { return impl_->url; }

const std::string& RedisBucket::bucket_name() const { return impl_->bucket; }

bool RedisBucket::put(const RateItem& item) { return admit(item).admitted; }

Decision RedisBucket::admit(const RateItem& item) {
  check_weight(item);
  throw_if_closed("put");
  if (item.weight == 0) return impl_->decide(rates(), item, false);
  Decision decision = impl_->decide(rates(), item, true);
  set_failing_rate(decision.failing_rate);
  return decision;
}

Millis RedisBucket::waiting(const RateItem& item) {
  check_weight(item);
  throw_if_closed("waiting");
  return impl_->decide(rates(), item, false).retry_after;
}

std::int64_t RedisBucket::leak(std::optional<Millis> current_timestamp) {
  if (closed()) return 0;
  const std::string timestamp = std::to_string(current_timestamp ? *current_timestamp : now());
  const std::shared_ptr<redis::BucketServer> server = impl_->hold->get_if_held();
  if (!server) return 0;
  std::optional<redis::ConnectionPool::Lease> connection = server->pool.borrow();
  if (!connection) return 0;
  const redis::Reply reply = server->leak_script.run(
      **connection, {impl_->entries_key, impl_->times_key, impl_->widest_key},
      {timestamp, impl_->widest}, "leak");
  return to_integer(*reply);
}

void RedisBucket::flush() {
  throw_if_closed("flush");
  impl_->on_connection("flush", [&](redis::BucketServer&, redis::Connection& connection) {
    connection.checked_command({"DEL", impl_->entries_key, impl_->times_key}, "flush");
  });
  set_failing_rate(std::nullopt);
}

std::int64_t RedisBucket::count() {
  throw_if_closed("count");
  return impl_->on_connection(
      "count", [&](redis::BucketServer& server, redis::Connection& connection) {
        return to_integer(*server.count_script.run(connection, {impl_->entries_key}, {}, "count"));
      });
}

std::int64_t RedisBucket::count_since(Millis timestamp) {
  throw_if_closed("count_since");
  const std::string since = std::to_string(timestamp);
  return impl_->on_connection(
      "count_since", [&](redis::BucketServer& server, redis::Connection& connection) {
        return to_integer(*server.count_since_script.run(
            connection, {impl_->entries_key, impl_->times_key}, {since}, "count_since"));
      });
}

std::optional<RateItem> RedisBucket::peek(std::int64_t index) {
  throw_if_closed("peek");
  if (index < 0) return std::nullopt;
  const std::string position = std::to_string(index);
  return impl_->on_connection(
      "peek",
      [&](redis::BucketServer& server, redis::Connection& connection) -> std::optional<RateItem> {
        const redis::Reply reply =
            server.peek_script.run(connection, {impl_->entries_key}, {position}, "peek");
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) return std::nullopt;
        return RateItem{std::string(reply->element[1]->str, reply->element[1]->len),
                        to_integer(*reply->element[0]), 1};
      });
}

void RedisBucket::close() {
  impl_->hold->release();
  AbstractBucket::close();
}

std::shared_ptr<PerNameBucketFactory> per_name_redis_factory(std::vector<Rate> rates,
                                                             RedisOptions options) {
  rates = core::sorted_rate_list(std::move(rates));
  auto server = std::make_shared<redis::BucketServer>(options);
  auto make = [server, rates, prefix = options.bucket + "/",
               key_prefix = options.key_prefix](std::string_view name) {
    return std::make_shared<RedisBucket>(rates, server, prefix + std::string(name), key_prefix);
  };
  return std::make_shared<PerNameBucketFactory>(std::move(make));
}

}  // namespace pyrate
