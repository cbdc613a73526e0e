#include "sqlite/recorded_buckets.hpp"

#include <stdexcept>
#include <utility>

#include "sqlite/sqlite_database.hpp"
#include "sqlite/sqlite_schema.hpp"

namespace pyrate {
namespace {

// `read(slots)` on a read-only connection to the existing file at `db_path` that creates
// nothing beside it (see read_existing_database()); `fallback` when no file is there or it holds
// no schema yet. SQLite's failures and rate lists this library did not write become
// StorageError naming the path and `what`.
template <class Result, class Read>
Result read_existing_file(const std::string& db_path, const char* what, Result fallback,
                          Read read) {
  if (db_path.empty() || db_path == kMemoryPath) return fallback;
  const std::string path = absolute_database_path(db_path);
  Result result = fallback;
  try {
    read_existing_database(path, SQLiteOptions{}.busy_timeout, schema::builtin_migrations(),
                           [&](SQLite::Database& db, int version) {
                             result = fallback;  // a repeated read starts again
                             if (version == 0) return;
                             SlotTable slots(db);
                             result = read(slots);
                           });
  } catch (const SQLite::Exception& error) {
    throw storage_error(path, what, error);
  } catch (const std::invalid_argument& error) {
    throw StorageError(path + ": " + what + ": " + error.what());
  }
  return result;
}

}  // namespace

std::vector<StoredBucket> list_sqlite_buckets(const std::string& db_path) {
  return read_existing_file(db_path, "list buckets", std::vector<StoredBucket>{},
                            [](SlotTable& slots) {
                              std::vector<StoredBucket> buckets;
                              for (auto& [id, stored] : slots.recorded_buckets(std::nullopt)) {
                                buckets.push_back(std::move(stored));
                              }
                              return buckets;
                            });
}

std::vector<SurveyedBucket> survey_sqlite_buckets(const std::string& db_path, Millis now,
                                                  const std::optional<std::string>& only) {
  return read_existing_file(
      db_path, "survey buckets", std::vector<SurveyedBucket>{}, [&](SlotTable& slots) {
        std::vector<SurveyedBucket> buckets;
        for (auto& [id, stored] : slots.recorded_buckets(only)) {
          auto [held, windows] = slots.survey(id, stored.rates, now);
          buckets.push_back(SurveyedBucket{std::move(stored), held, std::move(windows)});
        }
        return buckets;
      });
}

}  // namespace pyrate
