// Processes sharing one database file through SQLiteBucket(multiprocess = true): every
// admission, from every process, fits every rate in every window, whatever happens to the
// processes.
#include <SQLiteCpp/SQLiteCpp.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <pyrate/pyrate.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/child_process.hpp"
#include "support/window_check.hpp"

using namespace pyrate;
using namespace pyrate::testing;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t kTwoSecondsNs = 2'000'000'000;

// One admission as a worker reports it, right after try_acquire returned true.
struct Admission {
  std::int64_t stamp_ms;  // the item's timestamp in the bucket
  std::int64_t weight;
  std::int64_t at_ns;  // monotonic_ns() when try_acquire returned
  std::int32_t worker;
  std::int32_t bucket;
};

// A file that workers append Admissions to, one write(2) each, so an admission is reported
// the moment the call returns and a killed worker loses none it reported.
class AdmissionLog {
 public:
  explicit AdmissionLog(std::string path) : path_(std::move(path)) {}

  // Opens the log for appending, in the worker.
  class Writer {
   public:
    explicit Writer(const std::string& path)
        : fd_(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)) {
      if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "open " + path);
    }
    ~Writer() { ::close(fd_); }
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;

    void append(const Admission& admission) const {
      if (::write(fd_, &admission, sizeof admission) != static_cast<ssize_t>(sizeof admission)) {
        throw std::system_error(errno, std::generic_category(), "write admission");
      }
    }

   private:
    int fd_;
  };

  Writer writer() const { return Writer(path_); }

  std::vector<Admission> read() const {
    std::vector<Admission> admissions;
    std::ifstream in(path_, std::ios::binary);
    Admission admission{};
    while (in.read(reinterpret_cast<char*>(&admission), sizeof admission)) {
      admissions.push_back(admission);
    }
    return admissions;
  }

 private:
  std::string path_;
};

// Where the workers are, for a killer that aims at the process holding the bucket's lock.
struct Whereabouts {
  // The worker inside try_acquire past its second clock reading (the re-stamp the Limiter
  // takes under the lock), or 0.
  std::atomic<pid_t> past_lock{0};
};

// A SystemClock that remembers, per thread, the last time it returned. The Limiter stamps an
// item from the bucket's clock after taking the bucket's lock, so right after an admission the
// calling thread's last reading is the admitted item's timestamp.
class RecordingClock final : public Clock {
 public:
  explicit RecordingClock(Whereabouts* whereabouts) : whereabouts_(whereabouts) {}
  Millis now() override {
    last_reading_ = system_.now();
    if (++readings_ == 2 && whereabouts_ != nullptr) whereabouts_->past_lock = ::getpid();
    return last_reading_;
  }
  static Millis last_reading() { return last_reading_; }
  // Starts counting the readings of one acquire on this thread.
  static void reset_readings() { readings_ = 0; }

 private:
  Whereabouts* whereabouts_;
  SystemClock system_;
  static thread_local Millis last_reading_;
  static thread_local int readings_;
};
thread_local Millis RecordingClock::last_reading_ = 0;
thread_local int RecordingClock::readings_ = 0;

// What one worker process does.
struct WorkerPlan {
  std::string db_path;
  std::string bucket = "shared";
  std::int32_t bucket_index = 0;
  std::vector<Rate> rates;
  std::int64_t max_weight = 1;
  std::chrono::milliseconds run_for{2000};
  std::optional<Millis> leak_interval;  // the factory's default (10 s) when none
  std::int32_t worker = 0;
  Whereabouts* whereabouts = nullptr;
};

SQLiteOptions shared_file(const std::string& db_path, const std::string& bucket) {
  SQLiteOptions options;
  options.db_path = db_path;
  options.bucket = bucket;
  options.multiprocess = true;
  return options;
}

std::unique_ptr<Limiter> limiter_on(const std::shared_ptr<SQLiteBucket>& bucket,
                                    std::optional<Millis> leak_interval) {
  auto factory = std::make_shared<SingleBucketFactory>(bucket, false);
  if (leak_interval) factory->set_leak_interval(*leak_interval);
  factory->schedule_leak(bucket);
  return std::make_unique<Limiter>(factory, 10);
}

// Acquires through a Limiter until the plan's time is up, alternating non-blocking calls
// (with a short random pause after a refusal) and blocking ones with a timeout, and reports
// every admission to `log`.
int run_worker(const WorkerPlan& plan, const AdmissionLog& log) {
  const AdmissionLog::Writer writer = log.writer();
  auto bucket = std::make_shared<SQLiteBucket>(plan.rates, shared_file(plan.db_path, plan.bucket));
  bucket->set_clock(std::make_shared<RecordingClock>(plan.whereabouts));
  const std::unique_ptr<Limiter> limiter = limiter_on(bucket, plan.leak_interval);

  std::mt19937 random(static_cast<std::uint32_t>(::getpid()));
  const std::int64_t end_ns = monotonic_ns() + plan.run_for.count() * 1'000'000;
  for (std::uint64_t call = 0; monotonic_ns() < end_ns; ++call) {
    AcquireOptions options;
    options.weight = 1 + static_cast<std::int64_t>(random() % plan.max_weight);
    options.blocking = call % 2 == 1;
    if (options.blocking) options.timeout = 300ms;

    RecordingClock::reset_readings();
    const bool admitted = limiter->try_acquire("worker", options);
    if (plan.whereabouts != nullptr) plan.whereabouts->past_lock = 0;
    if (admitted) {
      writer.append(Admission{RecordingClock::last_reading(), options.weight, monotonic_ns(),
                              plan.worker, plan.bucket_index});
    } else if (!options.blocking) {
      std::this_thread::sleep_for(std::chrono::microseconds(random() % 3000));
    }
  }
  return 0;
}

// The slots stored in the file's bucket, one timestamp per slot, in timestamp order.
std::vector<Millis> stored_stamps(const std::string& db_path, const std::string& bucket_name,
                                  const std::vector<Rate>& rates) {
  SQLiteBucket bucket(rates, shared_file(db_path, bucket_name));
  std::vector<Millis> stamps;
  const std::int64_t count = bucket.count();
  for (std::int64_t index = count - 1; index >= 0; --index) {
    stamps.push_back(bucket.peek(index)->timestamp);
  }
  return stamps;
}

// The reported admissions of one bucket, one timestamp per slot, in timestamp order.
std::vector<Millis> reported_stamps(const std::vector<Admission>& admissions,
                                    std::int32_t bucket_index = 0) {
  std::vector<Millis> stamps;
  for (const Admission& admission : admissions) {
    if (admission.bucket != bucket_index) continue;
    stamps.insert(stamps.end(), static_cast<std::size_t>(admission.weight), admission.stamp_ms);
  }
  std::sort(stamps.begin(), stamps.end());
  return stamps;
}

// Checks that the slots respect every rate in every window.
void check_every_window(const std::vector<Millis>& stamps, const std::vector<Rate>& rates) {
  for (const Rate& rate : rates) {
    CAPTURE(to_string(rate), stamps.size());
    CHECK(busiest_window(stamps, rate.interval) <= rate.limit);
  }
}

std::string integrity_check(const std::string& db_path) {
  SQLite::Database db(db_path, SQLite::OPEN_READONLY);
  return db.execAndGet("PRAGMA integrity_check").getString();
}

// Starts a worker process for each of `plans`.
std::vector<ChildProcess> start_workers(const std::vector<WorkerPlan>& plans,
                                        const AdmissionLog& log) {
  std::vector<ChildProcess> workers;
  for (const WorkerPlan& plan : plans) {
    workers.emplace_back([&] { return run_worker(plan, log); });
  }
  return workers;
}

// Runs `plans` at once and waits for them; returns how many did not exit with 0.
int run_workers(const std::vector<WorkerPlan>& plans, const AdmissionLog& log) {
  std::vector<ChildProcess> workers = start_workers(plans, log);
  int failed = 0;
  for (auto& worker : workers) failed += worker.wait() == 0 ? 0 : 1;
  return failed;
}

std::vector<WorkerPlan> plans_for(int workers, const WorkerPlan& plan) {
  std::vector<WorkerPlan> plans(static_cast<std::size_t>(workers), plan);
  for (int i = 0; i < workers; ++i) plans[static_cast<std::size_t>(i)].worker = i;
  return plans;
}

// Lets a test stop a process inside try_acquire while it holds the bucket's lock: the clock
// stalls at its second reading of an acquire, the re-stamp the Limiter takes under the lock.
struct StallControl {
  std::atomic<bool> stalled{false};
  std::atomic<bool> resume{false};
};

class StallingClock final : public Clock {
 public:
  explicit StallingClock(StallControl& control) : control_(control) {}
  Millis now() override {
    if (++readings_ == 2) {
      control_.stalled = true;
      while (!control_.resume) std::this_thread::sleep_for(1ms);
    }
    last_reading_ = system_.now();
    return last_reading_;
  }
  Millis last_reading() const { return last_reading_; }

 private:
  StallControl& control_;
  SystemClock system_;
  int readings_ = 0;
  Millis last_reading_ = 0;
};

// A process that takes one slot and stalls while holding the bucket's lock; once resumed it
// reports its admission.
ChildProcess stalled_acquirer(const std::string& db_path, const std::vector<Rate>& rates,
                              StallControl& control, const AdmissionLog& log) {
  return ChildProcess([&, db_path, rates] {
    const AdmissionLog::Writer writer = log.writer();
    auto bucket = std::make_shared<SQLiteBucket>(rates, shared_file(db_path, "shared"));
    const auto clock = std::make_shared<StallingClock>(control);
    bucket->set_clock(clock);
    const std::unique_ptr<Limiter> limiter = limiter_on(bucket, std::nullopt);
    AcquireOptions options;
    options.blocking = false;
    if (!limiter->try_acquire("stalled", options)) return 1;
    writer.append(Admission{clock->last_reading(), 1, monotonic_ns(), -1, 0});
    return 0;
  });
}

// A file that workers share at 20 slots per 200 ms for 2.5 s, the log of their admissions, and
// the control of a stalled_acquirer.
struct StallScenario {
  StallScenario() : log((db.dir() / "admissions").string()) {
    plan.db_path = db.path();
    plan.rates = {Rate(20, 200)};
    plan.run_for = 2500ms;
  }
  ScratchDatabase db;
  AdmissionLog log;
  SharedMemory<StallControl> control;
  WorkerPlan plan;

  // A stalled_acquirer on the file, once it holds the bucket's lock.
  ChildProcess stalled_holder() {
    ChildProcess holder = stalled_acquirer(db.path(), plan.rates, *control, log);
    sleep_until_set(control->stalled);
    return holder;
  }
};

// Admissions reported after `from_ns` and before `to_ns` (monotonic).
std::int64_t admissions_between(const std::vector<Admission>& admissions, std::int64_t from_ns,
                                std::int64_t to_ns) {
  return std::count_if(admissions.begin(), admissions.end(), [&](const Admission& admission) {
    return admission.at_ns > from_ns && admission.at_ns < to_ns;
  });
}

// Admissions stamped after `from_ms` and before `to_ms` (wall clock). The Limiter stamps under
// the bucket's lock, so none can be stamped while another process holds it.
std::int64_t stamped_between(const std::vector<Admission>& admissions, Millis from_ms,
                             Millis to_ms) {
  return std::count_if(admissions.begin(), admissions.end(), [&](const Admission& admission) {
    return admission.stamp_ms > from_ms && admission.stamp_ms < to_ms;
  });
}

std::int64_t first_admission_after(const std::vector<Admission>& admissions, std::int64_t from_ns) {
  std::int64_t first = std::numeric_limits<std::int64_t>::max();
  for (const Admission& admission : admissions) {
    if (admission.at_ns > from_ns) first = std::min(first, admission.at_ns);
  }
  return first;
}

}  // namespace

TEST_CASE("eight processes sharing one file never admit more than the limit in any window") {
  ScratchDatabase db;
  const AdmissionLog log((db.dir() / "admissions").string());
  WorkerPlan plan;
  plan.db_path = db.path();
  plan.rates = {Rate(20, 200)};

  REQUIRE(run_workers(plans_for(8, plan), log) == 0);

  const std::vector<Millis> reported = reported_stamps(log.read());
  CHECK(reported == stored_stamps(db.path(), "shared", plan.rates));
  check_every_window(reported, plan.rates);
  // 2 s at 20 per 200 ms holds about 220 slots; most of them must be used.
  CHECK(reported.size() >= 150);
}

TEST_CASE("several rates and weights above one hold in every window across processes") {
  ScratchDatabase db;
  const AdmissionLog log((db.dir() / "admissions").string());
  WorkerPlan plan;
  plan.db_path = db.path();
  plan.rates = {Rate(6, 100), Rate(20, 500), Rate(60, 2000)};
  plan.max_weight = 3;

  REQUIRE(run_workers(plans_for(6, plan), log) == 0);

  const std::vector<Admission> admissions = log.read();
  const std::vector<Millis> reported = reported_stamps(admissions);
  CHECK(reported == stored_stamps(db.path(), "shared", plan.rates));
  check_every_window(reported, plan.rates);
  CHECK(std::any_of(admissions.begin(), admissions.end(),
                    [](const Admission& admission) { return admission.weight == 3; }));
  CHECK(reported.size() >= 40);
}

TEST_CASE("processes using different buckets of one file each keep their own bucket's limit") {
  ScratchDatabase db;
  const AdmissionLog log((db.dir() / "admissions").string());
  constexpr int kBuckets = 4;
  std::vector<WorkerPlan> plans;
  for (int i = 0; i < kBuckets; ++i) {
    WorkerPlan plan;
    plan.db_path = db.path();
    plan.bucket = "bucket-" + std::to_string(i);
    plan.bucket_index = i;
    plan.rates = {Rate(5 + i, 200)};
    plan.worker = i;
    plans.push_back(plan);
  }

  REQUIRE(run_workers(plans, log) == 0);

  const std::vector<Admission> admissions = log.read();
  for (const WorkerPlan& plan : plans) {
    CAPTURE(plan.bucket);
    const std::vector<Millis> reported = reported_stamps(admissions, plan.bucket_index);
    CHECK(reported == stored_stamps(db.path(), plan.bucket, plan.rates));
    check_every_window(reported, plan.rates);
    CHECK(static_cast<std::int64_t>(reported.size()) >= 5 * plan.rates[0].limit);
  }
}

TEST_CASE("threads with their own buckets on one file share its limit with other processes") {
  ScratchDatabase db;
  const AdmissionLog log((db.dir() / "admissions").string());
  WorkerPlan plan;
  plan.db_path = db.path();
  plan.rates = {Rate(20, 200)};
  plan.run_for = 1500ms;
  const std::vector<WorkerPlan> plans = plans_for(6, plan);

  // Fork before any thread starts: a child of a multi-threaded process may only exec.
  std::vector<ChildProcess> processes;
  for (std::size_t i = 3; i < plans.size(); ++i) {
    processes.emplace_back([&, i] { return run_worker(plans[i], log); });
  }
  std::atomic<int> failed_threads = 0;
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      if (run_worker(plans[i], log) != 0) ++failed_threads;
    });
  }
  for (auto& thread : threads) thread.join();
  for (auto& process : processes) CHECK(process.wait() == 0);
  CHECK(failed_threads == 0);

  const std::vector<Admission> admissions = log.read();
  const std::vector<Millis> reported = reported_stamps(admissions);
  CHECK(reported == stored_stamps(db.path(), "shared", plan.rates));
  check_every_window(reported, plan.rates);
  for (int worker = 0; worker < 6; ++worker) {
    CAPTURE(worker);
    CHECK(std::any_of(admissions.begin(), admissions.end(),
                      [&](const Admission& admission) { return admission.worker == worker; }));
  }
}

TEST_CASE("a leaker in every process removes expired slots without breaking the limit") {
  ScratchDatabase db;
  const AdmissionLog log((db.dir() / "admissions").string());
  WorkerPlan plan;
  plan.db_path = db.path();
  plan.rates = {Rate(20, 200)};
  plan.leak_interval = 50;

  REQUIRE(run_workers(plans_for(4, plan), log) == 0);

  const std::vector<Millis> reported = reported_stamps(log.read());
  check_every_window(reported, plan.rates);
  REQUIRE(reported.size() >= 100);
  // What is left is what the last leaks kept: slots of the last moments only.
  const std::vector<Millis> stored = stored_stamps(db.path(), "shared", plan.rates);
  CHECK(stored.size() < reported.size() / 2);
  CHECK(std::includes(reported.begin(), reported.end(), stored.begin(), stored.end()));
  CHECK(integrity_check(db.path()) == "ok");
}

TEST_CASE("a worker killed while holding the bucket's lock stalls the others less than 2 s") {
  StallScenario scenario;
  auto& [db, log, control, plan] = scenario;

  std::vector<ChildProcess> workers = start_workers(plans_for(4, plan), log);
  std::this_thread::sleep_for(500ms);
  ChildProcess victim = scenario.stalled_holder();
  const Millis stalled_ms = SystemClock().now();
  std::this_thread::sleep_for(300ms);
  const Millis killed_ms = SystemClock().now();
  const std::int64_t killed_ns = monotonic_ns();
  victim.signal(SIGKILL);
  CHECK(victim.wait() == -SIGKILL);
  for (auto& worker : workers) CHECK(worker.wait() == 0);

  const std::vector<Admission> admissions = log.read();
  CHECK(stamped_between(admissions, stalled_ms, killed_ms) == 0);
  const std::int64_t resumed_after_ns = first_admission_after(admissions, killed_ns) - killed_ns;
  CAPTURE(resumed_after_ns);
  CHECK(resumed_after_ns < kTwoSecondsNs);
  const std::vector<Millis> reported = reported_stamps(admissions);
  CHECK(reported == stored_stamps(db.path(), "shared", plan.rates));
  check_every_window(reported, plan.rates);
  CHECK(integrity_check(db.path()) == "ok");
}

TEST_CASE("workers killed at random moments never over-admit, corrupt the file or lose a report") {
  ScratchDatabase db;
  const AdmissionLog log((db.dir() / "admissions").string());
  SharedMemory<Whereabouts> whereabouts;
  WorkerPlan plan;
  plan.db_path = db.path();
  plan.rates = {Rate(20, 200)};
  plan.max_weight = 2;
  plan.run_for = 60s;  // until killed or stopped
  plan.whereabouts = &*whereabouts;
  constexpr int kWorkers = 6;

  int next_worker = 0;
  auto spawn = [&] {
    WorkerPlan worker_plan = plan;
    worker_plan.worker = next_worker++;
    return ChildProcess([&, worker_plan] { return run_worker(worker_plan, log); });
  };
  std::vector<ChildProcess> workers;
  for (int i = 0; i < kWorkers; ++i) workers.push_back(spawn());

  // Every other kill aims at the worker inside try_acquire, past the lock, if there is one.
  std::mt19937 random(7);
  int kills = 0;
  int kills_past_lock = 0;
  const auto chaos_ends = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < chaos_ends) {
    std::this_thread::sleep_for(std::chrono::microseconds(5'000 + random() % 30'000));
    const pid_t inside = whereabouts->past_lock;
    auto victim = std::find_if(workers.begin(), workers.end(), [&](const ChildProcess& worker) {
      return kills % 2 == 0 && worker.pid() == inside;
    });
    if (victim == workers.end()) {
      victim = workers.begin() + random() % kWorkers;
    } else {
      ++kills_past_lock;
    }
    victim->signal(SIGKILL);
    CHECK(victim->wait() == -SIGKILL);
    ++kills;
    *victim = spawn();
  }
  const std::int64_t chaos_ended_ns = monotonic_ns();
  std::this_thread::sleep_for(500ms);
  for (auto& worker : workers) worker.signal(SIGKILL);
  for (auto& worker : workers) worker.wait();

  CHECK(integrity_check(db.path()) == "ok");
  const std::vector<Admission> admissions = log.read();
  const std::vector<Millis> reported = reported_stamps(admissions);
  const std::vector<Millis> stored = stored_stamps(db.path(), "shared", plan.rates);
  CAPTURE(kills, kills_past_lock, reported.size(), stored.size());
  CHECK(std::includes(stored.begin(), stored.end(), reported.begin(), reported.end()));
  check_every_window(stored, plan.rates);
  CHECK(admissions_between(admissions, chaos_ended_ns, monotonic_ns()) > 0);
  CHECK(kills >= 10);
  CHECK(kills_past_lock >= 3);
}

TEST_CASE("a stopped worker holding the lock makes the others wait, and resuming it lets them on") {
  StallScenario scenario;
  auto& [db, log, control, plan] = scenario;

  std::vector<ChildProcess> workers = start_workers(plans_for(3, plan), log);
  std::this_thread::sleep_for(300ms);
  ChildProcess holder = scenario.stalled_holder();
  holder.signal(SIGSTOP);
  const Millis stopped_ms = SystemClock().now();
  control->resume = true;

  ChildProcess timing_out([&] {
    auto bucket = std::make_shared<SQLiteBucket>(plan.rates, shared_file(db.path(), "shared"));
    Limiter limiter(bucket);
    AcquireOptions options;
    options.timeout = 200ms;
    const auto start = std::chrono::steady_clock::now();
    const bool admitted = limiter.try_acquire("probe", options);
    return !admitted && std::chrono::steady_clock::now() - start >= 200ms ? 0 : 1;
  });
  CHECK(timing_out.wait() == 0);
  std::this_thread::sleep_for(100ms);
  const Millis continued_ms = SystemClock().now();
  const std::int64_t continued_ns = monotonic_ns();
  holder.signal(SIGCONT);
  CHECK(holder.wait() == 0);
  for (auto& worker : workers) CHECK(worker.wait() == 0);

  const std::vector<Admission> admissions = log.read();
  CHECK(stamped_between(admissions, stopped_ms, continued_ms) == 0);
  CHECK(first_admission_after(admissions, continued_ns) - continued_ns < kTwoSecondsNs);
  const std::vector<Millis> reported = reported_stamps(admissions);
  CHECK(reported == stored_stamps(db.path(), "shared", plan.rates));
  check_every_window(reported, plan.rates);
}
