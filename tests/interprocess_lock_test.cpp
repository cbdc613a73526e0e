// InterprocessLock: one lock for every process and thread that opens the same file, robust to
// holders that die, with a named object that is checked before it is trusted.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <array>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <pyrate/pyrate.hpp>
#include <random>
#include <thread>
#include <vector>

#include "support/child_process.hpp"

using namespace pyrate;
using namespace pyrate::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kTwoSecondsNs = 2'000'000'000;

void busy_for(std::chrono::nanoseconds duration) {
  const std::int64_t until = monotonic_ns() + duration.count();
  while (monotonic_ns() < until) {
  }
}

// What lockers sharing memory see of each other inside the critical section.
struct ExclusionRecord {
  static constexpr int kMaxKilled = 4096;

  std::atomic<pid_t> holder{0};
  std::atomic<std::int64_t> entries{0};
  std::atomic<std::int64_t> violations{0};
  std::atomic<std::int64_t> inherited_from_killed{0};  // entries that found a killed holder
  volatile std::int64_t unguarded_counter = 0;         // read and written only under the lock
  std::atomic<bool> stop{false};
  std::atomic<int> killed_count{0};
  std::array<std::atomic<pid_t>, kMaxKilled> killed{};

  // Recorded by the killer before it sends SIGKILL, so a locker that finds the victim's mark
  // knows the lock was handed over by its death.
  void mark_killed(pid_t pid) { killed[killed_count.fetch_add(1) % kMaxKilled].store(pid); }
  bool was_killed(pid_t pid) const {
    const int count = std::min(killed_count.load(), kMaxKilled);
    for (int i = 0; i < count; ++i) {
      if (killed[i].load() == pid) return true;
    }
    return false;
  }

  // The critical section: checks that nobody else is (or was left) inside, then holds the
  // lock for `hold`.
  void enter_and_leave(std::chrono::nanoseconds hold) {
    const pid_t self = ::getpid();
    const pid_t previous = holder.exchange(self);
    if (previous != 0) ++(was_killed(previous) ? inherited_from_killed : violations);
    const std::int64_t value = unguarded_counter;
    busy_for(hold);
    unguarded_counter = value + 1;
    if (holder.load() != self) ++violations;
    holder.store(0);
    ++entries;
  }
};

// The header of a lock object, as documented in interprocess_lock.hpp.
struct ObjectHeader {
  char magic[8];
  std::uint32_t layout_version;
  std::uint32_t state;
  std::uint32_t block_size;
  std::uint32_t mutex_size;
};

constexpr std::size_t kObjectSize = 128;

std::string object_path(const std::string& db_path) {
  return "/dev/shm/" + InterprocessLock::name_for(db_path);
}

void write_object(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::string read_object(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string object_bytes(const char (&magic)[9], std::uint32_t version, std::uint32_t state,
                         char mutex_fill = 0) {
  std::string bytes(kObjectSize, mutex_fill);
  ObjectHeader header{};
  std::memcpy(header.magic, magic, 8);
  header.layout_version = version;
  header.state = state;
  header.block_size = kObjectSize;
  header.mutex_size = sizeof(pthread_mutex_t);
  std::memcpy(bytes.data(), &header, sizeof header);
  std::fill(bytes.begin() + sizeof header, bytes.begin() + 64, '\0');
  return bytes;
}

std::uint32_t object_state(const std::string& path) {
  const std::string bytes = read_object(path);
  ObjectHeader header{};
  std::memcpy(&header, bytes.data(), std::min(bytes.size(), sizeof header));
  return header.state;
}

// A child that holds the lock of `db_path` from when it sets `held` until `release` is set.
ChildProcess holder_until_released(const std::string& db_path, std::atomic<bool>& held,
                                   std::atomic<bool>& release) {
  return ChildProcess([&, db_path] {
    InterprocessLock lock(db_path);
    lock.lock();
    held = true;
    sleep_until_set(release);
    lock.unlock();
    return 0;
  });
}

// Whether another process finds the lock of `path` taken.
bool taken_for_another_process(const std::string& path) {
  ChildProcess probe([&] {
    InterprocessLock lock(path);
    if (!lock.try_lock()) return 1;
    lock.unlock();
    return 0;
  });
  return probe.wait() == 1;
}

struct HandoverTimes {
  std::atomic<bool> held{false};
  std::atomic<int> about_to_lock{0};
  std::atomic<std::int64_t> killed_at_ns{0};
  std::array<std::atomic<std::int64_t>, 3> acquired_at_ns{};
  std::atomic<std::int64_t> violations{0};
  std::atomic<bool> inside{false};
};

}  // namespace

TEST_CASE("processes holding the lock never overlap") {
  ScratchDatabase db;
  SharedMemory<ExclusionRecord> record;
  constexpr int kProcesses = 4;
  constexpr int kRounds = 2000;

  std::vector<ChildProcess> lockers;
  for (int i = 0; i < kProcesses; ++i) {
    lockers.emplace_back([&] {
      InterprocessLock lock(db.path());
      for (int round = 0; round < kRounds; ++round) {
        const std::lock_guard guard(lock);
        record->enter_and_leave(2us);
      }
      return 0;
    });
  }
  for (auto& locker : lockers) CHECK(locker.wait() == 0);

  CHECK(record->violations == 0);
  CHECK(record->entries == kProcesses * kRounds);
  CHECK(record->unguarded_counter == kProcesses * kRounds);
}

TEST_CASE("processes opening a new lock at the same moment all get the same working lock") {
  constexpr int kRounds = 10;
  constexpr int kProcesses = 6;
  constexpr int kEntries = 50;
  for (int round = 0; round < kRounds; ++round) {
    ScratchDatabase db;
    SharedMemory<ExclusionRecord> record;
    SharedMemory<std::atomic<bool>> go(false);
    std::vector<ChildProcess> openers;
    for (int i = 0; i < kProcesses; ++i) {
      openers.emplace_back([&] {
        while (!*go) std::this_thread::yield();
        InterprocessLock lock(db.path());
        for (int entry = 0; entry < kEntries; ++entry) {
          const std::lock_guard guard(lock);
          record->enter_and_leave(1us);
        }
        return 0;
      });
    }
    *go = true;
    for (auto& opener : openers) CHECK(opener.wait() == 0);
    CHECK(record->violations == 0);
    CHECK(record->unguarded_counter == kProcesses * kEntries);
  }
}

TEST_CASE("threads of one process are excluded, through one lock object or several") {
  ScratchDatabase db;
  InterprocessLock shared(db.path());
  std::int64_t counter = 0;
  constexpr int kRounds = 20'000;

  auto add = [&](InterprocessLock& lock) {
    for (int round = 0; round < kRounds; ++round) {
      const std::lock_guard guard(lock);
      ++counter;
    }
  };
  std::vector<std::thread> threads;
  threads.emplace_back(add, std::ref(shared));
  threads.emplace_back(add, std::ref(shared));
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&] {
      InterprocessLock own(db.path());
      add(own);
    });
  }
  for (auto& thread : threads) thread.join();

  CHECK(counter == 4 * kRounds);
}

TEST_CASE("a relative path, a symlink and a hard link to the file all give the same lock") {
  ScratchDatabase db;
  const fs::path symlink = db.dir() / "symlink";
  const fs::path hard_link = db.dir() / "hard-link";
  fs::create_symlink(db.path(), symlink);
  fs::create_hard_link(db.path(), hard_link);
  const std::string relative = fs::relative(db.path()).string();
  ScratchDatabase other;

  InterprocessLock lock(db.path());
  const std::string prefix = "pyrate-lock-v2-";
  CHECK(lock.name().size() == prefix.size() + 16);
  CHECK(lock.name().starts_with(prefix));
  CHECK(lock.name().find_first_not_of("0123456789abcdef", prefix.size()) == std::string::npos);
  CHECK(fs::exists("/dev/shm/" + lock.name()));
  CHECK(InterprocessLock::name_for(symlink.string()) == lock.name());
  CHECK(InterprocessLock::name_for(hard_link.string()) == lock.name());
  CHECK(InterprocessLock::name_for(relative) == lock.name());
  CHECK(InterprocessLock::name_for(other.path()) != lock.name());

  lock.lock();
  CHECK(taken_for_another_process(symlink.string()));
  CHECK(taken_for_another_process(hard_link.string()));
  CHECK(taken_for_another_process(relative));
  CHECK_FALSE(taken_for_another_process(other.path()));
  lock.unlock();
  CHECK_FALSE(taken_for_another_process(symlink.string()));
}

TEST_CASE("a holder killed by SIGKILL hands the lock to its blocked waiters within 2 s") {
  ScratchDatabase db;
  SharedMemory<HandoverTimes> times;

  ChildProcess holder([&] {
    InterprocessLock lock(db.path());
    lock.lock();
    times->held = true;
    while (true) std::this_thread::sleep_for(1s);
    return 0;
  });
  sleep_until_set(times->held);

  std::vector<ChildProcess> waiters;
  for (std::size_t i = 0; i < times->acquired_at_ns.size(); ++i) {
    waiters.emplace_back([&, i] {
      InterprocessLock lock(db.path());
      ++times->about_to_lock;
      lock.lock();
      times->acquired_at_ns[i] = monotonic_ns();
      if (times->inside.exchange(true)) ++times->violations;
      std::this_thread::sleep_for(1ms);
      times->inside = false;
      lock.unlock();
      return 0;
    });
  }
  while (times->about_to_lock < static_cast<int>(waiters.size())) std::this_thread::sleep_for(1ms);
  for (const auto& waiter : waiters) REQUIRE(waiter.wait_until_sleeping(2s));

  times->killed_at_ns = monotonic_ns();
  holder.signal(SIGKILL);
  CHECK(holder.wait() == -SIGKILL);
  for (auto& waiter : waiters) CHECK(waiter.wait() == 0);

  for (const auto& acquired : times->acquired_at_ns) {
    CAPTURE(acquired - times->killed_at_ns);
    CHECK(acquired - times->killed_at_ns > 0);
    CHECK(acquired - times->killed_at_ns < kTwoSecondsNs);
  }
  CHECK(times->violations == 0);

  InterprocessLock later(db.path());
  CHECK(later.try_lock_for(2s));
  later.unlock();
}

TEST_CASE("lockers killed at random moments never break mutual exclusion") {
  ScratchDatabase db;
  SharedMemory<ExclusionRecord> record;
  constexpr int kLockers = 4;

  // Each locker enters through lock(), try_lock() and try_lock_for() in turn, so that kills
  // land in every way of taking the lock.
  auto spawn = [&] {
    return ChildProcess([&] {
      InterprocessLock lock(db.path());
      for (std::uint64_t round = 0; !record->stop; ++round) {
        bool held = true;
        if (round % 3 == 0) {
          lock.lock();
        } else if (round % 3 == 1) {
          held = lock.try_lock();
        } else {
          held = lock.try_lock_for(1ms);
        }
        if (!held) continue;
        record->enter_and_leave(20us);
        lock.unlock();
      }
      return 0;
    });
  };
  std::vector<ChildProcess> lockers;
  for (int i = 0; i < kLockers; ++i) lockers.push_back(spawn());

  // Every other kill aims at the locker inside the critical section, if any; the others at
  // any locker, wherever it is.
  auto pick_victim = [&](std::mt19937& random, bool aim_at_holder) -> ChildProcess& {
    const pid_t holder = record->holder;
    for (auto& locker : lockers) {
      if (aim_at_holder && locker.pid() == holder) return locker;
    }
    return lockers[random() % kLockers];
  };
  std::mt19937 random(20240601);
  int kills = 0;
  const auto chaos_ends = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < chaos_ends) {
    std::this_thread::sleep_for(std::chrono::microseconds(random() % 10'000));
    ChildProcess& victim = pick_victim(random, kills % 2 == 0);
    record->mark_killed(victim.pid());
    victim.signal(SIGKILL);
    CHECK(victim.wait() == -SIGKILL);
    ++kills;
    victim = spawn();
  }
  const std::int64_t entries_before_stop = record->entries;
  std::this_thread::sleep_for(500ms);
  CHECK(record->entries > entries_before_stop);
  record->stop = true;
  for (auto& locker : lockers) CHECK(locker.wait() == 0);

  CAPTURE(kills, record->entries.load());
  CHECK(kills > 20);
  CHECK(record->inherited_from_killed > 10);
  CHECK(record->violations == 0);
  InterprocessLock after(db.path());
  CHECK(after.try_lock_for(2s));
  after.unlock();
}

TEST_CASE("a lock object left locked by a dead holder works at the next start") {
  ScratchDatabase db;
  SharedMemory<std::atomic<bool>> held(false);

  ChildProcess killed_holder([&] {
    InterprocessLock lock(db.path());
    lock.lock();
    *held = true;
    while (true) std::this_thread::sleep_for(1s);
    return 0;
  });
  sleep_until_set(*held);
  killed_holder.signal(SIGKILL);
  CHECK(killed_holder.wait() == -SIGKILL);
  REQUIRE(fs::exists(object_path(db.path())));

  ChildProcess next_start([&] {
    InterprocessLock lock(db.path());
    if (!lock.try_lock_for(2s)) return 1;
    lock.unlock();
    return 0;
  });
  CHECK(next_start.wait() == 0);
}

TEST_CASE("a lock destroyed by its holder, or held by a thread that ends, is released") {
  ScratchDatabase db;
  SharedMemory<std::atomic<bool>> destroyed(false);
  SharedMemory<std::atomic<bool>> release(false);

  ChildProcess destroys_while_holding([&] {
    {
      InterprocessLock lock(db.path());
      lock.lock();
    }
    *destroyed = true;
    sleep_until_set(*release);
    return 0;
  });
  sleep_until_set(*destroyed);
  CHECK_FALSE(taken_for_another_process(db.path()));
  *release = true;
  CHECK(destroys_while_holding.wait() == 0);

  {
    InterprocessLock lock(db.path());
    std::thread([&] { lock.lock(); }).join();
    CHECK(lock.try_lock());
    lock.unlock();
  }

  {
    auto only_lock = std::make_unique<InterprocessLock>(db.path());
    std::atomic<bool> held = false;
    std::atomic<bool> lock_destroyed = false;
    std::thread holder([&] {
      only_lock->lock();
      held = true;
      sleep_until_set(lock_destroyed);
    });
    sleep_until_set(held);
    only_lock.reset();
    lock_destroyed = true;
    holder.join();
  }
  InterprocessLock after(db.path());
  CHECK(after.try_lock_for(2s));
  after.unlock();
}

TEST_CASE("a ready lock object of another layout is refused and left untouched") {
  ScratchDatabase db;
  const std::string path = object_path(db.path());
  const std::string newer_layout = object_bytes("PYRATELK", 3, 2, '\x5a');
  const std::string foreign = object_bytes("SOMEPROG", 1, 2, '\x5a');
  const std::string too_small(16, '\x01');

  for (const std::string& bytes : {newer_layout, foreign, too_small}) {
    write_object(path, bytes);
    CHECK_THROWS_AS(InterprocessLock(db.path()), StorageError);
    CHECK(read_object(path) == bytes);
  }
  write_object(path, newer_layout);
  CHECK_THROWS_WITH(InterprocessLock(db.path()), Catch::Contains("another layout") &&
                                                     Catch::Contains(path) &&
                                                     Catch::Contains(db.path()));
}

TEST_CASE("a lock object whose creator died during initialisation is initialised again") {
  const std::vector<std::pair<std::string, std::string>> left_behind = {
      {"created, not sized", ""},
      {"sized, header not written", std::string(kObjectSize, '\0')},
      {"header written, mutex not ready", object_bytes("PYRATELK", 2, 1, '\xab')},
  };
  for (const auto& [when, bytes] : left_behind) {
    CAPTURE(when);
    ScratchDatabase db;
    const std::string path = object_path(db.path());
    write_object(path, bytes);

    InterprocessLock lock(db.path());
    CHECK(object_state(path) == 2);
    CHECK(read_object(path).size() == kObjectSize);
    lock.lock();
    CHECK(taken_for_another_process(db.path()));
    lock.unlock();
    CHECK_FALSE(taken_for_another_process(db.path()));
  }
}

TEST_CASE("an opener finding the object not ready waits for whoever holds its flock") {
  ScratchDatabase db;
  const std::string path = object_path(db.path());
  write_object(path, "");
  const int initialiser = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  REQUIRE(initialiser >= 0);
  REQUIRE(::flock(initialiser, LOCK_EX) == 0);

  SharedMemory<std::atomic<bool>> opened(false);
  ChildProcess opener([&] {
    InterprocessLock lock(db.path());
    *opened = true;
    if (object_state(path) != 2) return 2;
    return lock.try_lock() ? 0 : 1;
  });
  std::this_thread::sleep_for(300ms);
  CHECK_FALSE(*opened);
  CHECK(read_object(path).empty());

  ::flock(initialiser, LOCK_UN);
  ::close(initialiser);
  CHECK(opener.wait() == 0);
  CHECK(*opened);
}

TEST_CASE("a stopped holder makes the others wait and time out, and resuming it lets them in") {
  ScratchDatabase db;
  SharedMemory<std::atomic<bool>> held(false);
  SharedMemory<std::atomic<bool>> release(false);
  ChildProcess holder = holder_until_released(db.path(), *held, *release);
  sleep_until_set(*held);
  holder.signal(SIGSTOP);

  InterprocessLock lock(db.path());
  CHECK_FALSE(lock.try_lock());
  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(lock.try_lock_for(300ms));
  CHECK(std::chrono::steady_clock::now() - start >= 300ms);

  *release = true;
  holder.signal(SIGCONT);
  CHECK(lock.try_lock_for(2s));
  lock.unlock();
  CHECK(holder.wait() == 0);
}

TEST_CASE("try_lock and try_lock_until give up while another process holds the lock") {
  ScratchDatabase db;
  SharedMemory<std::atomic<bool>> held(false);
  SharedMemory<std::atomic<bool>> release(false);
  ChildProcess holder = holder_until_released(db.path(), *held, *release);
  sleep_until_set(*held);
  InterprocessLock lock(db.path());

  auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(lock.try_lock());
  CHECK_FALSE(lock.try_lock_until(start - 1s));
  CHECK(std::chrono::steady_clock::now() - start < 1s);

  start = std::chrono::steady_clock::now();
  CHECK_FALSE(lock.try_lock_until(start + 200ms));
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(waited >= 200ms);
  CHECK(waited < 2s);

  *release = true;
  CHECK(lock.try_lock_until(std::chrono::steady_clock::now() + 2s));
  lock.unlock();
  CHECK(holder.wait() == 0);
  CHECK(lock.try_lock_until(std::chrono::steady_clock::time_point::min()));
  lock.unlock();
  CHECK(lock.try_lock());
  lock.unlock();
}

TEST_CASE("std::lock_guard and std::unique_lock work with the lock") {
  ScratchDatabase db;
  InterprocessLock lock(db.path());
  LimiterLock& base = lock;
  auto free_for_another_thread = [&] {
    bool taken = false;
    std::thread([&] {
      taken = lock.try_lock();
      if (taken) lock.unlock();
    }).join();
    return taken;
  };

  {
    const std::lock_guard guard(base);
    CHECK_FALSE(free_for_another_thread());
  }
  CHECK(free_for_another_thread());
  {
    std::unique_lock guard(base, std::try_to_lock);
    CHECK(guard.owns_lock());
    guard.unlock();
    CHECK(guard.try_lock_for(50ms));
    CHECK_FALSE(free_for_another_thread());
  }
  std::unique_lock timed(lock, 100ms);
  CHECK(timed.owns_lock());
  timed.unlock();
  CHECK(free_for_another_thread());
}

TEST_CASE("taking the lock twice from one thread throws instead of deadlocking") {
  ScratchDatabase db;
  InterprocessLock lock(db.path());
  InterprocessLock same_file(db.path());
  auto is_deadlock = [](const std::system_error& error) {
    return error.code() == std::errc::resource_deadlock_would_occur;
  };

  lock.lock();
  CHECK_THROWS_MATCHES(lock.lock(), std::system_error,
                       Catch::Predicate<std::system_error>(is_deadlock));
  CHECK_THROWS_MATCHES(same_file.lock(), std::system_error,
                       Catch::Predicate<std::system_error>(is_deadlock));
  CHECK_THROWS_AS(same_file.try_lock(), std::system_error);
  CHECK_THROWS_AS(same_file.try_lock_for(10ms), std::system_error);

  bool unlock_refused = false;
  std::thread([&] {
    try {
      lock.unlock();
    } catch (const std::system_error& error) {
      unlock_refused = error.code() == std::errc::operation_not_permitted;
    }
  }).join();
  CHECK(unlock_refused);
  same_file.unlock();
  CHECK_THROWS_AS(lock.unlock(), std::system_error);
}

TEST_CASE("opening the lock of a missing file or a directory throws StorageError") {
  ScratchDatabase db;
  const std::string missing = (db.dir() / "missing.db").string();
  CHECK_THROWS_AS(InterprocessLock(missing), StorageError);
  CHECK_THROWS_WITH(InterprocessLock(missing), Catch::Contains(missing));
  CHECK_THROWS_AS(InterprocessLock::name_for(missing), StorageError);
  CHECK_THROWS_AS(InterprocessLock(db.dir().string()), StorageError);
  CHECK_FALSE(fs::exists(db.dir() / "missing.db"));
}

TEST_CASE("the lock object takes the database file's permission bits and group") {
  for (const fs::perms mode : {fs::perms(0640), fs::perms(0666), fs::perms(0600)}) {
    ScratchDatabase db;
    fs::permissions(db.path(), mode);
    InterprocessLock lock(db.path());

    struct stat object {};
    struct stat database {};
    REQUIRE(::stat(("/dev/shm/" + lock.name()).c_str(), &object) == 0);
    REQUIRE(::stat(db.path().c_str(), &database) == 0);
    CHECK((object.st_mode & 0777) == static_cast<mode_t>(mode));
    CHECK(object.st_gid == database.st_gid);
  }
}
