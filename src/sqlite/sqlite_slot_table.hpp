// The slots of one bucket in a pyrate database, reached through statements prepared once.
#pragma once

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pyrate/bucket.hpp"
#include "pyrate/decision.hpp"

namespace pyrate {

// One bucket's rows in the `slots` table (see migrations/0001_create_buckets_and_slots.sql).
// Every operation is one SQLite transaction, so that it sees, and leaves, the bucket whole even
// when other connections (in this process or others) use it at the same time.
// Not thread-safe: one SlotTable per connection, called by one thread at a time.
// Throws SQLite::Exception when SQLite fails; a failed operation changes nothing.
class SlotTable {
 public:
  // Registers the bucket `name` in the file (adding it if new) with `rates` as its rate list,
  // and prepares the statements. `db` must outlive the table.
  SlotTable(SQLite::Database& db, const std::string& name, const std::vector<Rate>& rates);

  // The decision on `item` (weight > 0) against `rates`, made by core::decide from one look
  // at the bucket with the item stamped no earlier than the newest slot. With `record`, the
  // look is a write transaction and an admitted item's slots are recorded with that stamp,
  // committed when this returns. Throws std::overflow_error, recording nothing, when the
  // bucket's slot numbers would pass 2^63 - 1 (they start again once it is leaked empty).
  Decision decide(const RateItem& item, const std::vector<Rate>& rates, bool record);

  // Removes the slots stamped before `cutoff`; returns how many.
  std::int64_t remove_before(Millis cutoff);

  // Removes every slot.
  void clear();

  // The slots held.
  std::int64_t count();

  // The slots stamped at or after `timestamp`.
  std::int64_t count_since(Millis timestamp);

  // The slot at `index` (>= 0) counting from the newest, or nullopt past the oldest. Two index
  // seeks.
  std::optional<RateItem> peek(std::int64_t index);

 private:
  // A row's first slot number, one past its last, and its timestamp.
  struct Row {
    std::int64_t start;
    std::int64_t end;
    Millis timestamp;
  };
  // The newest row; nullopt for an empty bucket.
  std::optional<Row> newest();

  class Windows;

  SQLite::Database& db_;
  SQLite::Statement begin_read_;
  SQLite::Statement begin_write_;
  SQLite::Statement commit_;
  SQLite::Statement rollback_;
  SQLite::Statement newest_;
  SQLite::Statement first_at_or_after_;
  SQLite::Statement row_holding_;
  SQLite::Statement insert_;
  SQLite::Statement remove_before_;
  SQLite::Statement clear_;
  SQLite::Statement count_;
  SQLite::Statement count_since_;
};

}  // namespace pyrate
