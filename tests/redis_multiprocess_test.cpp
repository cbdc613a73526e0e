// Processes sharing one RedisBucket over TCP: whatever their clocks say, no window of the
// timestamps recorded on the server holds more than its rate's limit, and every timestamp lies
// within the clocks' disagreement of the server's time.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <pyrate/pyrate.hpp>
#include <pyrate/redis_bucket.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "scratch/temporary_directory.hpp"
#include "support/child_process.hpp"
#include "support/redis_keys.hpp"
#include "support/redis_server.hpp"
#include "support/window_check.hpp"

using namespace pyrate;
using namespace pyrate::testing;
using namespace std::chrono_literals;

namespace {

// The system clock moved by a fixed offset: a host whose clock is wrong.
class SkewedClock final : public Clock {
 public:
  explicit SkewedClock(Millis skew) : skew_(skew) {}
  Millis now() override { return system_.now() + skew_; }

 private:
  SystemClock system_;
  Millis skew_;
};

// One admission as its worker saw it: the system clock just before and just after admit().
struct Admission {
  std::int64_t attempt;
  std::int64_t before_ms;
  std::int64_t after_ms;
};

// Admits through its own bucket until `run_for` passes, naming each attempt "w<worker>-<n>",
// and appends each admission to `log_path`, one write(2) each. `skew` nullopt: the server's
// clock.
int run_worker(const std::string& url, const std::vector<Rate>& rates, int worker,
               std::optional<Millis> skew, std::chrono::milliseconds run_for,
               const std::string& log_path) {
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log < 0) return 101;
  RedisOptions options;
  options.url = url;
  options.bucket = "shared";
  RedisBucket bucket(rates, options);
  if (skew) bucket.set_clock(std::make_shared<SkewedClock>(*skew));
  SystemClock system;
  std::mt19937 random(static_cast<std::uint32_t>(worker * 7919 + 1));
  const auto end = std::chrono::steady_clock::now() + run_for;
  for (std::int64_t attempt = 0; std::chrono::steady_clock::now() < end; ++attempt) {
    const std::int64_t weight = 1 + static_cast<std::int64_t>(random() % 3);
    const Admission seen{attempt, system.now(), 0};
    const RateItem item{"w" + std::to_string(worker) + "-" + std::to_string(attempt), bucket.now(),
                        weight};
    if (bucket.put(item)) {
      Admission admission = seen;
      admission.after_ms = system.now();
      if (::write(log, &admission, sizeof admission) != static_cast<ssize_t>(sizeof admission)) {
        return 102;
      }
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(random() % 2000));
    }
  }
  ::close(log);
  return 0;
}

std::vector<Admission> read_log(const std::string& path) {
  std::vector<Admission> admissions;
  std::ifstream in(path, std::ios::binary);
  Admission admission{};
  while (in.read(reinterpret_cast<char*>(&admission), sizeof admission)) {
    admissions.push_back(admission);
  }
  return admissions;
}

// Runs 8 workers on one bucket for 2 s, worker w with skews[w]; returns each worker's log.
std::vector<std::vector<Admission>> run_eight(const RedisServer& server,
                                              const std::vector<Rate>& rates,
                                              const std::vector<std::optional<Millis>>& skews) {
  TemporaryDirectory logs("pyrate-redis-mp");
  std::vector<ChildProcess> workers;
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&, w] {
      return run_worker(server.url(), rates, w, skews[static_cast<std::size_t>(w)], 2000ms,
                        logs.file("w" + std::to_string(w)));
    });
  }
  for (ChildProcess& worker : workers) CHECK(worker.wait() == 0);
  std::vector<std::vector<Admission>> admissions;
  for (int w = 0; w < 8; ++w) admissions.push_back(read_log(logs.file("w" + std::to_string(w))));
  return admissions;
}

// The reported admissions, by name.
std::map<std::string, Admission> by_name(const std::vector<std::vector<Admission>>& logs) {
  std::map<std::string, Admission> named;
  for (std::size_t w = 0; w < logs.size(); ++w) {
    for (const Admission& admission : logs[w]) {
      named["w" + std::to_string(w) + "-" + std::to_string(admission.attempt)] = admission;
    }
  }
  return named;
}

const std::vector<Rate> kRates{Rate(20, 100), Rate(100, 1000)};

}  // namespace

TEST_CASE(
    "8 processes on one bucket over TCP never put more in a window than its limit, judged by "
    "the timestamps on the server",
    "[redis-multiprocess]") {
  RedisServer server;
  const auto logs = run_eight(server, kRates, std::vector<std::optional<Millis>>(8));
  const std::vector<StoredEntry> entries = stored_entries(server, "shared");
  const std::map<std::string, Admission> reported = by_name(logs);

  // Every admission reported is recorded, and nothing else is.
  REQUIRE(entries.size() == reported.size());
  for (const StoredEntry& entry : entries) CHECK(reported.count(entry.name) == 1);
  const std::vector<Millis> stamps = slot_stamps(entries);
  CHECK(std::is_sorted(stamps.begin(), stamps.end()));
  for (const Rate& rate : kRates) {
    CAPTURE(to_string(rate), stamps.size());
    CHECK(busiest_window(stamps, rate.interval) == rate.limit);  // full, never over
  }
  // The server's clock stamped them: each within the time its admission took.
  for (const StoredEntry& entry : entries) {
    const Admission& admission = reported.at(entry.name);
    CHECK(entry.timestamp >= admission.before_ms);
    CHECK(entry.timestamp <= admission.after_ms);
  }
}

TEST_CASE(
    "Processes whose clocks disagree by up to 3 s: stamps never decrease, no window of them is "
    "over the limit, and each lies within 3 s of the server's time at its admission",
    "[redis-multiprocess]") {
  constexpr Millis kSkew = 3000;
  RedisServer server;
  const std::vector<std::optional<Millis>> skews{
      std::nullopt, std::nullopt, std::nullopt, std::nullopt, kSkew, -kSkew, kSkew / 2, -kSkew / 2};
  const auto logs = run_eight(server, kRates, skews);
  const std::vector<StoredEntry> entries = stored_entries(server, "shared");
  const std::map<std::string, Admission> reported = by_name(logs);
  REQUIRE(entries.size() == reported.size());

  // What the clamp guarantees exactly, whatever the clocks: recorded order is time order, and
  // every window of recorded time respects every rate.
  const std::vector<Millis> stamps = slot_stamps(entries);
  CHECK(std::is_sorted(stamps.begin(), stamps.end()));
  for (const Rate& rate : kRates) {
    CAPTURE(to_string(rate));
    CHECK(busiest_window(stamps, rate.interval) <= rate.limit);
  }
  // Where those windows lie in time: each stamp within the skew of the server's (here the
  // host's) clock over the admission, so a window of real time holds at most the slots of the
  // windows that cover it widened by the skew on both sides.
  std::vector<Millis> real_times;
  Millis slowest = 0;
  for (const StoredEntry& entry : entries) {
    const Admission& admission = reported.at(entry.name);
    CHECK(entry.timestamp >= admission.before_ms - kSkew);
    CHECK(entry.timestamp <= admission.after_ms + kSkew);
    real_times.insert(real_times.end(), static_cast<std::size_t>(entry.weight), admission.after_ms);
    slowest = std::max(slowest, admission.after_ms - admission.before_ms);
  }
  std::sort(real_times.begin(), real_times.end());
  for (const Rate& rate : kRates) {
    const Millis spread = 2 * kSkew + slowest;
    const std::int64_t windows = (rate.interval + spread + 1 + rate.interval) / (rate.interval + 1);
    CAPTURE(to_string(rate), windows);
    CHECK(busiest_window(real_times, rate.interval) <= windows * rate.limit);
  }
}
