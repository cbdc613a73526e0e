// An HTTP server that limits each API key on its own: every request names its key in the
// X-Api-Key header and is answered 200 when the key's bucket admits it, 429 when it does not,
// both with the headers of pyrate::http_headers. The buckets live in one SQLite file, so a
// restarted server keeps every key's limit. Acquires go through an AsyncLimiter: a request
// that waits for its slot holds a timer, not a thread, and SQLite runs on the limiter's own
// thread, so the one I/O thread never blocks.
//
// A request is refused at once unless it asks to wait with ?wait=MS (1 to 60000): then it is
// held until its key has room or MS milliseconds have passed. A client that hangs up while
// its request waits does not cancel the wait (Boost 1.74's Asio has no per-operation
// cancellation, and AsyncLimiter::cancel() cancels every acquire): its slot is still taken
// when the wait ends in an admission, and the answer is dropped.
//
// Usage: http_server --db PATH [--port N] [--rate SPEC]...
// Prints the port it listens on (on 127.0.0.1) as one line once it accepts connections; stops
// on SIGTERM or SIGINT, answering 503 to the requests still waiting.
//
//   curl -i -H 'X-Api-Key: alice' 'http://127.0.0.1:8080/?wait=2000'

// Before any Boost.Asio header: with GCC 12 and Boost 1.74, awaitable.hpp needs std::exchange.
#include <utility>
//
#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <pyrate/async_limiter.hpp>
#include <pyrate/pyrate.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr std::string_view kUsage =
    "Usage: http_server --db PATH [--port N] [--rate SPEC]...\n"
    "Answers HTTP requests on 127.0.0.1, limiting each X-Api-Key on its own; the limits are\n"
    "kept in the SQLite file PATH (made if missing), so they survive a restart.\n"
    "\n"
    "  --db PATH     the SQLite file of the buckets (one per key, named api/KEY)\n"
    "  --port N      the port to listen on; 0 (the default) picks a free one\n"
    "  --rate SPEC   a limit per key, LIMIT/[N]UNIT with UNIT one of ms, s, min, h, day\n"
    "                (5/s, 10/2s, 100/min); repeat for several; default 5/s\n"
    "  --help        print this and exit\n"
    "\n"
    "Prints the port once it listens. Each request names its key in the X-Api-Key header\n"
    "(400 without it) and is answered 200 or 429 at once, or, with ?wait=MS (1 to 60000),\n"
    "after waiting up to MS milliseconds for its key to have room. Stops on SIGTERM or SIGINT.\n";

// The longest wait a request may ask for, in milliseconds.
constexpr std::int64_t kLongestWait = 60'000;
// How long a connection may take to send a request, and the answer to be sent.
constexpr std::chrono::seconds kIoTimeout{30};

struct Options {
  std::string db_path;
  unsigned short port = 0;
  std::vector<pyrate::Rate> rates;
};

// `text` as a whole number in [low, high], or nullopt.
std::optional<std::int64_t> parse_number(std::string_view text, std::int64_t low,
                                         std::int64_t high) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < low || value > high) {
    return std::nullopt;
  }
  return value;
}

// SPEC = LIMIT/[N]UNIT as the pyrate command writes rates. Throws std::invalid_argument.
pyrate::Rate parse_rate(std::string_view spec) {
  const std::string_view::size_type slash = spec.find('/');
  const std::string_view::size_type unit_at = spec.find_first_not_of("0123456789", slash + 1);
  const std::optional<std::int64_t> limit =
      slash == std::string_view::npos ? std::nullopt
                                      : parse_number(spec.substr(0, slash), 1, 1'000'000'000);
  if (!limit || unit_at == std::string_view::npos) {
    throw std::invalid_argument("bad --rate '" + std::string(spec) + "'");
  }
  const std::string_view count_text = spec.substr(slash + 1, unit_at - slash - 1);
  const std::optional<std::int64_t> count =
      count_text.empty() ? 1 : parse_number(count_text, 1, 1'000'000);
  const std::string_view unit = spec.substr(unit_at);
  pyrate::Millis unit_ms = 0;
  if (unit == "ms") unit_ms = 1;
  if (unit == "s") unit_ms = static_cast<pyrate::Millis>(pyrate::Duration::Second);
  if (unit == "min") unit_ms = static_cast<pyrate::Millis>(pyrate::Duration::Minute);
  if (unit == "h") unit_ms = static_cast<pyrate::Millis>(pyrate::Duration::Hour);
  if (unit == "day") unit_ms = static_cast<pyrate::Millis>(pyrate::Duration::Day);
  if (!count || unit_ms == 0) throw std::invalid_argument("bad --rate '" + std::string(spec) + "'");
  return pyrate::Rate(*limit, *count * unit_ms);
}

// The options of `argv`; nullopt after printing the usage for --help. Throws
// std::invalid_argument naming what is wrong.
std::optional<Options> parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view option = argv[i];
    if (option == "--help") {
      std::cout << kUsage;
      return std::nullopt;
    }
    if (option != "--db" && option != "--port" && option != "--rate") {
      throw std::invalid_argument("unknown option '" + std::string(option) + "'");
    }
    if (i + 1 == argc) throw std::invalid_argument(std::string(option) + " needs a value");
    const std::string_view value = argv[++i];
    if (option == "--db") {
      options.db_path = value;
    } else if (option == "--port") {
      const std::optional<std::int64_t> port = parse_number(value, 0, 65535);
      if (!port) throw std::invalid_argument("bad --port '" + std::string(value) + "'");
      options.port = static_cast<unsigned short>(*port);
    } else {
      options.rates.push_back(parse_rate(value));
    }
  }
  if (options.db_path.empty()) throw std::invalid_argument("--db is required");
  if (options.rates.empty()) options.rates.emplace_back(5, pyrate::Duration::Second);
  std::sort(options.rates.begin(), options.rates.end(),
            [](const pyrate::Rate& a, const pyrate::Rate& b) { return a.interval < b.interval; });
  if (!pyrate::validate_rate_list(options.rates)) {
    throw std::invalid_argument(
        "bad --rate list: by interval, limits must increase and limit/interval must not");
  }
  return options;
}

// The milliseconds a request target asks to wait (its query's wait=MS), 0 when it does not
// ask; nullopt for a wait that is not a number from 1 to kLongestWait.
std::optional<std::int64_t> requested_wait(std::string_view target) {
  const std::string_view::size_type query_at = target.find('?');
  if (query_at == std::string_view::npos) return 0;
  std::string_view query = target.substr(query_at + 1);
  std::int64_t wait = 0;
  while (!query.empty()) {
    const std::string_view::size_type end = query.find('&');
    const std::string_view parameter = query.substr(0, end);
    query = end == std::string_view::npos ? std::string_view() : query.substr(end + 1);
    if (parameter.substr(0, 5) == "wait=") {
      const std::optional<std::int64_t> value = parse_number(parameter.substr(5), 1, kLongestWait);
      if (!value) return std::nullopt;
      wait = *value;
    }
  }
  return wait;
}

class Server;

// One connection: reads a request, answers it, and reads the next while the client keeps the
// connection alive. Runs on the server's one I/O thread, so it needs no lock.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Server& server);
  ~Session();

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() { read(); }
  // Closes the connection if it is between requests or receiving one (the read ends with an
  // error, which ends the session); a session that is answering finishes its answer and then
  // closes, as the server is stopping.
  void close_if_reading();

 private:
  void read();
  void handle();
  void answer(http::status status, const pyrate::Decision* decision, std::string body);

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
  bool reading_ = false;
  Server& server_;
};

// Accepts connections on 127.0.0.1 and serves them until stop().
class Server {
 public:
  Server(asio::io_context& io, const Options& options)
      : acceptor_(io, tcp::endpoint(asio::ip::address_v4::loopback(), options.port)),
        limiter_(io.get_executor(), pyrate::per_name_sqlite_factory(options.rates, [&] {
                   pyrate::SQLiteOptions sqlite;
                   sqlite.db_path = options.db_path;
                   sqlite.bucket = "api";
                   return sqlite;
                 }())) {}

  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  pyrate::AsyncLimiter& limiter() { return limiter_; }

  void accept() {
    acceptor_.async_accept([this](beast::error_code error, tcp::socket socket) {
      if (stopping_) return;
      if (!error) std::make_shared<Session>(std::move(socket), *this)->start();
      accept();
    });
  }

  // Stops accepting, answers the waiting requests 503 (their acquires end with
  // operation_aborted), closes the buckets and every connection. io.run() then returns.
  void stop() {
    stopping_ = true;
    beast::error_code ignored;
    acceptor_.close(ignored);
    limiter_.close();
    for (Session* session : sessions_) session->close_if_reading();
  }
  bool stopping() const { return stopping_; }

  void add(Session* session) { sessions_.insert(session); }
  void remove(Session* session) { sessions_.erase(session); }

 private:
  tcp::acceptor acceptor_;
  pyrate::AsyncLimiter limiter_;
  std::unordered_set<Session*> sessions_;
  bool stopping_ = false;
};

Session::Session(tcp::socket socket, Server& server) : stream_(std::move(socket)), server_(server) {
  server_.add(this);
}

Session::~Session() { server_.remove(this); }

void Session::close_if_reading() {
  beast::error_code ignored;
  if (reading_) stream_.socket().close(ignored);
}

void Session::read() {
  reading_ = true;
  request_ = {};
  stream_.expires_after(kIoTimeout);
  http::async_read(stream_, buffer_, request_,
                   [self = shared_from_this()](beast::error_code error, std::size_t) {
                     // A request read just before stop() is dropped with its connection.
                     if (!error && !self->server_.stopping()) self->handle();
                   });
}

void Session::handle() {
  reading_ = false;
  const beast::string_view key_field = request_["X-Api-Key"];
  const beast::string_view target = request_.target();
  const std::string key(key_field.data(), key_field.size());
  const std::optional<std::int64_t> wait =
      requested_wait(std::string_view(target.data(), target.size()));
  if (key.empty()) return answer(http::status::bad_request, nullptr, "no X-Api-Key header\n");
  if (!wait) return answer(http::status::bad_request, nullptr, "wait must be 1 to 60000 ms\n");
  pyrate::AcquireOptions options;
  options.blocking = *wait > 0;
  if (options.blocking) options.timeout = std::chrono::milliseconds(*wait);
  stream_.expires_never();  // the wait is bounded by the acquire's own timeout
  server_.limiter().async_acquire(
      key, options,
      [self = shared_from_this()](std::exception_ptr error, pyrate::Decision decision) {
        if (!error) {
          const bool admitted = decision.admitted;
          return self->answer(admitted ? http::status::ok : http::status::too_many_requests,
                              &decision, admitted ? "ok\n" : "too many requests\n");
        }
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& failure) {
          const auto* system = dynamic_cast<const boost::system::system_error*>(&failure);
          if (system && system->code() == asio::error::operation_aborted) {
            return self->answer(http::status::service_unavailable, nullptr, "stopping\n");
          }
          std::cerr << "http_server: " << failure.what() << '\n';
        }
        self->answer(http::status::internal_server_error, nullptr, "internal error\n");
      });
}

void Session::answer(http::status status, const pyrate::Decision* decision, std::string body) {
  response_ = {status, request_.version()};
  response_.set(http::field::content_type, "text/plain");
  if (decision) {
    for (const auto& [name, value] : pyrate::http_headers(*decision)) response_.set(name, value);
  }
  response_.keep_alive(request_.keep_alive() && !server_.stopping());
  response_.body() = std::move(body);
  response_.prepare_payload();
  stream_.expires_after(kIoTimeout);
  http::async_write(stream_, response_,
                    [self = shared_from_this()](beast::error_code error, std::size_t) {
                      if (error) return;  // the client hung up
                      if (self->response_.keep_alive() && !self->server_.stopping()) {
                        return self->read();
                      }
                      beast::error_code ignored;
                      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                    });
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<Options> options;
  try {
    options = parse_options(argc, argv);
    if (!options) return 0;
  } catch (const std::invalid_argument& error) {
    std::cerr << "http_server: " << error.what() << " (see --help)\n";
    return 2;
  }
  try {
    asio::io_context io(1);
    Server server(io, *options);
    asio::signal_set signals(io, SIGTERM, SIGINT);
    signals.async_wait([&server](beast::error_code error, int) {
      if (!error) server.stop();
    });
    server.accept();
    std::cout << server.port() << std::endl;
    io.run();
  } catch (const std::exception& error) {
    std::cerr << "http_server: " << error.what() << '\n';
    return 1;
  }
}
