#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "admission_table.hpp"
#include "admission_windows.hpp"
#include "commands.hpp"
#include "core/rate_spec.hpp"
#include "demo_workers.hpp"
#include "exit_codes.hpp"
#include "json_string.hpp"
#include "pyrate/clock.hpp"
#include "pyrate/sqlite_bucket.hpp"
#include "scratch/temporary_directory.hpp"
#include "spec_parser.hpp"

namespace pyrate::cli {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr int kWorkers = 4;
constexpr std::int64_t kLimit = 10;
constexpr Millis kWindow = 1000;
constexpr int kRunSeconds = 4;
constexpr auto kWorkTime = std::chrono::milliseconds(50);
// Workers stop taking slots this long before a run's last second ends, so that an admission
// granted at the very deadline still falls in the table's last row.
constexpr auto kStopMargin = std::chrono::milliseconds(100);
// How long after a run's end the workers may take to exit before they are killed.
constexpr auto kStopGrace = std::chrono::seconds(5);
constexpr std::string_view kBucket = "demo";

const Rate& demo_rate() {
  static const Rate rate(kLimit, kWindow);
  return rate;
}

// A database file with the demo's bucket, in a new directory under $TMPDIR (else /tmp).
// Destruction removes the file's lock object and the directory.
class DemoDatabase {
 public:
  DemoDatabase() : path_(directory_.file("demo.db")) {
    SQLiteOptions options;
    options.db_path = path_;
    options.bucket = std::string(kBucket);
    SQLiteBucket(std::vector<Rate>{demo_rate()}, options).close();
  }

  const std::string& path() const { return path_; }

 private:
  TemporaryDirectory directory_{"pyrate-demo"};
  std::string path_;
};

// While it lives, SIGINT and SIGTERM only record that they came (unless they were ignored), so
// that the demo can stop its workers and remove its files; destruction restores them.
class InterruptRecorder {
 public:
  InterruptRecorder() {
    for (Handled& handled : handled_) {
      struct sigaction record {};
      record.sa_handler = &InterruptRecorder::record;
      sigemptyset(&record.sa_mask);
      ::sigaction(handled.signal, nullptr, &handled.before);
      if (handled.before.sa_handler != SIG_IGN) ::sigaction(handled.signal, &record, nullptr);
    }
  }
  ~InterruptRecorder() {
    for (const Handled& handled : handled_) ::sigaction(handled.signal, &handled.before, nullptr);
  }
  InterruptRecorder(const InterruptRecorder&) = delete;
  InterruptRecorder& operator=(const InterruptRecorder&) = delete;

  // The signal that came last, or 0.
  static int received() { return received_; }

 private:
  struct Handled {
    int signal;
    struct sigaction before;
  };
  static void record(int signal) { received_ = signal; }

  static inline volatile std::sig_atomic_t received_ = 0;
  Handled handled_[2] = {{SIGINT, {}}, {SIGTERM, {}}};
};

// Thrown out of a run when the demo was interrupted.
struct Interrupted {};

// What one run of workers did.
struct Run {
  Millis start = 0;                // Unix ms
  SteadyClock::duration lasted{};  // until the last worker exited
  std::vector<Millis> timestamps;  // of the admissions, as recorded, sorted
};

// Starts workers numbered `first_worker` onwards on the file, shows their admissions live
// until they stop, and returns them. Throws std::runtime_error when a worker fails.
Run run_workers(const std::string& db_path, int first_worker, bool live) {
  SystemClock clock;
  Run run;
  run.start = clock.now();
  const auto started = SteadyClock::now();
  const auto end = started + std::chrono::seconds(kRunSeconds);
  WorkerGroup workers({db_path, std::string(kBucket), demo_rate(), kWorkTime, first_worker,
                       kWorkers, end - kStopMargin});
  AdmissionTable table(std::cout, live, first_worker, kWorkers, run.start, kRunSeconds);
  std::vector<Admission> admissions;
  while (true) {
    const std::size_t seen = admissions.size();
    const bool open = workers.read(std::chrono::milliseconds(100), admissions);
    for (std::size_t i = seen; i < admissions.size(); ++i) table.add(admissions[i]);
    if (!open) break;
    if (InterruptRecorder::received() != 0) {
      table.cut_short();
      throw Interrupted{};  // ~WorkerGroup stops the workers
    }
    if (SteadyClock::now() > end + kStopGrace) {
      workers.kill();
      table.finish();
      throw std::runtime_error("demo: the workers did not stop in time");
    }
    table.refresh(clock.now());
  }
  run.lasted = SteadyClock::now() - started;
  table.finish();
  if (const int failures = workers.wait(); failures > 0) {
    throw std::runtime_error("demo: " + std::to_string(failures) + " worker(s) failed");
  }
  for (const Admission& admission : admissions) run.timestamps.push_back(admission.timestamp);
  std::sort(run.timestamps.begin(), run.timestamps.end());
  return run;
}

// The demo itself; run_demo adds what an interruption needs.
int show_demo() {
  const DemoDatabase database;
  const bool live = ::isatty(STDOUT_FILENO) == 1;

  std::cout << "pyrate demo: " << kWorkers << " worker processes share " << kLimit
            << " slots per second (" << rate_spec(demo_rate()) << ")\nthrough bucket "
            << json_string(kBucket) << " of " << database.path()
            << ".\nEach worker takes a slot, works " << kWorkTime.count()
            << " ms, and goes again. The table counts each\n"
            << "admission at the timestamp the file recorded for it.\n\nrun 1: workers w1-w"
            << kWorkers << '\n';
  const Run first = run_workers(database.path(), 1, live);
  std::cout << "run 1: " << first.timestamps.size() << " admissions; the workers stopped after "
            << format_span(
                   std::chrono::duration_cast<std::chrono::milliseconds>(first.lasted).count())
            << ",\n  when no slot would free before the run's end\n\n"
            << "restart: new processes w" << kWorkers + 1 << "-w" << 2 * kWorkers
            << " on the same file.\n  Had the limit been forgotten, they would get " << kLimit
            << " slots at once.\n";
  const Run second = run_workers(database.path(), kWorkers + 1, live);
  std::cout << "run 2: " << second.timestamps.size() << " admissions";
  if (!second.timestamps.empty()) {
    std::cout << "; the first came " << second.timestamps.front() - second.start
              << " ms after the restart";
  }

  std::vector<Millis> all = first.timestamps;
  all.insert(all.end(), second.timestamps.begin(), second.timestamps.end());
  std::sort(all.begin(), all.end());
  std::cout << "\n\nmax in any 1 s window holding the restart: "
            << max_in_window_around(all, kWindow, second.start) << '\n';
  const std::int64_t busiest = max_in_window(all, kWindow);
  std::cout << "max in any 1 s window: " << busiest << " (limit " << kLimit << ")" << std::endl;
  return busiest <= kLimit ? kExitAdmitted : kExitRefused;
}

}  // namespace

int run_demo(const CommandLine& /*line*/) {
  int signal = 0;
  {
    const InterruptRecorder interrupts;
    try {
      return show_demo();
    } catch (const Interrupted&) {
      signal = InterruptRecorder::received();
    }
  }
  // The workers are stopped and the files removed: end as the signal would have ended it.
  std::cout << "interrupted: the workers are stopped and the demo's files removed" << std::endl;
  std::raise(signal);
  return 128 + signal;
}

}  // namespace pyrate::cli
