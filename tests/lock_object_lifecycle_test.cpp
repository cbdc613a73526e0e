// The lifecycle of the lock object behind an InterprocessLock: made by the first user of a
// file, shared by every process that uses the file, removed by the last one, and swept by
// remove_unused() when its last users were killed.
#include <sys/stat.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <pyrate/pyrate.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/child_process.hpp"

using namespace pyrate;
using namespace pyrate::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string object_path(const std::string& db_path) {
  return "/dev/shm/" + InterprocessLock::name_for(db_path);
}

// The inode of the object named `path` now, or 0 when there is none.
std::uint64_t object_inode(const std::string& path) {
  struct stat object {};
  return ::stat(path.c_str(), &object) == 0 ? object.st_ino : 0;
}

// A child that opens the lock of `db_path`, sets `opened`, and sleeps until it is killed.
ChildProcess user_until_killed(const std::string& db_path, std::atomic<bool>& opened) {
  return ChildProcess([&, db_path] {
    InterprocessLock lock(db_path);
    lock.lock();
    opened = true;
    while (true) std::this_thread::sleep_for(1s);
    return 0;
  });
}

// What racing openers and closers see of each other.
struct RaceRecord {
  std::atomic<int> inside{0};
  std::atomic<std::int64_t> violations{0};
  std::atomic<std::int64_t> entries{0};
  std::atomic<std::uint64_t> last_inode{0};
  std::atomic<std::int64_t> objects_seen{0};
};

}  // namespace

TEST_CASE("the last lock on a file to be destroyed removes its lock object") {
  ScratchDatabase db;
  const std::string path = object_path(db.path());
  auto first = std::make_unique<InterprocessLock>(db.path());
  auto second = std::make_unique<InterprocessLock>(db.path());
  CHECK(fs::exists(path));
  first.reset();
  CHECK(fs::exists(path));
  second.reset();
  CHECK_FALSE(fs::exists(path));

  InterprocessLock again(db.path());
  CHECK(fs::exists(path));
  CHECK(again.try_lock());
  again.unlock();
}

TEST_CASE("a lock object stays while another process uses it, and that process removes it") {
  ScratchDatabase db;
  const std::string path = object_path(db.path());
  SharedMemory<std::atomic<bool>> opened(false);
  SharedMemory<std::atomic<bool>> release(false);
  ChildProcess other_user([&] {
    InterprocessLock lock(db.path());
    *opened = true;
    sleep_until_set(*release);
    return 0;
  });
  sleep_until_set(*opened);

  { InterprocessLock lock(db.path()); }
  CHECK(fs::exists(path));
  CHECK_FALSE(InterprocessLock::remove(db.path()));
  CHECK(fs::exists(path));

  *release = true;
  CHECK(other_user.wait() == 0);
  CHECK_FALSE(fs::exists(path));
}

TEST_CASE("a forked child and its parent each keep the lock object they share until both let go") {
  ScratchDatabase db;
  const std::string path = object_path(db.path());
  auto parent_lock = std::make_unique<InterprocessLock>(db.path());
  SharedMemory<std::atomic<int>> step(0);
  ChildProcess child([&] {
    // The child keeps the object it inherited after the parent let go of it.
    while (*step < 1) std::this_thread::sleep_for(1ms);
    parent_lock->lock();
    *step = 2;
    while (*step < 3) std::this_thread::sleep_for(1ms);
    parent_lock->unlock();
    parent_lock.reset();
    return 0;
  });

  parent_lock.reset();
  CHECK(fs::exists(path));
  InterprocessLock reopened(db.path());
  *step = 1;
  while (*step < 2) std::this_thread::sleep_for(1ms);
  CHECK_FALSE(reopened.try_lock());  // the child holds it: the same object

  *step = 3;
  CHECK(child.wait() == 0);
  CHECK(fs::exists(path));  // the child let go, the parent still uses it
  CHECK(reopened.try_lock());
  reopened.unlock();
}

TEST_CASE("openers and closers racing on one file always share one lock object") {
  ScratchDatabase db;
  const std::string path = object_path(db.path());
  SharedMemory<RaceRecord> record;
  constexpr int kProcesses = 4;
  constexpr int kRounds = 400;

  std::vector<ChildProcess> racers;
  for (int i = 0; i < kProcesses; ++i) {
    racers.emplace_back([&, i] {
      for (int round = 0; round < kRounds; ++round) {
        InterprocessLock lock(db.path());
        const std::uint64_t inode = object_inode(path);
        if (record->last_inode.exchange(inode) != inode) ++record->objects_seen;
        {
          const std::lock_guard guard(lock);
          if (record->inside.fetch_add(1) != 0) ++record->violations;
          std::this_thread::sleep_for(std::chrono::microseconds(10));
          record->inside.fetch_sub(1);
          ++record->entries;
        }
        // Staggered closes leave the file without users now and then.
        if ((round + i) % 7 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      return 0;
    });
  }
  for (auto& racer : racers) CHECK(racer.wait() == 0);

  CHECK(record->violations == 0);
  CHECK(record->entries == kProcesses * kRounds);
  INFO("objects made and removed: " << record->objects_seen);
  CHECK(record->objects_seen > 1);
  CHECK_FALSE(fs::exists(path));
}

TEST_CASE("a user killed by SIGKILL leaves the object to the others, and the last removes it") {
  ScratchDatabase db;
  const std::string path = object_path(db.path());
  SharedMemory<std::atomic<bool>> opened(false);
  ChildProcess killed = user_until_killed(db.path(), *opened);
  sleep_until_set(*opened);
  {
    InterprocessLock survivor(db.path());
    killed.signal(SIGKILL);
    CHECK(killed.wait() == -SIGKILL);
    CHECK(survivor.try_lock_for(2s));
    survivor.unlock();
    CHECK(fs::exists(path));
  }
  CHECK_FALSE(fs::exists(path));
}

TEST_CASE("remove_unused removes the objects whose users were killed and keeps those in use") {
  ScratchDatabase abandoned;
  ScratchDatabase in_use;
  const std::string abandoned_path = object_path(abandoned.path());
  const std::string in_use_path = object_path(in_use.path());
  SharedMemory<std::atomic<bool>> opened(false);
  ChildProcess killed = user_until_killed(abandoned.path(), *opened);
  sleep_until_set(*opened);
  killed.signal(SIGKILL);
  CHECK(killed.wait() == -SIGKILL);
  REQUIRE(fs::exists(abandoned_path));

  auto lock = std::make_unique<InterprocessLock>(in_use.path());
  const InterprocessLock::Sweep sweep = InterprocessLock::remove_unused();
  CHECK(sweep.removed >= 1);
  CHECK(sweep.in_use >= 1);
  CHECK_FALSE(fs::exists(abandoned_path));
  CHECK(fs::exists(in_use_path));
  CHECK(lock->try_lock());
  lock->unlock();

  lock.reset();
  CHECK_FALSE(fs::exists(in_use_path));
}

TEST_CASE("remove removes a file's lock object only when no process uses it") {
  ScratchDatabase db;
  const std::string path = object_path(db.path());
  CHECK_FALSE(InterprocessLock::remove(db.path()));

  SharedMemory<std::atomic<bool>> opened(false);
  ChildProcess killed = user_until_killed(db.path(), *opened);
  sleep_until_set(*opened);
  {
    InterprocessLock lock(db.path());
    CHECK_FALSE(InterprocessLock::remove(db.path()));
    killed.signal(SIGKILL);
    CHECK(killed.wait() == -SIGKILL);
    CHECK_FALSE(InterprocessLock::remove(db.path()));  // this process still uses it
  }
  CHECK_FALSE(fs::exists(path));

  *opened = false;
  ChildProcess killed_again = user_until_killed(db.path(), *opened);
  sleep_until_set(*opened);
  killed_again.signal(SIGKILL);
  CHECK(killed_again.wait() == -SIGKILL);
  CHECK(fs::exists(path));
  CHECK(InterprocessLock::remove(db.path()));
  CHECK_FALSE(fs::exists(path));
}

TEST_CASE("a lock whose holder thread outlived it keeps its object until that thread ends") {
  ScratchDatabase db;
  const std::string path = object_path(db.path());
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
  CHECK(fs::exists(path));
  lock_destroyed = true;
  holder.join();

  // The next use of any lock lets go of the mapping the ended thread needed.
  { InterprocessLock next(db.path()); }
  CHECK_FALSE(fs::exists(path));
}

TEST_CASE("destroying a multiprocess bucket on a temporary file removes the file's lock object") {
  SQLiteOptions options;
  options.multiprocess = true;
  std::optional<SQLiteBucket> bucket(std::in_place, std::vector<Rate>{Rate(5, 1000)}, options);
  const std::string db_path = bucket->db_path();
  const std::string path = object_path(db_path);
  REQUIRE(fs::exists(path));
  LimiterLock& lock = *bucket->limiter_lock();
  lock.lock();
  bucket->close();
  CHECK_FALSE(fs::exists(db_path));
  lock.unlock();  // a holder keeps a working lock until it lets go
  bucket.reset();
  CHECK_FALSE(fs::exists(path));
}
