#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "admission_table.hpp"
#include "admission_windows.hpp"
#include "commands.hpp"
#include "demo_workers.hpp"
#include "exit_codes.hpp"
#include "json_string.hpp"
#include "pyrate/sqlite_bucket.hpp"

namespace pyrate::cli {
namespace {

constexpr int kWorkers = 4;
constexpr std::int64_t kLimit = 10;
constexpr std::int64_t kWindowUs = 1'000'000;
constexpr int kRunSeconds = 3;
constexpr auto kStopGrace = std::chrono::seconds(5);
constexpr std::string_view kBucket = "demo";

// A new directory under $TMPDIR (else /tmp), removed with its contents on destruction.
class TemporaryDirectory {
 public:
  TemporaryDirectory() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/pyrate-demo-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(),
                              "cannot create a temporary directory from " + pattern);
    }
    path_ = pattern;
  }
  ~TemporaryDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// What one run of workers did.
struct Run {
  SteadyTime start;
  SteadyTime end;
  std::vector<std::int64_t> times;  // admission times, steady microseconds, sorted
};

// Starts workers numbered `first_worker` onwards on the file, shows their admissions live
// until they stop, and returns them. Throws std::runtime_error when a worker fails.
Run run_workers(const std::string& db_path, int first_worker, bool live) {
  Run run;
  run.start = std::chrono::steady_clock::now();
  run.end = run.start + std::chrono::seconds(kRunSeconds);
  WorkerGroup workers(db_path, std::string(kBucket), Rate(kLimit, Duration::Second), first_worker,
                      kWorkers, run.end);
  AdmissionTable table(std::cout, live, first_worker, kWorkers, run.start, kRunSeconds);
  std::vector<Admission> admissions;
  while (true) {
    const std::size_t seen = admissions.size();
    const bool open = workers.read(std::chrono::milliseconds(100), admissions);
    for (std::size_t i = seen; i < admissions.size(); ++i) table.add(admissions[i]);
    if (!open) break;
    const auto now = std::chrono::steady_clock::now();
    if (now > run.end + kStopGrace) {
      workers.kill();
      table.finish();
      throw std::runtime_error("demo: the workers did not stop in time");
    }
    table.refresh(now);
  }
  table.finish();
  if (const int failures = workers.wait(); failures > 0) {
    throw std::runtime_error("demo: " + std::to_string(failures) + " worker(s) failed");
  }
  for (const Admission& admission : admissions) run.times.push_back(admission.at_us);
  std::sort(run.times.begin(), run.times.end());
  return run;
}

std::int64_t millis_between(SteadyTime from, std::int64_t to_us) {
  return (to_us - steady_micros(from)) / 1000;
}

}  // namespace

int run_demo(const CommandLine& /*line*/) {
  const TemporaryDirectory directory;
  const std::string db_path = (directory.path() / "demo.db").string();
  {
    SQLiteOptions options;
    options.db_path = db_path;
    options.bucket = std::string(kBucket);
    SQLiteBucket(std::vector<Rate>{Rate(kLimit, Duration::Second)}, options).close();
  }
  const bool live = ::isatty(STDOUT_FILENO) == 1;

  std::cout << "pyrate demo: " << kWorkers << " worker processes share one limit of " << kLimit
            << " per second (" << to_string(Rate(kLimit, Duration::Second)) << "), bucket "
            << json_string(kBucket) << " in\n  " << db_path << "\n\n"
            << "run 1: workers w1-w" << kWorkers
            << " each take slots as fast as the limit lets them\n";
  const Run first = run_workers(db_path, 1, live);
  const std::int64_t first_end_us = steady_micros(first.end);
  std::cout << "run 1 stopped: " << first.times.size() << " admissions, "
            << count_between(first.times, first_end_us - kWindowUs, first_end_us)
            << " of them in its last 1 s\n\n"
            << "run 2: new processes w" << kWorkers + 1 << "-w" << 2 * kWorkers
            << " start on the same file, whose window still holds run 1's slots\n";
  const Run second = run_workers(db_path, kWorkers + 1, live);

  std::vector<std::int64_t> all = first.times;
  all.insert(all.end(), second.times.begin(), second.times.end());
  std::sort(all.begin(), all.end());
  const std::int64_t restart_us = steady_micros(second.start);
  std::cout << "run 2 stopped: " << second.times.size() << " admissions";
  if (!second.times.empty()) {
    std::cout << ", the first " << millis_between(second.start, second.times.front())
              << " ms after it started, "
              << count_between(second.times, restart_us, restart_us + kWindowUs)
              << " in its first 1 s";
  }
  std::cout << "\n\nacross the restart: max in any 1 s window spanning it: "
            << max_in_window_spanning(all, kWindowUs, restart_us) << '\n';
  const std::int64_t busiest = max_in_window(all, kWindowUs);
  std::cout << "max in any 1 s window: " << busiest << " (limit " << kLimit << ")" << std::endl;
  return busiest <= kLimit ? kExitAdmitted : kExitRefused;
}

}  // namespace pyrate::cli
