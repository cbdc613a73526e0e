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
constexpr int kRunSeconds = 4;
constexpr auto kWorkTime = std::chrono::milliseconds(50);
// Workers stop taking slots this long before a run's last second ends, so that an admission
// granted at the very deadline still falls in the table's last row.
constexpr auto kStopMargin = std::chrono::milliseconds(100);
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
  SteadyTime end;                   // when the workers were told to stop
  SteadyTime stopped;               // when the last one exited
  std::vector<std::int64_t> times;  // admission times, steady microseconds, sorted
};

// Starts workers numbered `first_worker` onwards on the file, shows their admissions live
// until they stop, and returns them. Throws std::runtime_error when a worker fails.
Run run_workers(const std::string& db_path, int first_worker, bool live) {
  Run run;
  run.start = std::chrono::steady_clock::now();
  run.end = run.start + std::chrono::seconds(kRunSeconds);
  WorkerGroup workers(db_path, std::string(kBucket), Rate(kLimit, Duration::Second), kWorkTime,
                      first_worker, kWorkers, run.end - kStopMargin);
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
  run.stopped = std::chrono::steady_clock::now();
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

std::string seconds_between(SteadyTime from, SteadyTime to) {
  const auto tenths =
      std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count() / 100;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s";
}

}  // namespace

int run_demo(const CommandLine& /*line*/) {
  const TemporaryDirectory directory;
  const std::string db_path = (directory.path() / "demo.db").string();
  const Rate rate(kLimit, Duration::Second);
  {
    SQLiteOptions options;
    options.db_path = db_path;
    options.bucket = std::string(kBucket);
    SQLiteBucket(std::vector<Rate>{rate}, options).close();
  }
  const bool live = ::isatty(STDOUT_FILENO) == 1;

  std::cout << "pyrate demo: " << kWorkers << " worker processes share " << kLimit
            << " slots per second (" << to_string(rate) << ") in bucket " << json_string(kBucket)
            << " of\n  " << db_path << "\nEach worker takes a slot, works " << kWorkTime.count()
            << " ms, and goes again.\n\nrun 1: workers w1-w" << kWorkers << '\n';
  const Run first = run_workers(db_path, 1, live);
  std::cout << "run 1: " << first.times.size() << " admissions; the workers stopped after "
            << seconds_between(first.start, first.stopped)
            << ", when no slot would free before the run's end\n\n"
            << "restart: new processes w" << kWorkers + 1 << "-w" << 2 * kWorkers
            << " on the same file. Had the limit been forgotten, they would get " << kLimit
            << " slots at once.\n";
  const Run second = run_workers(db_path, kWorkers + 1, live);
  std::cout << "run 2: " << second.times.size() << " admissions";
  if (!second.times.empty()) {
    std::cout << "; the first came " << millis_between(second.start, second.times.front())
              << " ms after the restart";
  }

  std::vector<std::int64_t> all = first.times;
  all.insert(all.end(), second.times.begin(), second.times.end());
  std::sort(all.begin(), all.end());
  std::cout << "\n\nmax in any 1 s window holding the restart: "
            << max_in_window_around(all, kWindowUs, steady_micros(second.start)) << '\n';
  const std::int64_t busiest = max_in_window(all, kWindowUs);
  std::cout << "max in any 1 s window: " << busiest << " (limit " << kLimit << ")" << std::endl;
  return busiest <= kLimit ? kExitAdmitted : kExitRefused;
}

}  // namespace pyrate::cli
