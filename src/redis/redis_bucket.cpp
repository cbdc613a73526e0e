#include "pyrate/redis_bucket.hpp"

#include <charconv>
#include <limits>
#include <stdexcept>
#include <string>

#include "pyrate/errors.hpp"
#include "redis/redis_bucket_scripts.hpp"
#include "redis/redis_connection_pool.hpp"
#include "redis/redis_script.hpp"
#include "redis/redis_url.hpp"

namespace pyrate {
namespace {

std::chrono::milliseconds checked_timeout(std::chrono::milliseconds timeout, const char* name) {
  if (timeout.count() < 0) {
    throw std::invalid_argument(std::string(name) + " must not be negative, got " +
                                std::to_string(timeout.count()) + " ms");
  }
  return timeout;
}

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

// The server's clock, read with TIME, in Unix milliseconds.
class ServerClock final : public Clock {
 public:
  explicit ServerClock(std::shared_ptr<redis::ConnectionPool> pool) : pool_(std::move(pool)) {}

  Millis now() override {
    std::optional<redis::ConnectionPool::Lease> connection = pool_->borrow();
    if (!connection) throw std::logic_error("now: the bucket is closed");
    const redis::Reply reply = (*connection)->checked_command({"TIME"}, "TIME");
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
      throw StorageError(pool_->url().redacted + ": TIME: unexpected answer");
    }
    return to_integer(*reply->element[0]) * 1000 + to_integer(*reply->element[1]) / 1000;
  }

 private:
  std::shared_ptr<redis::ConnectionPool> pool_;
};

}  // namespace

struct RedisBucket::Impl {
  Impl(const std::vector<Rate>& rates, RedisOptions options);

  // Runs `operation` on a borrowed connection; throws std::logic_error naming `name` once the
  // bucket is closed.
  template <class Operation>
  auto on_connection(const char* name, Operation operation) {
    std::optional<redis::ConnectionPool::Lease> connection = pool->borrow();
    if (!connection) throw std::logic_error(std::string(name) + ": the bucket is closed");
    return operation(**connection);
  }

  // The decision on `item`, recorded when admitted and `record` is set.
  Decision decide(const std::vector<Rate>& rates, const RateItem& item, bool record);

  const std::string bucket;
  const std::shared_ptr<redis::ConnectionPool> pool;
  const std::string entries_key;
  const std::string times_key;
  const std::string widest_key;
  std::vector<std::string> rate_arguments;  // limit, interval of each rate
  std::string widest;                       // the widest interval of the rates
  redis::Script decide_script{redis::decide_script()};
  redis::Script count_script{redis::count_script()};
  redis::Script peek_script{redis::peek_script()};
  redis::Script leak_script{redis::leak_script()};
};

RedisBucket::Impl::Impl(const std::vector<Rate>& rates, RedisOptions options)
    : bucket(std::move(options.bucket)),
      pool(std::make_shared<redis::ConnectionPool>(
          redis::RedisUrl::parse(options.url),
          redis::Timeouts{checked_timeout(options.connect_timeout, "connect_timeout"),
                          checked_timeout(options.command_timeout, "command_timeout")})),
      entries_key(options.key_prefix + "{" + bucket + "}:entries"),
      times_key(options.key_prefix + "{" + bucket + "}:times"),
      widest_key(options.key_prefix + "{" + bucket + "}:widest"),
      widest(std::to_string(exact_in_scripts(rates).back().interval)) {
  for (const Rate& rate : rates) {
    rate_arguments.push_back(std::to_string(rate.limit));
    rate_arguments.push_back(std::to_string(rate.interval));
  }
  on_connection("open", [&](redis::Connection& connection) {
    for (redis::Script* script : {&decide_script, &count_script, &peek_script, &leak_script}) {
      script->load(connection);
    }
  });
}

Decision RedisBucket::Impl::decide(const std::vector<Rate>& rates, const RateItem& item,
                                   bool record) {
  const std::string timestamp = std::to_string(item.timestamp);
  const std::string weight = std::to_string(item.weight);
  std::vector<std::string_view> arguments{timestamp, weight, record ? "1" : "0", item.name, widest};
  arguments.insert(arguments.end(), rate_arguments.begin(), rate_arguments.end());
  const char* const operation = record ? "put" : "waiting";
  const redis::Reply reply = on_connection(operation, [&](redis::Connection& connection) {
    return decide_script.run(connection, {entries_key, times_key, widest_key}, arguments,
                             operation);
  });
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 6) {
    throw StorageError(pool->url().redacted + ": " + operation + ": unexpected answer");
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
    : AbstractBucket(std::move(rates)),
      impl_(std::make_unique<Impl>(this->rates(), std::move(options))) {
  set_clock(std::make_shared<ServerClock>(impl_->pool));
}

RedisBucket::~RedisBucket() { close(); }

const std::string& RedisBucket::url() const { return impl_->pool->url().redacted; }

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
  std::optional<redis::ConnectionPool::Lease> connection = impl_->pool->borrow();
  if (!connection) return 0;
  const redis::Reply reply = impl_->leak_script.run(
      **connection, {impl_->entries_key, impl_->times_key, impl_->widest_key},
      {timestamp, impl_->widest}, "leak");
  return to_integer(*reply);
}

void RedisBucket::flush() {
  throw_if_closed("flush");
  impl_->on_connection("flush", [&](redis::Connection& connection) {
    connection.checked_command({"DEL", impl_->entries_key, impl_->times_key}, "flush");
  });
  set_failing_rate(std::nullopt);
}

std::int64_t RedisBucket::count() {
  throw_if_closed("count");
  return impl_->on_connection("count", [&](redis::Connection& connection) {
    return to_integer(*impl_->count_script.run(connection, {impl_->entries_key}, {}, "count"));
  });
}

std::optional<RateItem> RedisBucket::peek(std::int64_t index) {
  throw_if_closed("peek");
  if (index < 0) return std::nullopt;
  const std::string position = std::to_string(index);
  return impl_->on_connection(
      "peek", [&](redis::Connection& connection) -> std::optional<RateItem> {
        const redis::Reply reply =
            impl_->peek_script.run(connection, {impl_->entries_key}, {position}, "peek");
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) return std::nullopt;
        return RateItem{std::string(reply->element[1]->str, reply->element[1]->len),
                        to_integer(*reply->element[0]), 1};
      });
}

void RedisBucket::close() {
  impl_->pool->close();
  AbstractBucket::close();
}

}  // namespace pyrate
