// SQLiteBucket when things go wrong: files it cannot use, a database held busy, a file that
// cannot grow, and processes killed while they admit. A failure is a StorageError naming the
// path, and never an admission that was not recorded.
#include <SQLiteCpp/SQLiteCpp.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <pyrate/pyrate.hpp>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/sqlite_test_support.hpp"

using pyrate::Durability;
using pyrate::Rate;
using pyrate::RateItem;
using pyrate::SQLiteBucket;
using pyrate::SQLiteOptions;
using pyrate::StorageError;
using pyrate_test::at;
using pyrate_test::ScratchDir;

namespace {

RateItem item(pyrate::Millis timestamp, std::int64_t weight = 1) {
  return RateItem{"item", timestamp, weight};
}

// Opening `options` throws StorageError whose message names the path: 0; opens: 1; another
// exception: 2.
int open_fails_with_storage_error(const SQLiteOptions& options, const std::string& path) {
  try {
    SQLiteBucket bucket({Rate(1, 1000)}, options);
    return 1;
  } catch (const StorageError& error) {
    if (std::string(error.what()).find(path) == std::string::npos) return 3;
    return 0;
  } catch (...) {
    return 2;
  }
}

// The message of the StorageError that opening `options` throws; "" when it opens or throws
// something else.
std::string open_error_message(const SQLiteOptions& options) {
  try {
    SQLiteBucket bucket({Rate(1, 1000)}, options);
  } catch (const StorageError& error) {
    return error.what();
  } catch (...) {
  }
  return "";
}

// Whether `message` names `path` and holds `reason`.
bool says(const std::string& message, const std::string& path, const std::string& reason) {
  return message.find(path) != std::string::npos && message.find(reason) != std::string::npos;
}

void make_traversable(const ScratchDir& dir) {
  std::filesystem::permissions(
      dir.path(), std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                      std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                      std::filesystem::perms::others_exec);
}

std::int64_t bytes_in_pipe(int fd) {
  std::int64_t total = 0;
  char buffer[4096];
  for (;;) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got > 0) {
      total += got;
    } else if (got == 0 || errno != EINTR) {
      return total;
    }
  }
}

std::string integrity(const std::string& path) {
  // Read-write: after a kill, the first connection rebuilds the WAL index.
  SQLite::Database db(path, SQLite::OPEN_READWRITE);
  return db.execAndGet("PRAGMA integrity_check").getString();
}

// Forks children that admit items in a loop, each admission reported on a pipe after put()
// returned, and SIGKILLs them at random moments: the first while it still creates the file,
// the others at a random delay after their first admission. The reopened file must hold every
// reported admission, and at most one more per kill (recorded but not yet reported).
void check_kills_lose_no_reported_admission(Durability durability, unsigned seed) {
  constexpr int kRounds = 8;
  ScratchDir dir;
  const std::string path = dir.file("killed.db");
  SQLiteOptions options = at(path);
  options.durability = durability;
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> delay_us(0, 20'000);
  std::int64_t reported = 0;
  for (int round = 0; round < kRounds; ++round) {
    int report[2];
    REQUIRE(::pipe(report) == 0);
    pyrate::testing::ChildProcess child([&] {
      ::close(report[0]);
      SQLiteBucket bucket({Rate(1'000'000'000, pyrate::Duration::Week)}, options);
      for (;;) {
        if (bucket.put(RateItem{"k", bucket.now(), 1})) {
          const char admitted = '+';
          if (::write(report[1], &admitted, 1) != 1) return 3;
        }
      }
    });
    ::close(report[1]);
    if (round == 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    } else {
      char first;
      REQUIRE(::read(report[0], &first, 1) == 1);
      ++reported;
      std::this_thread::sleep_for(std::chrono::microseconds(delay_us(random)));
    }
    child.signal(SIGKILL);
    CHECK(child.wait() == -SIGKILL);  // it was still admitting when killed
    reported += bytes_in_pipe(report[0]);
    ::close(report[0]);
  }
  REQUIRE(integrity(path) == "ok");
  SQLiteBucket reopened({Rate(1'000'000'000, pyrate::Duration::Week)}, options);
  const std::int64_t held = reopened.count();
  CHECK(held >= reported);
  CHECK(held <= reported + kRounds);
  CHECK(reported > 0);
}

}  // namespace

TEST_CASE("SQLiteBucket: a directory that does not exist is a StorageError naming the path") {
  ScratchDir dir;
  const std::string path = dir.file("missing/sub/limits.db");
  CHECK(open_fails_with_storage_error(at(path), path) == 0);
  CHECK_FALSE(pyrate_test::exists(dir.file("missing")));
}

TEST_CASE("SQLiteBucket: a path below a regular file is a StorageError naming the path") {
  ScratchDir dir;
  { std::ofstream(dir.file("plain")) << "not a directory"; }
  const std::string path = dir.file("plain/limits.db");
  CHECK(open_fails_with_storage_error(at(path), path) == 0);
  CHECK(pyrate_test::file_bytes(dir.file("plain")) == "not a directory");
}

TEST_CASE("SQLiteBucket: a directory it may not write is a StorageError naming the path") {
  // Root ignores permission bits, so the check runs as "nobody" when the tests run as root.
  ScratchDir dir;
  make_traversable(dir);
  std::filesystem::create_directory(dir.file("locked"));
  std::filesystem::permissions(dir.file("locked"), std::filesystem::perms::owner_all |
                                                       std::filesystem::perms::group_exec |
                                                       std::filesystem::perms::others_exec |
                                                       std::filesystem::perms::group_read |
                                                       std::filesystem::perms::others_read);
  if (::geteuid() != 0) {
    std::filesystem::permissions(dir.file("locked"), std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::remove);
  }
  const std::string path = dir.file("locked/limits.db");
  CHECK(pyrate_test::run_unprivileged(
            [&] { return open_fails_with_storage_error(at(path), path); }) == 0);
  CHECK_FALSE(pyrate_test::exists(path));
}

TEST_CASE("SQLiteBucket: unable to open the file names the system's reason: permission denied") {
  ScratchDir dir;
  make_traversable(dir);
  std::filesystem::create_directory(dir.file("locked"));
  std::filesystem::permissions(dir.file("locked"), std::filesystem::perms::owner_read |
                                                       std::filesystem::perms::owner_exec |
                                                       std::filesystem::perms::others_read |
                                                       std::filesystem::perms::others_exec);
  const std::string path = dir.file("locked/limits.db");
  CHECK(pyrate_test::run_unprivileged([&] {
          const std::string message = open_error_message(at(path));
          return says(message, path, "unable to open database file: Permission denied") ? 0 : 1;
        }) == 0);
  CHECK_FALSE(pyrate_test::exists(path));
}

TEST_CASE("SQLiteBucket: unable to open the file names the system's reason: not a directory") {
  ScratchDir dir;
  { std::ofstream(dir.file("plain")) << "not a directory"; }
  const std::string path = dir.file("plain/limits.db");
  CHECK_THAT(
      open_error_message(at(path)),
      Catch::Contains(path) && Catch::Contains("unable to open database file: Not a directory"));
  CHECK(pyrate::list_sqlite_buckets(path).empty());  // nothing is there to list
}

TEST_CASE("SQLiteBucket: unable to open the file names the system's reason: too many open files") {
  ScratchDir dir;
  const std::string path = dir.file("limits.db");
  const int code = pyrate_test::run_in_child([&] {
    // The lowest free descriptor becomes the limit: the next open fails with EMFILE.
    const int lowest_free = ::dup(0);
    if (lowest_free < 0) return 2;
    ::close(lowest_free);
    const rlimit limit{static_cast<rlim_t>(lowest_free), static_cast<rlim_t>(lowest_free)};
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) return 3;
    const std::string message = open_error_message(at(path));
    return says(message, path, "unable to open database file: Too many open files") ? 0 : 1;
  });
  CHECK(code == 0);
  CHECK_FALSE(pyrate_test::exists(path));
}

TEST_CASE("SQLiteBucket: a database path must be a regular file or name nothing yet") {
  ScratchDir dir;
  const std::string fifo = dir.file("fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::filesystem::create_directory(dir.file("directory"));
  const std::vector<std::pair<std::string, std::string>> refused{
      {fifo, "a FIFO"},
      {"/dev/null", "a character device"},
      {dir.file("directory"), "a directory"}};
  for (const auto& [path, kind] : refused) {
    const std::string message = open_error_message(at(path));
    CHECK_THAT(message, Catch::Contains(path + ": open: not a regular file (" + kind + ")"));
    try {
      pyrate::list_sqlite_buckets(path);
      FAIL("list_sqlite_buckets read " + path);
    } catch (const StorageError& error) {
      CHECK_THAT(error.what(), Catch::Contains("not a regular file (" + kind + ")"));
    }
  }
  CHECK(std::filesystem::is_fifo(fifo));
  CHECK(std::filesystem::is_empty(dir.file("directory")));
  CHECK(open_error_message(at(dir.file("new.db"))).empty());  // a path where nothing is yet
}

TEST_CASE("SQLiteBucket: a read-only file is a StorageError, its bytes unchanged") {
  ScratchDir dir;
  make_traversable(dir);
  const std::string path = dir.file("readonly.db");
  {
    SQLiteBucket bucket({Rate(5, 1000)}, at(path));
    REQUIRE(bucket.put(item(0, 2)));
  }
  // The directory stays writable for everyone: only the file itself is read-only.
  std::filesystem::permissions(dir.path(), std::filesystem::perms::all);
  std::filesystem::permissions(path, std::filesystem::perms::owner_read |
                                         std::filesystem::perms::group_read |
                                         std::filesystem::perms::others_read);
  if (::geteuid() != 0) {
    std::filesystem::permissions(path, std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::remove);
  }
  const std::string bytes = pyrate_test::file_bytes(path);
  const int code = pyrate_test::run_unprivileged([&] {
    const int opened = open_fails_with_storage_error(at(path), path);
    if (opened != 0) return opened;
    // Reading is still allowed.
    const auto stored = pyrate::list_sqlite_buckets(path);
    return stored.size() == 1 && stored[0].name == "rate_bucket" ? 0 : 4;
  });
  CHECK(code == 0);
  CHECK(pyrate_test::file_bytes(path) == bytes);
}

TEST_CASE("SQLiteBucket: a file that is not a database is a StorageError, its bytes unchanged") {
  ScratchDir dir;
  const std::string path = dir.file("text.db");
  std::string text;
  for (int i = 0; i < 200; ++i) text += "this is a plain text file, not a database\n";
  { std::ofstream(path, std::ios::binary) << text; }
  try {
    SQLiteBucket bucket({Rate(1, 1000)}, at(path));
    FAIL("a text file was opened as a database");
  } catch (const StorageError& error) {
    CHECK_THAT(error.what(), Catch::Contains(path));
    CHECK_THAT(error.what(), Catch::Contains("not a database"));
  }
  CHECK_THROWS_AS(pyrate::list_sqlite_buckets(path), StorageError);
  CHECK(pyrate_test::file_bytes(path) == text);
  CHECK_FALSE(pyrate_test::exists(path + "-wal"));
  CHECK_FALSE(pyrate_test::exists(path + "-shm"));
}

TEST_CASE("SQLiteBucket: put busy past busy_timeout is a StorageError and admits nothing") {
  ScratchDir dir;
  const std::string path = dir.file("busy.db");
  SQLiteOptions options = at(path);
  options.busy_timeout = std::chrono::milliseconds(100);
  SQLiteBucket bucket({Rate(10, 1000)}, options);
  REQUIRE(bucket.put(item(0)));

  SQLite::Database other(path, SQLite::OPEN_READWRITE);
  other.exec("BEGIN EXCLUSIVE");
  const auto start = std::chrono::steady_clock::now();
  try {
    bucket.put(item(1));
    FAIL("put succeeded while another connection held the write lock");
  } catch (const StorageError& error) {
    CHECK_THAT(error.what(), Catch::Contains(path));
    CHECK_THAT(error.what(), Catch::Contains("locked"));
  }
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(90));
  CHECK_FALSE(bucket.failing_rate().has_value());
  CHECK(bucket.count() == 1);  // reading does not need the write lock
  CHECK_THROWS_AS(bucket.leak(100'000), StorageError);
  CHECK_THROWS_AS(bucket.flush(), StorageError);
  other.exec("ROLLBACK");

  CHECK(bucket.count() == 1);
  CHECK(bucket.put(item(2)));
  CHECK(bucket.count() == 2);
}

TEST_CASE("SQLiteBucket: opening a file busy past busy_timeout is a StorageError") {
  ScratchDir dir;
  const std::string path = dir.file("busy-open.db");
  { SQLiteBucket bucket({Rate(10, 1000)}, at(path)); }
  SQLite::Database other(path, SQLite::OPEN_READWRITE);
  other.exec("BEGIN EXCLUSIVE");
  SQLiteOptions options = at(path, "another");
  options.busy_timeout = std::chrono::milliseconds(50);
  CHECK(open_fails_with_storage_error(options, path) == 0);
  other.exec("ROLLBACK");
  CHECK(open_fails_with_storage_error(options, path) == 1);
}

TEST_CASE("SQLiteBucket: a put the file cannot grow for throws and is never admitted") {
  // RLIMIT_FSIZE makes the file system refuse to grow the files, as a full disk would; it
  // applies to root too. The child reports each admission after put() returns true.
  ScratchDir dir;
  const std::string path = dir.file("full.db");
  int report[2];
  REQUIRE(::pipe(report) == 0);
  const int code = pyrate_test::run_in_child([&] {
    ::close(report[0]);
    std::signal(SIGXFSZ, SIG_IGN);
    SQLiteBucket bucket({Rate(1'000'000, pyrate::Duration::Hour)}, at(path));
    const rlimit limit{256 * 1024, 256 * 1024};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return 5;
    for (int i = 0; i < 100'000; ++i) {
      try {
        if (!bucket.put(RateItem{std::string(300, 'x'), i, 1})) return 3;
      } catch (const StorageError& error) {
        return std::string(error.what()).find(path) != std::string::npos ? 0 : 4;
      }
      const char admitted = '+';
      if (::write(report[1], &admitted, 1) != 1) return 6;
    }
    return 1;
  });
  ::close(report[1]);
  const std::int64_t reported = bytes_in_pipe(report[0]);
  ::close(report[0]);
  CHECK(code == 0);
  CHECK(reported > 0);
  REQUIRE(integrity(path) == "ok");
  SQLiteBucket reopened({Rate(1'000'000, pyrate::Duration::Hour)}, at(path));
  CHECK(reopened.count() == reported);
}

TEST_CASE("SQLiteBucket: a process killed at any instant loses no reported admission (Off)") {
  check_kills_lose_no_reported_admission(Durability::Off, 1);
}

TEST_CASE("SQLiteBucket: a process killed at any instant loses no reported admission (Normal)") {
  check_kills_lose_no_reported_admission(Durability::Normal, 2);
}

TEST_CASE("SQLiteBucket: a process killed at any instant loses no reported admission (Full)") {
  check_kills_lose_no_reported_admission(Durability::Full, 3);
}
