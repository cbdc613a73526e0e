#include "sqlite/sqlite_schema.hpp"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Transaction.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
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

// One table, index or trigger as sqlite_schema records it.
struct SchemaObject {
  std::string type;
  std::string table;
  std::string sql;  // "" for the indexes SQLite makes for UNIQUE and PRIMARY KEY constraints
  bool operator==(const SchemaObject&) const = default;
};

using SchemaObjects = std::map<std::string, SchemaObject>;  // by name

// The objects of `db` that are, or belong to, one of `tables`; every object when `tables` is
// nullptr.
SchemaObjects objects_of(SQLite::Database& db, const std::set<std::string>* tables) {
  SQLite::Statement rows(db, "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema");
  SchemaObjects objects;
  while (rows.executeStep()) {
    SchemaObject object{rows.getColumn(0).getString(), rows.getColumn(2).getString(),
                        rows.getColumn(3).getString()};
    if (tables == nullptr || tables->count(object.table) != 0) {
      objects.emplace(rows.getColumn(1).getString(), std::move(object));
    }
  }
  return objects;
}

// What the first `version` of `migrations` create, in a fresh in-memory database.
SchemaObjects schema_of_version(std::span<const Migration> migrations, int version) {
  SQLite::Database reference(":memory:", SQLite::OPEN_READWRITE);
  for (const Migration& migration : migrations.first(static_cast<std::size_t>(version))) {
    reference.exec(std::string(migration.sql));
  }
  return objects_of(reference, nullptr);
}

// `sql` on one line: every run of white space one space.
std::string one_line(std::string_view sql) {
  std::string line;
  for (const char c : sql) {
    const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (!space) {
      line += c;
    } else if (!line.empty() && line.back() != ' ') {
      line += ' ';
    }
  }
  return line;
}

std::set<std::string> tables_of(const SchemaObjects& objects) {
  std::set<std::string> tables;
  for (const auto& entry : objects) tables.insert(entry.second.table);
  return tables;
}

// The first difference between `found` and the schema `expected` of version `version`, as
// "table slots is `...`, version 3 has `...`"; nullopt when they are the same.
std::optional<std::string> difference(const SchemaObjects& found, const SchemaObjects& expected,
                                      int version) {
  const std::string of_version = "version " + std::to_string(version);
  for (const auto& [name, object] : expected) {
    const auto it = found.find(name);
    if (it == found.end())
      return "the " + object.type + " " + name + " of " + of_version + " is missing";
    if (it->second != object) {
      return it->second.type + " " + name + " is `" + one_line(it->second.sql) + "` where " +
             of_version + " has " + object.type + " `" + one_line(object.sql) + "`";
    }
  }
  for (const auto& [name, object] : found) {
    if (expected.count(name) == 0) {
      return object.type + " " + name + " on " + object.table + " is not part of " + of_version;
    }
  }
  return std::nullopt;
}

}  // namespace

int recognised_version(SQLite::Database& db, const std::string& path,
                       std::span<const Migration> migrations) {
  const int latest = latest_version(migrations);
  const int recorded = read_version(db);
  if (recorded > latest) throw newer_schema_error(path, recorded, latest);
  const SchemaObjects latest_schema = schema_of_version(migrations, latest);
  const std::set<std::string> tables = tables_of(latest_schema);
  const SchemaObjects found = objects_of(db, &tables);
  const auto schema_of = [&](int version) {
    return version == latest ? latest_schema : schema_of_version(migrations, version);
  };
  if (recorded > 0) {
    if (const auto differs = difference(found, schema_of(recorded), recorded)) {
      throw SchemaError(path + ": the schema is not the one of version " +
                        std::to_string(recorded) + " that the file records: " + *differs +
                        "; another program altered it, and this library does not use it: move "
                        "the file away or restore it from a backup");
    }
    return recorded;
  }
  if (found.empty()) return 0;
  // Versions differ in their schema, so the lowest that matches is the only one.
  for (int version = 1; version < latest; ++version) {
    if (!difference(found, schema_of(version), version)) return version;
  }
  const auto differs = difference(found, latest_schema, latest);
  if (!differs) return latest;
  throw SchemaError(path + ": pyrate's tables are here but no schema version is recorded " +
                    "(PRAGMA user_version is 0, as after restoring a `sqlite3 .dump`), and " +
                    "they match no version this library knows (" + *differs +
                    "); restore the dump of an unaltered pyrate file, or set PRAGMA " +
                    "user_version to the version the dumped file had once its schema is " +
                    "that version's");
}

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
  const int found = recognised_version(db, db.getFilename(), migrations);
  if (found == latest && read_version(db) == latest) return found;
  for (const Migration& migration : migrations.subspan(static_cast<std::size_t>(found))) {
    db.exec(std::string(migration.sql));
  }
  db.exec("PRAGMA user_version = " + std::to_string(latest));
  transaction.commit();
  return found;
}

}  // namespace pyrate::schema
