#include "redis/redis_url.hpp"

#include <charconv>
#include <optional>
#include <stdexcept>

namespace pyrate::redis {
namespace {

constexpr std::string_view kTcpScheme = "redis://";
constexpr std::string_view kUnixScheme = "unix://";

[[noreturn]] void fail(std::string_view reason) {
  throw std::invalid_argument("invalid Redis URL: " + std::string(reason) +
                              " (expected redis://[[user]:password@]host[:port][/db] or "
                              "unix://[[user]:password@]/path[?db=N])");
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decoded(std::string_view text) {
  std::string decoded;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      decoded += text[i];
      continue;
    }
    const int high = i + 2 < text.size() ? hex_digit(text[i + 1]) : -1;
    const int low = high >= 0 ? hex_digit(text[i + 2]) : -1;
    if (low < 0) fail("a '%' in the user or password is not followed by two hex digits");
    decoded += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return decoded;
}

// A decimal number in [0, max]; `what` names it in the message.
int bounded_number(std::string_view digits, int max, const char* what) {
  int value = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() || value < 0 ||
      value > max) {
    fail(std::string(what) + " must be a number from 0 to " + std::to_string(max));
  }
  return value;
}

// Sets user and password from "[user]:password".
void set_credentials(std::string_view credentials, RedisUrl& url) {
  const auto colon = credentials.find(':');
  if (colon == std::string_view::npos) fail("the password must follow a ':' before the '@'");
  url.user = percent_decoded(credentials.substr(0, colon));
  url.password = percent_decoded(credentials.substr(colon + 1));
  if (url.password.empty()) fail("the password before the '@' is empty");
}

void parse_tcp(std::string_view rest, RedisUrl& url) {
  const auto at = rest.rfind('@');
  if (at != std::string_view::npos) {
    set_credentials(rest.substr(0, at), url);
    rest.remove_prefix(at + 1);
  }
  std::string_view authority = rest;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    const std::string_view database = rest.substr(slash + 1);
    if (!database.empty()) url.database = bounded_number(database, 1'000'000, "the database");
  }
  std::optional<std::string_view> port;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) fail("a '[' opens an address that no ']' closes");
    url.host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) fail("only ':port' may follow ']'");
      port = after.substr(1);
    }
  } else {
    const auto colon = authority.find(':');
    url.host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (url.host.empty()) fail("the host is missing");
  if (port) {
    url.port = bounded_number(*port, 65535, "the port");
    if (url.port == 0) fail("the port must be a number from 1 to 65535");
  }
  const bool bracketed = url.host.find(':') != std::string::npos;
  url.redacted = std::string(kTcpScheme) + (bracketed ? "[" + url.host + "]" : url.host) + ":" +
                 std::to_string(url.port) + "/" + std::to_string(url.database);
}

void parse_unix(std::string_view rest, RedisUrl& url) {
  url.transport = RedisUrl::Transport::Unix;
  if (!rest.starts_with('/')) {
    const auto at = rest.find("@/");
    if (at == std::string_view::npos) fail("the socket's path must be absolute");
    set_credentials(rest.substr(0, at), url);
    rest.remove_prefix(at + 1);
  }
  if (const auto query = rest.find('?'); query != std::string_view::npos) {
    const std::string_view parameter = rest.substr(query + 1);
    if (!parameter.starts_with("db=")) fail("the only query parameter is db=N");
    url.database = bounded_number(parameter.substr(3), 1'000'000, "the database");
    rest = rest.substr(0, query);
  }
  if (rest.size() < 2) fail("the socket's path is missing");
  url.path = rest;
  url.redacted = std::string(kUnixScheme) + url.path;
  if (url.database != 0) url.redacted += "?db=" + std::to_string(url.database);
}

}  // namespace

RedisUrl RedisUrl::parse(std::string_view text) {
  RedisUrl url;
  if (text.starts_with(kTcpScheme)) {
    parse_tcp(text.substr(kTcpScheme.size()), url);
  } else if (text.starts_with(kUnixScheme)) {
    parse_unix(text.substr(kUnixScheme.size()), url);
  } else {
    fail("it must start with redis:// or unix://");
  }
  return url;
}

}  // namespace pyrate::redis
