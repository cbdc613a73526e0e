// The HTTP server example (examples/http_server.cpp, HTTP_SERVER_PATH), run as a real process
// on a free port and driven by curl processes, several at once. Admissions are judged by the
// stamps the server stored in its SQLite file. Every wait on a process is bounded: curl by
// --max-time, the server's start and stop by a patience after which it is killed.
#include <SQLiteCpp/SQLiteCpp.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <pyrate/rate.hpp>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "scratch/temporary_directory.hpp"
#include "support/window_check.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Generous for sanitizer builds: the server opens its file and binds well within this.
constexpr milliseconds kStartPatience{30'000};
// How long the server may take to stop after SIGTERM.
constexpr milliseconds kStopPatience{30'000};

// A program started with `argv` (argv[0] found on PATH), its stdout read through a pipe and
// its stderr the test's own. Destruction kills and reaps it if it still runs.
class Process {
 public:
  explicit Process(const std::vector<std::string>& argv) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category());
    pid_ = ::fork();
    if (pid_ < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      std::vector<char*> args;
      for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    ::close(out[1]);
    out_fd_ = out[0];
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  Process(Process&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)),
        out_fd_(std::exchange(other.out_fd_, -1)),
        status_(other.status_),
        out_(std::move(other.out_)) {}
  ~Process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
  }

  void signal(int number) const { ::kill(pid_, number); }

  // True while the process has not exited.
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == 0) return true;
    pid_ = -1;
    status_ = status;
    return false;
  }

  // The first line of stdout not read yet, without its '\n'; "" when stdout closes or
  // `patience` passes first.
  std::string read_line(milliseconds patience) {
    const Clock::time_point deadline = Clock::now() + patience;
    std::string::size_type end;
    while ((end = out_.find('\n')) == std::string::npos && read_some(deadline)) {
    }
    if (end == std::string::npos) return "";
    std::string line = out_.substr(0, end);
    out_.erase(0, end + 1);
    return line;
  }

  // Reads stdout to its end and reaps the process, killing it once `patience` has passed.
  // Returns its exit code, or 128 + the signal that ended it.
  int finish(milliseconds patience) {
    const Clock::time_point deadline = Clock::now() + patience;
    while (read_some(deadline)) {
    }
    while (running() && Clock::now() < deadline) ::usleep(10'000);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status_, 0);
      pid_ = -1;
    }
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
  }

  // What stdout gave and no read_line took.
  const std::string& output() const { return out_; }

 private:
  // Appends what stdout gives before `deadline`; false at its end or at the deadline.
  bool read_some(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd ready{out_fd_, POLLIN, 0};
    const int polled = ::poll(&ready, 1, static_cast<int>(left.count()));
    if (polled < 0 && errno == EINTR) return true;
    if (polled <= 0) return false;
    char buffer[4096];
    const ssize_t got = ::read(out_fd_, buffer, sizeof buffer);
    if (got <= 0) return false;
    out_.append(buffer, static_cast<std::size_t>(got));
    return true;
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int status_ = 0;
  std::string out_;
};

// The server on a free port of 127.0.0.1, with the buckets in `db` and the limits `rates`.
class Server {
 public:
  Server(const std::string& db, const std::vector<std::string>& rates)
      : process_(arguments(db, rates)) {
    const std::string line = process_.read_line(kStartPatience);
    INFO("the server's first line: '" << line << "'");
    REQUIRE(!line.empty());
    REQUIRE(line.find_first_not_of("0123456789") == std::string::npos);
    port_ = std::stoi(line);
    REQUIRE(port_ > 0);
  }

  int port() const { return port_; }
  bool running() { return process_.running(); }

  // Sends SIGTERM and reaps the server; returns its exit code (128 + signal when killed).
  int stop() {
    process_.signal(SIGTERM);
    return process_.finish(kStopPatience);
  }

 private:
  static std::vector<std::string> arguments(const std::string& db,
                                            const std::vector<std::string>& rates) {
    std::vector<std::string> argv{HTTP_SERVER_PATH, "--port", "0", "--db", db};
    for (const std::string& rate : rates) {
      argv.push_back("--rate");
      argv.push_back(rate);
    }
    return argv;
  }

  Process process_;
  int port_ = 0;
};

// What one curl run gave: its exit code (28: --max-time passed) and the response.
struct Response {
  int curl_exit = -1;
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  double seconds = 0;  // from start to the end of curl

  bool has(const std::string& name) const { return headers.count(name) != 0; }
  // The value of the field `name` (lower case), "" when absent.
  std::string header(const std::string& name) const {
    const auto found = headers.find(name);
    return found == headers.end() ? "" : found->second;
  }
};

// A curl process asking the server for "/" + `query`, with "X-Api-Key: KEY" when `key` is
// given (an empty one sends the header without a value), that gives up after `max_time`.
class Request {
 public:
  Request(int port, std::optional<std::string> key, const std::string& query = "",
          std::chrono::seconds max_time = std::chrono::seconds(30))
      : start_(Clock::now()),
        max_time_(max_time),
        process_(arguments(port, key, query, max_time)) {}

  // Waits for curl to end (killing it 10 s after its own --max-time at the latest).
  Response wait() {
    Response response;
    response.curl_exit = process_.finish(max_time_ + milliseconds(10'000));
    response.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    const std::string& out = process_.output();
    const std::string::size_type head_end = out.find("\r\n\r\n");
    if (head_end == std::string::npos) return response;
    response.body = out.substr(head_end + 4);
    std::string::size_type line_start = out.find("\r\n") + 2;
    const std::string status_line = out.substr(0, line_start - 2);
    const std::string::size_type space = status_line.find(' ');
    if (space != std::string::npos) response.status = std::stoi(status_line.substr(space + 1));
    while (line_start < head_end) {
      const std::string::size_type line_end = out.find("\r\n", line_start);
      const std::string line = out.substr(line_start, line_end - line_start);
      const std::string::size_type colon = line.find(':');
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      response.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
      line_start = line_end + 2;
    }
    return response;
  }

 private:
  static std::vector<std::string> arguments(int port, const std::optional<std::string>& key,
                                            const std::string& query,
                                            std::chrono::seconds max_time) {
    // -q: no ~/.curlrc; --noproxy: straight to 127.0.0.1 whatever the environment says.
    std::vector<std::string> argv{
        "curl",      "-q", "-sS",        "-i",
        "--noproxy", "*",  "--max-time", std::to_string(max_time.count())};
    if (key) {
      argv.push_back("-H");
      argv.push_back(key->empty() ? "X-Api-Key;" : "X-Api-Key: " + *key);
    }
    argv.push_back("http://127.0.0.1:" + std::to_string(port) + "/" + query);
    return argv;
  }

  Clock::time_point start_;
  std::chrono::seconds max_time_;
  Process process_;
};

Response get(int port, std::optional<std::string> key, const std::string& query = "") {
  return Request(port, std::move(key), query).wait();
}

// The stamp of every slot the server stored for `key`, one per slot, in order.
std::vector<pyrate::Millis> stored_stamps(const std::string& db, const std::string& key) {
  SQLite::Database file(db, SQLite::OPEN_READONLY);
  SQLite::Statement rows(file,
                         "SELECT s.timestamp, s.weight FROM slots s "
                         "JOIN buckets b ON b.id = s.bucket_id "
                         "WHERE b.name = CAST(? AS BLOB) ORDER BY s.start_seq");
  rows.bind(1, "api/" + key);
  std::vector<pyrate::Millis> stamps;
  while (rows.executeStep()) {
    stamps.insert(stamps.end(), rows.getColumn(1).getInt64(), rows.getColumn(0).getInt64());
  }
  return stamps;
}

// How many of `responses` have HTTP status `status`.
std::size_t count_status(const std::vector<Response>& responses, int status) {
  return static_cast<std::size_t>(std::count_if(
      responses.begin(), responses.end(), [&](const Response& r) { return r.status == status; }));
}

class Scratch : public pyrate::TemporaryDirectory {
 public:
  Scratch() : TemporaryDirectory("pyrate-http-test") {}
  std::string db() const { return file("limits.db"); }
};

}  // namespace

TEST_CASE("http_server: each key's limit holds in the stored stamps, keys limited apart") {
  Scratch scratch;
  Server server(scratch.db(), {"3/s", "10/min"});
  // 14 waiting requests per key, all at once: 10 fit the minute, three a second, and the
  // other 4 are refused once only the minute's window could let them in, 60 s on.
  const std::vector<std::string> keys{"alpha", "beta"};
  std::map<std::string, std::vector<Request>> requests;
  for (int i = 0; i < 14; ++i) {
    for (const std::string& key : keys) {
      requests[key].emplace_back(server.port(), key, "?wait=20000", std::chrono::seconds(60));
    }
  }
  for (const std::string& key : keys) {
    std::vector<Response> responses;
    for (Request& request : requests[key]) responses.push_back(request.wait());
    INFO("key " << key);
    CHECK(count_status(responses, 200) == 10);
    CHECK(count_status(responses, 429) == 4);
    const std::vector<pyrate::Millis> stamps = stored_stamps(scratch.db(), key);
    CHECK(stamps.size() == 10);
    CHECK(pyrate::testing::busiest_window(stamps, 1000) <= 3);
    CHECK(pyrate::testing::busiest_window(stamps, 60'000) <= 10);
  }
  CHECK(server.stop() == 0);
}

TEST_CASE("http_server: a 429 carries Retry-After, and every answer the RateLimit fields") {
  Scratch scratch;
  Server server(scratch.db(), {"2/min"});
  const Response first = get(server.port(), "key");
  const Response second = get(server.port(), "key");
  const Response refused = get(server.port(), "key");

  CHECK(first.status == 200);
  CHECK(first.body == "ok\n");
  CHECK_FALSE(first.has("retry-after"));
  CHECK(first.header("ratelimit-policy") == "\"2/min\";q=2;w=60");
  CHECK(first.header("ratelimit").rfind("\"2/min\";r=1;t=", 0) == 0);
  CHECK(second.status == 200);
  CHECK(second.header("ratelimit").rfind("\"2/min\";r=0;t=", 0) == 0);

  REQUIRE(refused.status == 429);
  REQUIRE(refused.has("retry-after"));
  const int retry_after = std::stoi(refused.header("retry-after"));
  CHECK(retry_after >= 1);
  CHECK(retry_after <= 60);
  CHECK(refused.header("ratelimit-policy") == "\"2/min\";q=2;w=60");
  CHECK(refused.header("ratelimit").rfind("\"2/min\";r=0;t=", 0) == 0);
  CHECK(server.stop() == 0);
}

TEST_CASE("http_server: a client that hangs up mid-wait leaves the server serving") {
  Scratch scratch;
  Server server(scratch.db(), {"1/5s"});
  REQUIRE(get(server.port(), "waiter").status == 200);

  // Its slot frees in about 5 s; curl gives up after 1 s, while the server still waits.
  const Response abandoned =
      Request(server.port(), "waiter", "?wait=10000", std::chrono::seconds(1)).wait();
  CHECK(abandoned.curl_exit == 28);
  CHECK(abandoned.status == 0);
  CHECK(abandoned.seconds >= 0.9);

  // Served at once while the abandoned acquire still waits.
  const Response other = get(server.port(), "other");
  CHECK(other.status == 200);
  CHECK(other.seconds < 5);
  // The abandoned wait is not cancelled: it takes the slot that frees about 5 s after the
  // first, so this request, sent about 1 s after the first, waits for the one after that
  // (about 9 s) rather than for that one (about 4 s).
  const Response after = get(server.port(), "waiter", "?wait=15000");
  CHECK(after.status == 200);
  CHECK(after.seconds >= 6.5);
  CHECK(server.running());
  // The server leaks slots older than 5 s every 10 s, so the first may be gone by now.
  CHECK(pyrate::testing::busiest_window(stored_stamps(scratch.db(), "waiter"), 5000) == 1);
  CHECK(server.stop() == 0);
}

TEST_CASE("http_server: a restarted server keeps each key's limit") {
  Scratch scratch;
  {
    Server server(scratch.db(), {"2/min"});
    CHECK(get(server.port(), "spent").status == 200);
    CHECK(get(server.port(), "spent").status == 200);
    CHECK(get(server.port(), "spent").status == 429);
    CHECK(get(server.port(), "half").status == 200);
    CHECK(server.stop() == 0);
  }
  Server server(scratch.db(), {"2/min"});
  const Response spent = get(server.port(), "spent");
  CHECK(spent.status == 429);
  CHECK(spent.has("retry-after"));
  CHECK(get(server.port(), "half").status == 200);
  CHECK(get(server.port(), "half").status == 429);
  CHECK(stored_stamps(scratch.db(), "spent").size() == 2);
  CHECK(stored_stamps(scratch.db(), "half").size() == 2);
  CHECK(server.stop() == 0);
}

TEST_CASE("http_server: 400 without an X-Api-Key, with an empty one or a bad wait") {
  Scratch scratch;
  Server server(scratch.db(), {"5/min"});
  CHECK(get(server.port(), std::nullopt).status == 400);
  CHECK(get(server.port(), "").status == 400);
  for (const char* query : {"?wait=0", "?wait=60001", "?wait=soon", "?wait="}) {
    INFO(query);
    CHECK(get(server.port(), "key", query).status == 400);
  }
  CHECK(get(server.port(), "key", "?wait=60000").status == 200);
  SQLite::Database file(scratch.db(), SQLite::OPEN_READONLY);
  CHECK(file.execAndGet("SELECT count(*) FROM slots").getInt() == 1);
  CHECK(server.stop() == 0);
}
