// Reading the buckets a database file records without opening them as buckets: for tools such
// as `pyrate status` that look at every bucket of a file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pyrate/sqlite_bucket.hpp"
#include "sqlite/sqlite_slot_table.hpp"

namespace pyrate {

// One recorded bucket as its recorded rate list sees it at some time `now`.
struct SurveyedBucket {
  StoredBucket stored;
  std::int64_t held = 0;                   // slots stored, expired ones not yet leaked included
  std::vector<SlotTable::Window> windows;  // one per rate of stored.rates, in its order
};

// Every bucket recorded in the file at `db_path` (only the one named `only`, when given),
// ordered by name, as seen at `now`: one read-only connection, a few index seeks per bucket and
// rate, no bucket opened and no inter-process lock taken. Only reads, and creates nothing (see
// read_existing_database); a file that does not exist lists nothing, as for
// list_sqlite_buckets().
// Throws SchemaError for a newer schema, StorageError when the file cannot be read.
std::vector<SurveyedBucket> survey_sqlite_buckets(const std::string& db_path, Millis now,
                                                  const std::optional<std::string>& only);

}  // namespace pyrate
