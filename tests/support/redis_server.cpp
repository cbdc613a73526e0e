#include "support/redis_server.hpp"

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace pyrate::testing {
namespace {

// A TCP port on 127.0.0.1 that nothing listens on now.
int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw std::system_error(errno, std::generic_category(), "bind to a free loopback port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

RedisValue to_value(const redisReply& reply) {
  RedisValue value;
  switch (reply.type) {
    case REDIS_REPLY_STRING:
      value.type = RedisValue::Type::String;
      break;
    case REDIS_REPLY_ARRAY:
      value.type = RedisValue::Type::Array;
      break;
    case REDIS_REPLY_INTEGER:
      value.type = RedisValue::Type::Integer;
      break;
    case REDIS_REPLY_STATUS:
      value.type = RedisValue::Type::Status;
      break;
    case REDIS_REPLY_ERROR:
      value.type = RedisValue::Type::Error;
      break;
    default:
      value.type = RedisValue::Type::Nil;
  }
  value.integer = reply.integer;
  if (reply.str) value.text.assign(reply.str, reply.len);
  for (std::size_t i = 0; i < reply.elements; ++i)
    value.elements.push_back(to_value(*reply.element[i]));
  return value;
}

}  // namespace

RedisServer::RedisServer(RedisServerOptions options) : options_(std::move(options)) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    port_ = options_.unix_socket ? 0 : free_loopback_port();
    if (launch()) return;
  }
  throw std::runtime_error("redis-server did not start; see " + dir_.file("redis.log"));
}

RedisServer::~RedisServer() { kill(); }

std::string RedisServer::url() const { return url_with_password(options_.password); }

std::string RedisServer::url_with_password(const std::string& password) const {
  const std::string credentials = password.empty() ? "" : ":" + password + "@";
  if (options_.unix_socket) return "unix://" + credentials + dir_.file("redis.sock");
  return "redis://" + credentials + "127.0.0.1:" + std::to_string(port_);
}

bool RedisServer::launch() {
  std::vector<std::string> arguments{"redis-server",
                                     "--bind",
                                     "127.0.0.1",
                                     "--port",
                                     std::to_string(port_),
                                     "--dir",
                                     dir_.path().string(),
                                     "--logfile",
                                     dir_.file("redis.log"),
                                     "--daemonize",
                                     "no",
                                     "--save",
                                     ""};
  if (options_.unix_socket) {
    arguments.insert(arguments.end(),
                     {"--unixsocket", dir_.file("redis.sock"), "--unixsocketperm", "700"});
  }
  if (!options_.password.empty())
    arguments.insert(arguments.end(), {"--requirepass", options_.password});
  if (options_.append_only) {
    arguments.insert(arguments.end(), {"--appendonly", "yes", "--appendfsync", "always"});
  } else {
    arguments.insert(arguments.end(), {"--appendonly", "no"});
  }
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);

  pid_ = ::fork();
  if (pid_ < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid_ == 0) {
    ::execvp("redis-server", argv.data());
    ::_exit(127);
  }
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < give_up) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    try {
      if (command({"PING"}).text == "PONG") return true;
    } catch (const std::runtime_error&) {
      // not listening yet
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill();
  return false;
}

void RedisServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

void RedisServer::restart() {
  kill();
  if (!launch()) throw std::runtime_error("redis-server did not start again on its port");
}

void RedisServer::pause() const { ::kill(pid_, SIGSTOP); }

void RedisServer::resume() const { ::kill(pid_, SIGCONT); }

RedisValue RedisServer::command(const std::vector<std::string>& arguments) const {
  const timeval timeout{5, 0};
  redisContext* context =
      options_.unix_socket ? redisConnectUnixWithTimeout(dir_.file("redis.sock").c_str(), timeout)
                           : redisConnectWithTimeout("127.0.0.1", port_, timeout);
  if (context == nullptr || context->err) {
    const std::string cause = context ? context->errstr : "out of memory";
    if (context) redisFree(context);
    throw std::runtime_error("cannot reach the test's redis-server: " + cause);
  }
  redisSetTimeout(context, timeout);
  const auto run = [&](const std::vector<std::string>& command) {
    std::vector<const char*> pointers;
    std::vector<std::size_t> lengths;
    for (const std::string& argument : command) {
      pointers.push_back(argument.data());
      lengths.push_back(argument.size());
    }
    auto* reply = static_cast<redisReply*>(redisCommandArgv(
        context, static_cast<int>(command.size()), pointers.data(), lengths.data()));
    if (reply == nullptr) {
      const std::string cause = context->errstr;
      redisFree(context);
      throw std::runtime_error("the test's redis-server did not answer: " + cause);
    }
    RedisValue value = to_value(*reply);
    freeReplyObject(reply);
    return value;
  };
  if (!options_.password.empty()) run({"AUTH", options_.password});
  RedisValue value = run(arguments);
  redisFree(context);
  return value;
}

}  // namespace pyrate::testing
