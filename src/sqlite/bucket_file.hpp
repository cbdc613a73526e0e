// One open pyrate database file, shared by every bucket of this process that lives in it.
#pragma once

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "pyrate/interprocess_lock.hpp"
#include "pyrate/sqlite_bucket.hpp"
#include "sqlite/sqlite_database.hpp"
#include "sqlite/sqlite_slot_table.hpp"

namespace pyrate {

// A database file opened once for the buckets that share it: one SQLite connection, one set of
// prepared statements (the SlotTable), one mutex serialising their use and, with
// `multiprocess`, one inter-process lock. Destroying it closes the connection and deletes a
// temporary file.
// Thread-safe: every use of the connection goes through with_slots().
class BucketFile {
 public:
  // Opens (creating if needed) and migrates the file of `options` ("" = a new temporary file).
  // Throws std::invalid_argument for options no bucket accepts (see SQLiteBucket), SchemaError
  // for a newer schema, StorageError when the file cannot be opened, created or written.
  explicit BucketFile(const SQLiteOptions& options);

  BucketFile(const BucketFile&) = delete;
  BucketFile& operator=(const BucketFile&) = delete;

  // The absolute path of the file; ":memory:" for a private database.
  const std::string& path() const { return path_; }
  // The inter-process lock of the file; null unless opened with multiprocess.
  const std::shared_ptr<InterprocessLock>& interprocess_lock() const { return lock_; }

  // Runs `operation(slots)` under the file's mutex and returns its result; SQLite's failures
  // become StorageError naming the path and `what`.
  template <class Operation>
  auto with_slots(const char* what, Operation operation) {
    std::lock_guard lock(mutex_);
    try {
      return operation(*slots_);
    } catch (const SQLite::Exception& error) {
      throw storage_error(path_, what, error);
    }
  }

 private:
  std::mutex mutex_;
  std::optional<TemporaryDatabaseFile> temporary_file_;
  std::string path_;
  std::unique_ptr<SQLite::Database> db_;
  std::unique_ptr<SlotTable> slots_;  // destroyed before db_, whose statements it holds
  std::shared_ptr<InterprocessLock> lock_;
};

}  // namespace pyrate
