// Where a Redis server is, as RedisOptions::url names it.
#pragma once

#include <string>
#include <string_view>

namespace pyrate::redis {

// A parsed "redis://[[user]:password@]host[:port][/db]" or
// "unix://[[user]:password@]/path[?db=N]".
struct RedisUrl {
  enum class Transport { Tcp, Unix };

  Transport transport = Transport::Tcp;
  std::string host;      // Tcp: a name or an address ("::1" for "[::1]")
  int port = 6379;       // Tcp
  std::string path;      // Unix: the socket's path
  std::string user;      // empty: AUTH with the password alone
  std::string password;  // empty: no AUTH
  int database = 0;      // SELECTed when not 0
  // The URL without user and password, for messages: "redis://host:port/db", "unix:///path"
  // (with "?db=N" when N is not 0).
  std::string redacted;

  // Parses `url`; user and password are percent-decoded. Throws std::invalid_argument for
  // anything else; the message never holds the user or the password.
  static RedisUrl parse(std::string_view url);
};

}  // namespace pyrate::redis
