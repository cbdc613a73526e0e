#include "sqlite/sqlite_schema.hpp"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Transaction.h>

#include <algorithm>
#include <charconv>
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

std::int64_t parse_positive(std::string_view text, std::string_view whole) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value <= 0) {
    throw std::invalid_argument("malformed rate list \"" + std::string(whole) + "\"");
  }
  return value;
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

std::string encode_rates(const std::vector<Rate>& rates) {
  std::string text;
  for (const Rate& rate : rates) {
    if (!text.empty()) text += ',';
    text += std::to_string(rate.limit) + '/' + std::to_string(rate.interval);
  }
  return text;
}

std::vector<Rate> decode_rates(std::string_view text) {
  std::vector<Rate> rates;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    const std::size_t comma = std::min(text.find(',', begin), text.size());
    const std::string_view pair = text.substr(begin, comma - begin);
    const std::size_t slash = pair.find('/');
    if (slash == std::string_view::npos) {
      throw std::invalid_argument("malformed rate list \"" + std::string(text) + "\"");
    }
    rates.emplace_back(parse_positive(pair.substr(0, slash), text),
                       parse_positive(pair.substr(slash + 1), text));
    begin = comma + 1;
  }
  return rates;
}

}  // namespace pyrate::schema
