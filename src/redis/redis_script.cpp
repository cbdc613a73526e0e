#include "redis/redis_script.hpp"

namespace pyrate::redis {

void Script::load(Connection& connection) {
  const Reply reply = connection.checked_command({"SCRIPT", "LOAD", source_}, "SCRIPT LOAD");
  sha1_.assign(reply->str, reply->len);
}

Reply Script::run(Connection& connection, const std::vector<std::string_view>& keys,
                  const std::vector<std::string_view>& arguments, const char* operation) const {
  const std::string key_count = std::to_string(keys.size());
  std::vector<std::string_view> command{"EVALSHA", sha1_, key_count};
  command.insert(command.end(), keys.begin(), keys.end());
  command.insert(command.end(), arguments.begin(), arguments.end());
  Reply reply = connection.command(command, operation);
  if (reply->type == REDIS_REPLY_ERROR &&
      std::string_view(reply->str, reply->len).starts_with("NOSCRIPT")) {
    command[0] = "EVAL";
    command[1] = source_;
    reply = connection.command(command, operation);
  }
  if (reply->type == REDIS_REPLY_ERROR) connection.throw_error_reply(*reply, operation);
  return reply;
}

}  // namespace pyrate::redis
