#include "sqlite/sqlite_schema.hpp"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Transaction.h>

#include <algorithm>
#include <stdexcept>

namespace pyrate::schema {
namespace {

void check_order(std::span<const Migration> migrations) {
  for (std::size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      throw std::invalid_argument("migration " + std::string(migrations[i].name) + " has version " +
                                  std::to_string(migrations[i].version) + ", expected " +
                                  std::to_string(i + 1));
    }
  }
}

}  // namespace

int latest_version(std::span<const Migration> migrations) {
  return migrations.empty() ? 0 : migrations.back().version;
}

int read_version(SQLite::Database& db) { return db.execAndGet("PRAGMA user_version").getInt(); }

SchemaError newer_schema_error(const std::string& path, int found, int latest) {
  return SchemaError(path + ": schema version " + std::to_string(found) + " is newer than the " +
                     std::to_string(latest) + " this library knows; the file was left untouched");
}

int migrate(SQLite::Database& db, std::span<const Migration> migrations) {
  check_order(migrations);
  const int latest = latest_version(migrations);
  SQLite::Transaction transaction(db, SQLite::TransactionBehavior::IMMEDIATE);
  const int found = read_version(db);
  if (found > latest) throw newer_schema_error(db.getFilename(), found, latest);
  if (found == latest) return found;
  for (const Migration& migration : migrations.subspan(static_cast<std::size_t>(found))) {
    db.exec(std::string(migration.sql));
  }
  db.exec("PRAGMA user_version = " + std::to_string(latest));
  transaction.commit();
  return found;
}

}  // namespace pyrate::schema
