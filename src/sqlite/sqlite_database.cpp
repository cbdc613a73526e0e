#include "sqlite/sqlite_database.hpp"

#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <thread>

namespace pyrate {
namespace {

using Deadline = std::chrono::steady_clock::time_point;

int busy_timeout_ms(std::chrono::milliseconds busy_timeout) {
  return static_cast<int>(std::min<std::chrono::milliseconds::rep>(
      busy_timeout.count(), std::numeric_limits<int>::max()));
}

bool is_busy(const SQLite::Exception& error) {
  return (error.getErrorCode() & 0xff) == SQLITE_BUSY;
}

// Runs `step` until it does not fail with SQLITE_BUSY or `deadline` has passed. For the steps
// of opening that SQLite fails at once, without calling the busy handler, while another
// connection sets the file up (e.g. switching a brand-new file to WAL).
template <class Step>
auto retry_while_busy(Deadline deadline, Step step) {
  thread_local std::minstd_rand random(std::random_device{}());
  for (;;) {
    try {
      return step();
    } catch (const SQLite::Exception& error) {
      if (!is_busy(error) || std::chrono::steady_clock::now() >= deadline) throw;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500 + random() % 4500));
  }
}

// Keeps a connection from checkpointing the WAL into the main file when it closes, from when
// it opens until release(): a file whose version is refused keeps its bytes even when it
// carries a WAL another process left behind. (Without a WAL file there is nothing to
// checkpoint, and closing removes the WAL files the connection created.)
class CheckpointOnCloseHold {
 public:
  CheckpointOnCloseHold(SQLite::Database& db, const std::string& path) : db_(db) {
    std::error_code error;
    if (path != kMemoryPath && std::filesystem::exists(path + "-wal", error)) set(true);
  }
  void release() {
    if (blocked_) set(false);
  }

 private:
  void set(bool block) {
    sqlite3_db_config(db_.getHandle(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, block ? 1 : 0, nullptr);
    blocked_ = block;
  }

  SQLite::Database& db_;
  bool blocked_ = false;
};

int checked_version(SQLite::Database& db, const std::string& path, Deadline deadline,
                    std::span<const schema::Migration> migrations) {
  const int version = retry_while_busy(deadline, [&] { return schema::read_version(db); });
  const int latest = schema::latest_version(migrations);
  if (version > latest) throw schema::newer_schema_error(path, version, latest);
  return version;
}

void switch_to_wal(SQLite::Database& db, const std::string& path, Deadline deadline) {
  const std::string mode = retry_while_busy(
      deadline, [&] { return db.execAndGet("PRAGMA journal_mode = WAL").getString(); });
  if (mode != "wal" && !(path == kMemoryPath && mode == "memory")) {
    throw StorageError(path + ": open: cannot switch to the WAL journal (journal_mode is " + mode +
                       "); is the directory writable?");
  }
}

}  // namespace

const char* synchronous_pragma(Durability durability) {
  switch (durability) {
    case Durability::Off:
      return "PRAGMA synchronous = OFF";
    case Durability::Normal:
      return "PRAGMA synchronous = NORMAL";
    case Durability::Full:
      return "PRAGMA synchronous = FULL";
  }
  throw std::invalid_argument("unknown Durability " + std::to_string(static_cast<int>(durability)));
}

TemporaryDatabaseFile::TemporaryDatabaseFile() {
  std::error_code error;
  const std::filesystem::path directory = std::filesystem::temp_directory_path(error);
  if (error) throw StorageError("cannot find the temporary directory: " + error.message());
  std::string pattern = std::filesystem::absolute(directory / "pyrate-XXXXXX.db", error).string();
  if (error) throw StorageError("cannot resolve the temporary directory: " + error.message());
  const int fd = ::mkstemps(pattern.data(), 3);
  if (fd < 0) {
    throw StorageError(pattern +
                       ": cannot create a temporary database file: " + std::strerror(errno));
  }
  ::close(fd);
  path_ = std::move(pattern);
}

TemporaryDatabaseFile::~TemporaryDatabaseFile() {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    std::error_code ignored;
    std::filesystem::remove(path_ + suffix, ignored);
  }
}

std::string absolute_database_path(const std::string& db_path) {
  if (db_path.find('\0') != std::string::npos) {
    throw std::invalid_argument("db_path must not contain a NUL byte");
  }
  if (db_path == kMemoryPath) return db_path;
  std::error_code error;
  const std::filesystem::path absolute = std::filesystem::absolute(db_path, error);
  if (error) throw StorageError(db_path + ": cannot make the path absolute: " + error.message());
  return absolute.string();
}

std::unique_ptr<SQLite::Database> open_bucket_database(
    const std::string& path, Durability durability, std::chrono::milliseconds busy_timeout,
    std::span<const schema::Migration> migrations) {
  const Deadline deadline = std::chrono::steady_clock::now() + busy_timeout;
  try {
    auto db = std::make_unique<SQLite::Database>(
        path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX,
        busy_timeout_ms(busy_timeout));
    CheckpointOnCloseHold checkpoint_hold(*db, path);
    const int version = checked_version(*db, path, deadline, migrations);
    if (sqlite3_db_readonly(db->getHandle(), "main") == 1) {
      throw StorageError(path + ": open: the file is read-only");
    }
    checkpoint_hold.release();
    // synchronous first: it also governs the rollback-journal transaction that switches a new
    // file to WAL.
    db->exec(synchronous_pragma(durability));
    switch_to_wal(*db, path, deadline);
    if (version < schema::latest_version(migrations)) schema::migrate(*db, migrations);
    return db;
  } catch (const SQLite::Exception& error) {
    throw storage_error(path, "open", error);
  }
}

std::unique_ptr<SQLite::Database> open_existing_database(
    const std::string& path, std::chrono::milliseconds busy_timeout,
    std::span<const schema::Migration> migrations, int* version) {
  std::error_code error;
  const bool exists = std::filesystem::exists(path, error);
  if (error) throw StorageError(path + ": open: " + error.message());
  if (!exists) return nullptr;
  const Deadline deadline = std::chrono::steady_clock::now() + busy_timeout;
  try {
    // Read-write without create, although it only reads: a read-write connection removes the
    // WAL files it had to create when it closes, where a read-only one leaves them behind.
    // SQLite still opens a file it may not write, read-only.
    auto db = std::make_unique<SQLite::Database>(
        path, SQLite::OPEN_READWRITE | SQLite::OPEN_NOMUTEX, busy_timeout_ms(busy_timeout));
    const CheckpointOnCloseHold checkpoint_hold(*db, path);  // held: this connection only reads
    *version = checked_version(*db, path, deadline, migrations);
    return db;
  } catch (const SQLite::Exception& error) {
    throw storage_error(path, "open", error);
  }
}

StorageError storage_error(const std::string& path, std::string_view operation,
                           const SQLite::Exception& error) {
  return StorageError(path + ": " + std::string(operation) + ": " + error.what());
}

}  // namespace pyrate
