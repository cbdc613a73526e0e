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

// The schema version of the file at `path`, checked against what `migrations` create: the
// tables `buckets` and `slots` and every index and trigger on them must be exactly those that
// the file's version has (their SQL text compared with a fresh file migrated to that version), so
// that no statement relies on a key, column or constraint the file lacks. A file at
// user_version 0 that holds pyrate's tables (a `sqlite3 .dump` restored into a new file, which
// loses PRAGMA user_version) is recognised as the lowest version whose schema it matches
// exactly. Only reads; 0 for a file without pyrate's tables.
// Throws SchemaError naming `path` for a newer version, and for a schema that differs from the
// recorded version's (naming the first object that differs) or, at user_version 0, matches no
// version (saying how to repair it); SQLite::Exception when the file cannot be read.
int recognised_version(SQLite::Database& db, const std::string& path,
                       std::span<const Migration> migrations);

// The error for a file whose schema version `found` is newer than `latest`.
SchemaError newer_schema_error(const std::string& path, int found, int latest);

// Brings the file to latest_version(migrations) in one BEGIN IMMEDIATE transaction that
// re-reads the version, so that processes migrating one file at once apply each step once.
// Returns the version found before migrating, as recognised_version() finds it; a file at
// user_version 0 whose tables match a version is adopted (its user_version set) and migrated on
// from there. Either every missing step is applied and the version recorded, or nothing changes.
// Throws std::invalid_argument unless the versions run 1, 2, ... in order; SchemaError as
// recognised_version() does (nothing written); SQLite::Exception when a statement fails.
int migrate(SQLite::Database& db, std::span<const Migration> migrations);

}  // namespace pyrate::schema
