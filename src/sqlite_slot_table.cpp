#include "sqlite_slot_table.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string_view>

#include "sqlite_schema.hpp"

namespace pyrate {
namespace {

// The newest row ends the bucket's numbering: slots start_seq .. start_seq + weight - 1.
constexpr const char* kNewestSql =
    "SELECT start_seq + weight, timestamp FROM slots WHERE bucket_id = ?1 "
    "ORDER BY start_seq DESC LIMIT 1";
constexpr const char* kFirstAtOrAfterSql =
    "SELECT start_seq FROM slots WHERE bucket_id = ?1 AND timestamp >= ?2 "
    "ORDER BY timestamp, start_seq LIMIT 1";
constexpr const char* kInsertSql =
    "INSERT INTO slots (bucket_id, start_seq, timestamp, weight, name) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
constexpr const char* kRemoveBeforeSql =
    "DELETE FROM slots WHERE bucket_id = ?1 AND timestamp < ?2 RETURNING weight";
constexpr const char* kClearSql = "DELETE FROM slots WHERE bucket_id = ?1";
constexpr const char* kCountSql =
    "SELECT (SELECT start_seq + weight FROM slots WHERE bucket_id = ?1 "
    "        ORDER BY start_seq DESC LIMIT 1)"
    "     - (SELECT start_seq FROM slots WHERE bucket_id = ?1 ORDER BY start_seq LIMIT 1)";
constexpr const char* kCountSinceSql =
    "SELECT (SELECT start_seq + weight FROM slots WHERE bucket_id = ?1 "
    "        ORDER BY start_seq DESC LIMIT 1)"
    "     - (SELECT start_seq FROM slots WHERE bucket_id = ?1 AND timestamp >= ?2 "
    "        ORDER BY timestamp, start_seq LIMIT 1)";
// The row holding slot number end - 1 - ?2: the last row starting at or before it. Past the
// oldest slot no row starts that early.
constexpr const char* kPeekSql =
    "SELECT name, timestamp FROM slots WHERE bucket_id = ?1 AND start_seq <= "
    "    (SELECT start_seq + weight - 1 - ?2 FROM slots WHERE bucket_id = ?1 "
    "     ORDER BY start_seq DESC LIMIT 1) "
    "ORDER BY start_seq DESC LIMIT 1";
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

// BEGIN IMMEDIATE ... COMMIT, rolled back unless committed. IMMEDIATE takes the write lock
// at once (waiting up to the busy timeout), so the rows read inside cannot change before the
// write: reading and then writing in a deferred transaction could fail with SQLITE_BUSY at the
// write, with no wait.
class WriteTransaction {
 public:
  WriteTransaction(SQLite::Database& db, SQLite::Statement& begin, SQLite::Statement& commit,
                   SQLite::Statement& rollback)
      : db_(db), commit_(commit), rollback_(rollback) {
    run(begin);
  }
  ~WriteTransaction() {
    if (committed_ || sqlite3_get_autocommit(db_.getHandle())) return;
    rollback_.tryExecuteStep();
    rollback_.tryReset();
  }
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;

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
      begin_(db, "BEGIN IMMEDIATE"),
      commit_(db, "COMMIT"),
      rollback_(db, "ROLLBACK"),
      newest_(db, kNewestSql),
      first_at_or_after_(db, kFirstAtOrAfterSql),
      insert_(db, kInsertSql),
      remove_before_(db, kRemoveBeforeSql),
      clear_(db, kClearSql),
      count_(db, kCountSql),
      count_since_(db, kCountSinceSql),
      peek_(db, kPeekSql) {
  const std::int64_t bucket_id = register_bucket(db, name, rates);
  for (SQLite::Statement* statement : {&newest_, &first_at_or_after_, &insert_, &remove_before_,
                                       &clear_, &count_, &count_since_, &peek_}) {
    statement->bind(1, bucket_id);
  }
}

std::optional<SlotTable::Newest> SlotTable::newest() {
  ResetOnExit reset(newest_);
  if (!newest_.executeStep()) return std::nullopt;
  return Newest{newest_.getColumn(0).getInt64(), newest_.getColumn(1).getInt64()};
}

std::int64_t SlotTable::first_slot_at_or_after(Millis timestamp, std::int64_t end) {
  first_at_or_after_.bind(2, timestamp);
  return single_integer(first_at_or_after_, end);
}

std::optional<Rate> SlotTable::put(const RateItem& item, const std::vector<Rate>& rates) {
  WriteTransaction transaction(db_, begin_, commit_, rollback_);
  const std::optional<Newest> last = newest();
  const std::int64_t end = last ? last->end : 0;
  const Millis timestamp = last ? std::max(item.timestamp, last->timestamp) : item.timestamp;
  for (const Rate& rate : rates) {
    const std::int64_t in_window =
        last ? end - first_slot_at_or_after(window_start(timestamp, rate.interval), end) : 0;
    if (rate.limit - in_window < item.weight) return rate;
  }
  {
    ResetOnExit reset(insert_);
    insert_.bind(2, end);
    insert_.bind(3, timestamp);
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
  ResetOnExit reset(peek_);
  peek_.bind(2, index);
  if (!peek_.executeStep()) return std::nullopt;
  return RateItem{column_bytes(peek_.getColumn(0)), peek_.getColumn(1).getInt64(), 1};
}

}  // namespace pyrate
