#include "sqlite/bucket_file.hpp"

#include <stdexcept>
#include <string>

#include "sqlite/sqlite_schema.hpp"

namespace pyrate {
namespace {

const SQLiteOptions& checked(const SQLiteOptions& options) {
  if (options.multiprocess && options.db_path == kMemoryPath) {
    throw std::invalid_argument(
        "an in-memory database (\":memory:\") is private to its connection: it cannot be "
        "shared with other processes (multiprocess = true)");
  }
  if (options.durability != Durability::Off && options.durability != Durability::Normal &&
      options.durability != Durability::Full) {
    throw std::invalid_argument("unknown Durability " +
                                std::to_string(static_cast<int>(options.durability)));
  }
  if (options.busy_timeout.count() < 0) {
    throw std::invalid_argument("busy_timeout must not be negative, got " +
                                std::to_string(options.busy_timeout.count()) + " ms");
  }
  return options;
}

}  // namespace

BucketFile::BucketFile(const SQLiteOptions& options)
    : temporary_file_(checked(options).db_path.empty() ? std::make_optional<TemporaryDatabaseFile>()
                                                       : std::nullopt),
      path_(temporary_file_ ? temporary_file_->path() : absolute_database_path(options.db_path)),
      db_(open_bucket_database(path_, options.durability, options.busy_timeout,
                               schema::builtin_migrations())) {
  try {
    slots_ = std::make_unique<SlotTable>(*db_);
  } catch (const SQLite::Exception& error) {
    throw storage_error(path_, "open", error);
  }
  if (options.multiprocess) lock_ = std::make_shared<InterprocessLock>(path_);
}

}  // namespace pyrate
