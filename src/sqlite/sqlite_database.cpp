#include "sqlite/sqlite_database.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <system_error>
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
  return retry_while_busy(deadline,
                          [&] { return schema::recognised_version(db, path, migrations); });
}

void switch_to_wal(SQLite::Database& db, const std::string& path, Deadline deadline) {
  const std::string mode = retry_while_busy(
      deadline, [&] { return db.execAndGet("PRAGMA journal_mode = WAL").getString(); });
  if (mode != "wal" && !(path == kMemoryPath && mode == "memory")) {
    throw StorageError(path + ": open: cannot switch to the WAL journal (journal_mode is " + mode +
                       "); is the directory writable?");
  }
}

// What the system says about opening `path` for reading and writing, for SQLite's bare
// "unable to open database file" (SQLite's own errno is lost with its handle, and names the
// read-only retry it makes after a refused create): "Permission denied", "Not a directory",
// "Too many open files"; empty when the open works now.
std::string open_failure_reason(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd >= 0) {
    ::close(fd);
    return {};
  }
  int error = errno;
  if (error == ENOENT) {
    // A missing file is created in its directory.
    const std::string directory = std::filesystem::path(path).parent_path().string();
    if (::faccessat(AT_FDCWD, directory.c_str(), W_OK | X_OK, AT_EACCESS) == 0) return {};
    error = errno;
  }
  return std::generic_category().message(error);
}

// The StorageError for SQLite's failure to open `path`, with the system's reason when SQLite
// only says it was unable to open the file.
StorageError open_error(const std::string& path, const SQLite::Exception& error) {
  std::string message = path + ": open: " + error.what();
  if ((error.getErrorCode() & 0xff) == SQLITE_CANTOPEN) {
    const std::string reason = open_failure_reason(path);
    if (!reason.empty()) message += ": " + reason;
  }
  return StorageError(message);
}

// What is at `path`, described for a refusal: "a FIFO", "a directory".
const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "an unknown kind of file";
}

// Whether a regular file is at `path` (false when nothing is, or a component of the path is
// not a directory). Throws StorageError naming `path` when anything else is there (a FIFO or
// a device would block SQLite, fail with "disk I/O error" or read as an empty database), or
// when the path cannot be looked up.
bool regular_file_exists(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    const int error = errno;
    if (error == ENOENT || error == ENOTDIR) return false;
    throw StorageError(
        path + ": open: unable to open database file: " + std::generic_category().message(error));
  }
  if (S_ISREG(info.st_mode)) return true;
  throw StorageError(path + ": open: not a regular file (" + file_kind(info.st_mode) +
                     "); a database is a regular file, or a path where none exists yet");
}

bool file_exists(const std::string& path) {
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0;
}

// A read lock on the bytes that SQLite's unix VFS locks for a connection's SHARED lock on a
// database file (the lock-byte page of the file format), held as an open file description lock
// so that releasing it leaves this process's own SQLite locks on the file alone. While it is
// held no connection gets the EXCLUSIVE lock it needs to write the file itself: neither a
// rollback-journal commit nor the last close of a WAL file, which checkpoints the WAL into the
// file and deletes the -wal and -shm. A checkpoint while connections stay open writes the file
// too, but only while a -wal exists.
class SharedLockHold {
 public:
  // Throws StorageError naming `path` when the file cannot be opened or locked for a reason
  // other than a conflicting lock.
  explicit SharedLockHold(const std::string& path)
      : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY)) {
    if (fd_ < 0) fail(path, "open");
  }
  ~SharedLockHold() { ::close(fd_); }
  SharedLockHold(const SharedLockHold&) = delete;
  SharedLockHold& operator=(const SharedLockHold&) = delete;

  // Takes the lock; false while a connection holds an EXCLUSIVE lock that conflicts.
  bool try_lock(const std::string& path) { return set(path, F_RDLCK); }
  void unlock(const std::string& path) { set(path, F_UNLCK); }

 private:
  static constexpr off_t kSharedFirst = 0x40000000 + 2;  // PENDING_BYTE + 2
  static constexpr off_t kSharedSize = 510;

  bool set(const std::string& path, short type) {
    struct flock lock {};
    lock.l_type = type;
    lock.l_whence = SEEK_SET;
    lock.l_start = kSharedFirst;
    lock.l_len = kSharedSize;
    if (::fcntl(fd_, F_OFD_SETLK, &lock) == 0) return true;
    if (errno == EAGAIN || errno == EACCES) return false;
    fail(path, "lock");
  }
  [[noreturn]] static void fail(const std::string& path, const char* operation) {
    throw StorageError(path + ": read: cannot " + operation +
                       " the file: " + std::generic_category().message(errno));
  }

  int fd_;
};

// The URI of the file at the absolute `path` with the query `query` ("mode=ro"): every byte
// but unreserved ones and '/' percent-encoded, so that '?', '#' and '%' in a name stay the
// name's.
std::string file_uri(const std::string& path, std::string_view query) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string uri = "file:";
  for (const char c : path) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) != 0 || std::strchr("/-._~", c) != nullptr) {
      uri += c;
    } else {
      uri += '%';
      uri += kHex[byte >> 4];
      uri += kHex[byte & 0xf];
    }
  }
  return uri + "?" + std::string(query);
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
  if (path != kMemoryPath) regular_file_exists(path);
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
    // A file recognised at user_version 0 is adopted: migrate() records its version.
    if (version < schema::latest_version(migrations) ||
        schema::read_version(*db) != schema::latest_version(migrations)) {
      schema::migrate(*db, migrations);
    }
    return db;
  } catch (const SQLite::Exception& error) {
    throw open_error(path, error);
  }
}

bool read_existing_database(const std::string& path, std::chrono::milliseconds busy_timeout,
                            std::span<const schema::Migration> migrations,
                            const std::function<void(SQLite::Database& db, int version)>& read) {
  if (!regular_file_exists(path)) return false;
  const Deadline deadline = std::chrono::steady_clock::now() + busy_timeout;
  SharedLockHold hold(path);
  for (;;) {
    if (hold.try_lock(path)) {
      const bool wal = file_exists(path + "-wal");
      // Without a -wal the file holds every commit and nothing writes it while the lock is
      // held, so it is read as immutable: no -wal or -shm is made. With both, the read goes
      // through them, which the lock keeps from being deleted under it.
      if (!wal || file_exists(path + "-shm")) {
        int version = 0;
        std::unique_ptr<SQLite::Database> db;
        try {
          db = std::make_unique<SQLite::Database>(
              file_uri(path, wal ? "mode=ro" : "mode=ro&immutable=1"),
              SQLite::OPEN_READONLY | SQLite::OPEN_URI | SQLite::OPEN_NOMUTEX,
              busy_timeout_ms(busy_timeout));
          version = checked_version(*db, path, deadline, migrations);
        } catch (const SQLite::Exception& error) {
          throw open_error(path, error);
        }
        read(*db, version);
        // A -wal that appeared meanwhile may have been checkpointed into the file.
        if (wal || !file_exists(path + "-wal")) return true;
      }
      hold.unlock(path);
    }
    // A writer holds the file EXCLUSIVE, or is opening it (a -wal without its -shm yet), or
    // started while it was read as immutable.
    if (std::chrono::steady_clock::now() >= deadline) {
      throw StorageError(path + ": read: busy past the timeout, or a -wal without its -shm " +
                         "(opening the file once with write access repairs that)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

StorageError storage_error(const std::string& path, std::string_view operation,
                           const SQLite::Exception& error) {
  return StorageError(path + ": " + std::string(operation) + ": " + error.what());
}

}  // namespace pyrate
