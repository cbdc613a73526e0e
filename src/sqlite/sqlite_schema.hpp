// The schema of a pyrate database file: its migrations, its version and the encoding of the
// values it stores beyond plain integers and bytes.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pyrate/errors.hpp"
#include "pyrate/rate.hpp"

namespace SQLite {
class Database;
}

namespace pyrate::schema {

// One step of the schema: the SQL that takes a file from version `version - 1` to `version`.
struct Migration {
  int version;
  std::string_view name;  // the file name without .sql, e.g. "0001_create_buckets_and_slots"
  std::string_view sql;
};

// The migrations compiled from migrations/*.sql, versions 1, 2, ... in order.
std::span<const Migration> builtin_migrations();

// The version reached after the last of `migrations`; 0 for none.
int latest_version(std::span<const Migration> migrations);

// The schema version recorded in the file (PRAGMA user_version); 0 for a new file.
// Throws SQLite::Exception when the file cannot be read, e.g. is not a database.
int read_version(SQLite::Database& db);

// The error for a file whose schema version `found` is newer than `latest`.
SchemaError newer_schema_error(const std::string& path, int found, int latest);

// Brings the file to latest_version(migrations) in one BEGIN IMMEDIATE transaction that
// re-reads the version, so that processes migrating one file at once apply each step once.
// Returns the version found before migrating. Either every missing step is applied and the
// version recorded, or nothing changes.
// Throws std::invalid_argument unless the versions run 1, 2, ... in order; SchemaError when the
// file's version is newer (nothing written); SQLite::Exception when a statement fails.
int migrate(SQLite::Database& db, std::span<const Migration> migrations);

}  // namespace pyrate::schema
