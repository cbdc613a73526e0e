// The slots of one bucket in a pyrate database, reached through statements prepared once.
#pragma once

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pyrate/bucket.hpp"
#include "pyrate/decision.hpp"
#include "pyrate/sqlite_bucket.hpp"

namespace pyrate {

// The buckets' rows in the `slots` table (see migrations/), reached through statements
// prepared once per connection and shared by every bucket of the file: each operation names
// its bucket by the id register() gave it. Every operation is one SQLite transaction, so that
// it sees, and leaves, the bucket whole even when other connections (in this process or
// others) use it at the same time.
// Not thread-safe: one SlotTable per connection, called by one thread at a time.
// Throws SQLite::Exception when SQLite fails; a failed operation changes nothing.
class SlotTable {
 public:
  // Prepares the statements. `db` must outlive the table.
  explicit SlotTable(SQLite::Database& db);

  // The id of the bucket `name`, added to the file if new, with `rates` recorded as its rate
  // list (written only when it changed) and its widest interval kept if it is the widest yet.
  std::int64_t register_bucket(const std::string& name, const std::vector<Rate>& rates);

  // The decision on `item` (weight > 0) against `rates`, made by core::decide from one look
  // at the bucket, with the item stamped by core::decision_timestamp and slots past
  // core::stamp_ceiling seen at it. With `record`, the look is a write transaction that moves
  // those slots back to the ceiling and records an admitted item's slots with its stamp,
  // committed when this returns. Throws std::overflow_error, recording nothing, when the
  // bucket's slot numbers would pass 2^63 - 1 (they start again once it is leaked empty).
  Decision decide(std::int64_t bucket, const RateItem& item, const std::vector<Rate>& rates,
                  bool record);

  // The buckets recorded in the file with their ids, ordered by name (bytewise); only the one
  // named `only`, when given. Throws std::invalid_argument for a rate list the file holds that
  // this library did not write.
  std::vector<std::pair<std::int64_t, StoredBucket>> recorded_buckets(
      const std::optional<std::string>& only);

  // Removes the bucket's slots that have left the widest window of every rate list it was
  // registered with, the window ending at `now`; returns how many.
  std::int64_t remove_expired(std::int64_t bucket, Millis now);

  // remove_expired(bucket, now) for every bucket whose name starts with `prefix`, in one
  // statement; returns how many. `prefix` must end with a byte below 0xff.
  std::int64_t remove_expired_in_prefix(std::string_view prefix, Millis now);

  // Removes every slot.
  void clear(std::int64_t bucket);

  // The slots held.
  std::int64_t count(std::int64_t bucket);

  // The slots stamped at or after `timestamp`.
  std::int64_t count_since(std::int64_t bucket, Millis timestamp);

  // The slot at `index` (>= 0) counting from the newest, or nullopt past the oldest. Two index
  // seeks.
  std::optional<RateItem> peek(std::int64_t bucket, std::int64_t index);

  // What one rate's window, ending at some time `now`, holds.
  struct Window {
    std::int64_t used = 0;                  // slots stamped at or after now - interval
    std::optional<Millis> oldest;           // the oldest of them; none when used is 0
    std::optional<Millis> limit_th_newest;  // the slot at position limit - 1 from the newest,
                                            // when the window holds that many
  };
  // The bucket's slots as `rates` see them at `now`, from one snapshot: how many it holds and
  // one Window per rate, stamps past core::stamp_ceiling(now) seen at it. A few index seeks
  // per rate.
  std::pair<std::int64_t, std::vector<Window>> survey(std::int64_t bucket,
                                                      const std::vector<Rate>& rates, Millis now);

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

  // Binds `bucket` to every statement that names one, unless it is bound already.
  void use_bucket(std::int64_t bucket);

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
  SQLite::Statement move_back_after_;
  SQLite::Statement clear_;
  SQLite::Statement count_;
  SQLite::Statement count_since_;
  SQLite::Statement remove_expired_in_range_;
  SQLite::Statement find_bucket_;
  SQLite::Statement all_buckets_;
  SQLite::Statement register_bucket_;
  SQLite::Statement widest_interval_;
  std::optional<std::int64_t> bound_bucket_;
};

}  // namespace pyrate
