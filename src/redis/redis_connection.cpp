#include "redis/redis_connection.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <string>

#include "pyrate/errors.hpp"

namespace pyrate::redis {
namespace {

timeval to_timeval(std::chrono::milliseconds duration) {
  timeval value{};
  value.tv_sec = static_cast<time_t>(duration.count() / 1000);
  value.tv_usec = static_cast<suseconds_t>(duration.count() % 1000 * 1000);
  return value;
}

redisContext* connect(const RedisUrl& url, std::chrono::milliseconds timeout) {
  const bool timed = timeout.count() > 0;
  if (url.transport == RedisUrl::Transport::Unix) {
    return timed ? redisConnectUnixWithTimeout(url.path.c_str(), to_timeval(timeout))
                 : redisConnectUnix(url.path.c_str());
  }
  return timed ? redisConnectWithTimeout(url.host.c_str(), url.port, to_timeval(timeout))
               : redisConnect(url.host.c_str(), url.port);
}

// Error replies that mean "try again later" rather than "fix something".
bool means_unavailable(std::string_view message) {
  for (std::string_view prefix : {"LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN"}) {
    if (message.starts_with(prefix)) return true;
  }
  return false;
}

}  // namespace

Connection::Connection(const RedisUrl& url, Timeouts timeouts) : url_(url), timeouts_(timeouts) {
  open();
}

void Connection::open() {
  if (!context_) {
    std::unique_ptr<redisContext, ContextDeleter> context(connect(url_, timeouts_.connect));
    if (!context) throw_unavailable("connect", "out of memory");
    if (context->err) throw_unavailable("connect", context->errstr);
    context_ = std::move(context);
  } else if (redisReconnect(context_.get()) != REDIS_OK) {
    throw_unavailable("reconnect", context_->errstr);
  }
  if (timeouts_.command.count() > 0 &&
      redisSetTimeout(context_.get(), to_timeval(timeouts_.command)) != REDIS_OK) {
    throw_unavailable("set the command timeout", context_->errstr);
  }
  if (!url_.password.empty()) {
    std::vector<std::string_view> auth{"AUTH"};
    if (!url_.user.empty()) auth.emplace_back(url_.user);
    auth.emplace_back(url_.password);
    checked_command(auth, "AUTH");
  }
  if (url_.database != 0) {
    const std::string database = std::to_string(url_.database);
    checked_command({"SELECT", database}, "SELECT");
  }
}

bool Connection::broken() const {
  if (context_->err) return true;
  // An idle connection has nothing to read: readable means that the server closed it (or sent
  // something unasked, which leaves the connection out of step all the same).
  pollfd watched{context_->fd, POLLIN, 0};
  return ::poll(&watched, 1, 0) != 0;
}

Reply Connection::command(const std::vector<std::string_view>& arguments, const char* operation) {
  if (broken()) open();
  std::vector<const char*> pointers;
  std::vector<std::size_t> lengths;
  pointers.reserve(arguments.size());
  lengths.reserve(arguments.size());
  for (std::string_view argument : arguments) {
    pointers.push_back(argument.data());
    lengths.push_back(argument.size());
  }
  Reply reply(static_cast<redisReply*>(redisCommandArgv(
      context_.get(), static_cast<int>(arguments.size()), pointers.data(), lengths.data())));
  if (!reply) {
    const bool timed_out = context_->err == REDIS_ERR_IO &&
                           (errno == EAGAIN || errno == EWOULDBLOCK || errno == ETIMEDOUT);
    throw_unavailable(operation, timed_out ? "no answer within the command timeout of " +
                                                 std::to_string(timeouts_.command.count()) + " ms"
                                           : std::string(context_->errstr));
  }
  return reply;
}

Reply Connection::checked_command(const std::vector<std::string_view>& arguments,
                                  const char* operation) {
  Reply reply = command(arguments, operation);
  if (reply->type == REDIS_REPLY_ERROR) throw_error_reply(*reply, operation);
  return reply;
}

void Connection::throw_error_reply(const redisReply& reply, const char* operation) const {
  const std::string message(reply.str, reply.len);
  const std::string what = url_.redacted + ": " + operation + ": " + message;
  if (means_unavailable(message)) throw StorageUnavailableError(what);
  throw StorageError(what);
}

void Connection::throw_unavailable(const char* operation, std::string_view cause) const {
  throw StorageUnavailableError(url_.redacted + ": " + operation +
                                ": server unavailable: " + std::string(cause));
}

}  // namespace pyrate::redis
