#include "sqlite_slot_table.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string_view>

#include "sqlite_schema.hpp"

namespace pyrate {
namespace {

// Rows are stored in (bucket_id, timestamp, start_seq) order, which is also start_seq order.
constexpr const char* kNewestSql =
    "SELECT start_seq, start_seq + weight, timestamp FROM slots WHERE bucket_id = ?1 "
    "ORDER BY timestamp DESC, start_seq DESC LIMIT 1";
constexpr const char* kOldestSql =
    "SELECT start_seq, timestamp FROM slots WHERE bucket_id = ?1 "
    "ORDER BY timestamp, start_seq LIMIT 1";
constexpr const char* kFirstAtOrAfterSql =
    "SELECT start_seq FROM slots WHERE bucket_id = ?1 AND timestamp >= ?2 "
    "ORDER BY timestamp, start_seq LIMIT 1";
// The row of timestamp ?2 holding slot ?3: the last one of that timestamp starting at or before.
constexpr const char* kRowHoldingSql =
    "SELECT name FROM slots WHERE bucket_id = ?1 AND timestamp = ?2 AND start_seq <= ?3 "
    "ORDER BY start_seq DESC LIMIT 1";
constexpr const char* kInsertSql =
    "INSERT INTO slots (bucket_id, timestamp, start_seq, weight, name) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
constexpr const char* kRemoveBeforeSql =
    "DELETE FROM slots WHERE bucket_id = ?1 AND timestamp < ?2 RETURNING weight";
constexpr const char* kClearSql = "DELETE FROM slots WHERE bucket_id = ?1";
constexpr const char* kCountSql =
    "SELECT (SELECT start_seq + weight FROM slots WHERE bucket_id = ?1 "
    "        ORDER BY timestamp DESC, start_seq DESC LIMIT 1)"
    "     - (SELECT start_seq FROM slots WHERE bucket_id = ?1 "
    "        ORDER BY timestamp, start_seq LIMIT 1)";
constexpr const char* kCountSinceSql =
    "SELECT (SELECT start_seq + weight FROM slots WHERE bucket_id = ?1 "
    "        ORDER BY timestamp DESC, start_seq DESC LIMIT 1)"
    "     - (SELECT start_seq FROM slots WHERE bucket_id = ?1 AND timestamp >= ?2 "
    "        ORDER BY timestamp, start_seq LIMIT 1)";
constexpr const char* kRegisterBucketSql =
    "INSERT INTO buckets (name, rates) VALUES (?1, ?2) "
    "ON CONFLICT (name) DO UPDATE SET rates = excluded.rates RETURNING id";

// `timestamp - interval`, clamped at the smallest Millis instead of overflowing.
Millis window_start(Millis timestamp, Millis interval) {
  constexpr Millis kMin = std::numeric_limits<Millis>::min();
  return timestamp < kMin + interval ? kMin : timestamp - interval;
}

// Resets a statement when leaving the scope that ran it, releasing what it holds (its read
// snapshot, an autocommit write) and readying it for the next run. Bindings stay.
class ResetOnExit {
 public:
  explicit ResetOnExit(SQLite::Statement& statement) : statement_(statement) {}
  ~ResetOnExit() { statement_.tryReset(); }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  SQLite::Statement& statement_;
};

void run(SQLite::Statement& statement) {
  ResetOnExit reset(statement);
  statement.exec();
}

// The single integer a statement returns; `fallback` when it returns NULL or no row.
std::int64_t single_integer(SQLite::Statement& statement, std::int64_t fallback) {
  ResetOnExit reset(statement);
  if (!statement.executeStep() || statement.isColumnNull(0)) return fallback;
  return statement.getColumn(0).getInt64();
}

void bind_bytes(SQLite::Statement& statement, int index, std::string_view bytes) {
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw std::invalid_argument("a name longer than 2 GiB cannot be stored");
  }
  statement.bind(index, bytes.data(), static_cast<int>(bytes.size()));
}

// The midpoint of low < high, rounded up, without overflow.
Millis upper_midpoint(Millis low, Millis high) {
  const auto span = static_cast<std::uint64_t>(high) - static_cast<std::uint64_t>(low);
  return static_cast<Millis>(static_cast<std::uint64_t>(low) + span / 2 + span % 2);
}

std::string column_bytes(const SQLite::Column& column) {
  const auto* data = static_cast<const char*>(column.getBlob());
  return data ? std::string(data, static_cast<std::size_t>(column.getBytes())) : std::string();
}

std::int64_t register_bucket(SQLite::Database& db, const std::string& name,
                             const std::vector<Rate>& rates) {
  SQLite::Statement statement(db, kRegisterBucketSql);
  bind_bytes(statement, 1, name);
  statement.bind(2, schema::encode_rates(rates));
  statement.executeStep();
  const std::int64_t id = statement.getColumn(0).getInt64();
  statement.executeStep();  // completes the statement, committing the upsert
  return id;
}

// A transaction opened by `begin` and rolled back unless committed. Writers begin with
// BEGIN IMMEDIATE, which takes the write lock at once (waiting up to the busy timeout), so the
// rows read inside cannot change before the write: reading and then writing in a deferred
// transaction could fail with SQLITE_BUSY at the write, with no wait. Readers that run several
// statements begin with BEGIN, so that all of them see one snapshot.
class Transaction {
 public:
  Transaction(SQLite::Database& db, SQLite::Statement& begin, SQLite::Statement& commit,
              SQLite::Statement& rollback)
      : db_(db), commit_(commit), rollback_(rollback) {
    run(begin);
  }
  ~Transaction() {
    if (committed_ || sqlite3_get_autocommit(db_.getHandle())) return;
    rollback_.tryExecuteStep();
    rollback_.tryReset();
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  void commit() {
    run(commit_);
    committed_ = true;
  }

 private:
  SQLite::Database& db_;
  SQLite::Statement& commit_;
  SQLite::Statement& rollback_;
  bool committed_ = false;
};

}  // namespace

SlotTable::SlotTable(SQLite::Database& db, const std::string& name, const std::vector<Rate>& rates)
    : db_(db),
      begin_read_(db, "BEGIN"),
      begin_write_(db, "BEGIN IMMEDIATE"),
      commit_(db, "COMMIT"),
      rollback_(db, "ROLLBACK"),
      newest_(db, kNewestSql),
      oldest_(db, kOldestSql),
      first_at_or_after_(db, kFirstAtOrAfterSql),
      row_holding_(db, kRowHoldingSql),
      insert_(db, kInsertSql),
      remove_before_(db, kRemoveBeforeSql),
      clear_(db, kClearSql),
      count_(db, kCountSql),
      count_since_(db, kCountSinceSql) {
  const std::int64_t bucket_id = register_bucket(db, name, rates);
  for (SQLite::Statement* statement :
       {&newest_, &oldest_, &first_at_or_after_, &row_holding_, &insert_, &remove_before_, &clear_,
        &count_, &count_since_}) {
    statement->bind(1, bucket_id);
  }
}

std::optional<SlotTable::Row> SlotTable::newest() {
  ResetOnExit reset(newest_);
  if (!newest_.executeStep()) return std::nullopt;
  return Row{newest_.getColumn(0).getInt64(), newest_.getColumn(1).getInt64(),
             newest_.getColumn(2).getInt64()};
}

std::optional<SlotTable::Row> SlotTable::oldest() {
  ResetOnExit reset(oldest_);
  if (!oldest_.executeStep()) return std::nullopt;
  return Row{oldest_.getColumn(0).getInt64(), 0, oldest_.getColumn(1).getInt64()};
}

std::int64_t SlotTable::first_slot_at_or_after(Millis timestamp, std::int64_t end) {
  first_at_or_after_.bind(2, timestamp);
  return single_integer(first_at_or_after_, end);
}

std::optional<Rate> SlotTable::put(const RateItem& item, const std::vector<Rate>& rates) {
  Transaction transaction(db_, begin_write_, commit_, rollback_);
  const std::optional<Row> last = newest();
  const std::int64_t end = last ? last->end : 0;
  const Millis timestamp = last ? std::max(item.timestamp, last->timestamp) : item.timestamp;
  for (const Rate& rate : rates) {
    const std::int64_t in_window =
        last ? end - first_slot_at_or_after(window_start(timestamp, rate.interval), end) : 0;
    if (rate.limit - in_window < item.weight) return rate;
  }
  {
    ResetOnExit reset(insert_);
    insert_.bind(2, timestamp);
    insert_.bind(3, end);
    insert_.bind(4, item.weight);
    bind_bytes(insert_, 5, item.name);
    insert_.exec();
  }
  transaction.commit();
  return std::nullopt;
}

std::int64_t SlotTable::remove_before(Millis cutoff) {
  ResetOnExit reset(remove_before_);
  remove_before_.bind(2, cutoff);
  std::int64_t removed = 0;
  while (remove_before_.executeStep()) removed += remove_before_.getColumn(0).getInt64();
  return removed;
}

void SlotTable::clear() { run(clear_); }

std::int64_t SlotTable::count() { return single_integer(count_, 0); }

std::int64_t SlotTable::count_since(Millis timestamp) {
  count_since_.bind(2, timestamp);
  return single_integer(count_since_, 0);
}

std::optional<RateItem> SlotTable::peek(std::int64_t index) {
  Transaction snapshot(db_, begin_read_, commit_, rollback_);
  const std::optional<Row> last = newest();
  if (!last) return std::nullopt;
  const std::int64_t slot = last->end - 1 - index;
  Millis timestamp = last->timestamp;
  if (slot < last->start) {
    const Row first = *oldest();
    if (slot < first.start) return std::nullopt;
    // The row holding `slot` has the latest timestamp whose first row starts at or before it:
    // a binary search over the timestamps held, one seek per step.
    Millis low = first.timestamp;
    Millis high = last->timestamp;
    while (low < high) {
      const Millis middle = upper_midpoint(low, high);
      if (first_slot_at_or_after(middle, last->end) <= slot) {
        low = middle;
      } else {
        high = middle - 1;
      }
    }
    timestamp = low;
  }
  ResetOnExit reset(row_holding_);
  row_holding_.bind(2, timestamp);
  row_holding_.bind(3, slot);
  if (!row_holding_.executeStep()) return std::nullopt;
  return RateItem{column_bytes(row_holding_.getColumn(0)), timestamp, 1};
}

}  // namespace pyrate
