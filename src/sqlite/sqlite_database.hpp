// Opening pyrate database files: where the file lives, how a connection is set up, and how
// SQLite's failures are reported.
#pragma once

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>

#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "pyrate/errors.hpp"
#include "pyrate/sqlite_bucket.hpp"
#include "sqlite/sqlite_schema.hpp"

namespace pyrate {

// The path of an in-memory database, private to its connection.
inline constexpr std::string_view kMemoryPath = ":memory:";

// A new, empty file in the system's temporary directory, deleted (with the files SQLite keeps
// beside it) when this object is destroyed.
class TemporaryDatabaseFile {
 public:
  // Throws StorageError when the file cannot be created.
  TemporaryDatabaseFile();
  ~TemporaryDatabaseFile();

  TemporaryDatabaseFile(const TemporaryDatabaseFile&) = delete;
  TemporaryDatabaseFile& operator=(const TemporaryDatabaseFile&) = delete;

  // Absolute.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The path a bucket uses for `db_path`: ":memory:" as is, anything else made absolute.
// "" must have been replaced by a temporary file's path before.
std::string absolute_database_path(const std::string& db_path);

// The PRAGMA statement that sets `durability` on a WAL database.
// Throws std::invalid_argument for a value that is not a Durability.
const char* synchronous_pragma(Durability durability);

// A connection ready for a bucket's statements: the file (created if needed) checked for a
// schema version this library knows, switched to the WAL journal, given PRAGMA synchronous from
// `durability`, and migrated to the latest of `migrations`.
// Throws SchemaError for a newer schema version, with nothing written; StorageError, naming
// `path`, when something other than a regular file is there (a FIFO, a device, a directory),
// when the file cannot be opened or created (with the system's reason: permission denied, not
// a directory, too many open files), is not a database, is read-only, or stays busy past
// `busy_timeout`.
std::unique_ptr<SQLite::Database> open_bucket_database(
    const std::string& path, Durability durability, std::chrono::milliseconds busy_timeout,
    std::span<const schema::Migration> migrations);

// Calls `read(db, version)` with a read-only connection to the existing file at `path` and the
// file's schema version (checked as recognised_version() does, at most the latest of
// `migrations`), and returns true once a call returned from a read of one state of the file
// (it is called again, on a new connection, when a writer may have changed the file during
// it); returns false, without calling it, when no file exists at `path`.
// Creates nothing beside the file and changes no file's owner, so it works for users who may
// not write the file or its directory, and on read-only mounts: while it reads, it holds a
// read lock that keeps writers from writing the file itself and from deleting its -wal and
// -shm; a file with both is read through them, one without a -wal as immutable.
// Throws SchemaError as recognised_version() does; StorageError when something other than a
// regular file is at `path`, the file cannot be read, or it stays locked by a writer (or has a
// -wal without its -shm) past busy_timeout; whatever `read` throws, SQLite::Exception
// included.
bool read_existing_database(const std::string& path, std::chrono::milliseconds busy_timeout,
                            std::span<const schema::Migration> migrations,
                            const std::function<void(SQLite::Database& db, int version)>& read);

// The StorageError for a failure of `operation` on the database at `path`:
// "<path>: <operation>: <SQLite's message>".
StorageError storage_error(const std::string& path, std::string_view operation,
                           const SQLite::Exception& error);

}  // namespace pyrate
