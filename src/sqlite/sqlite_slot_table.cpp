#include "sqlite/sqlite_slot_table.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string_view>

#include "core/rate_list.hpp"
#include "core/sliding_window.hpp"
#include "sqlite/sqlite_schema.hpp"

namespace pyrate {
namespace {

// Rows are stored in (bucket_id, timestamp, start_seq) order, which is also start_seq order.
constexpr const char* kNewestSql =
    "SELECT start_seq, start_seq + weight, timestamp FROM slots WHERE bucket_id = ?1 "
    "ORDER BY timestamp DESC, start_seq DESC LIMIT 1";
constexpr const char* kFirstAtOrAfterSql =
    "SELECT start_seq, timestamp FROM slots WHERE bucket_id = ?1 AND timestamp >= ?2 "
    "ORDER BY timestamp, start_seq LIMIT 1";
// The row holding slot ?2: the last one starting at or before it (index slots_by_number).
constexpr const char* kRowHoldingSql =
    "SELECT timestamp, start_seq + weight, name FROM slots "
    "WHERE bucket_id = ?1 AND start_seq <= ?2 ORDER BY start_seq DESC LIMIT 1";
constexpr const char* kInsertSql =
    "INSERT INTO slots (bucket_id, timestamp, start_seq, weight, name) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
constexpr const char* kRemoveBeforeSql =
    "DELETE FROM slots WHERE bucket_id = ?1 AND timestamp < ?2 RETURNING weight";
constexpr const char* kMoveBackAfterSql =
    "UPDATE slots SET timestamp = ?2 WHERE bucket_id = ?1 AND timestamp > ?2";
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
// Each bucket's cutoff is ?3 less its own widest interval.
constexpr const char* kRemoveExpiredInRangeSql =
    "DELETE FROM slots WHERE bucket_id IN (SELECT id FROM buckets WHERE name >= ?1 AND name < ?2) "
    "AND timestamp < ?3 - (SELECT widest_interval FROM buckets WHERE id = slots.bucket_id) "
    "RETURNING weight";
constexpr const char* kFindBucketSql = "SELECT id, rates, name FROM buckets WHERE name = ?1";
constexpr const char* kAllBucketsSql = "SELECT id, rates, name FROM buckets ORDER BY name";
constexpr const char* kRegisterBucketSql =
    "INSERT INTO buckets (name, rates, widest_interval) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (name) DO UPDATE SET rates = excluded.rates, "
    "widest_interval = max(widest_interval, excluded.widest_interval) RETURNING id";
constexpr const char* kWidestIntervalSql = "SELECT widest_interval FROM buckets WHERE id = ?1";

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

// The bucket's rows as core::decide sees them, inside the transaction of one decision.
class SlotTable::Windows {
 public:
  Windows(SlotTable& table, std::int64_t end) : table_(table), end_(end) {}

  core::WindowCount window(std::size_t /*rate_index*/, Millis start) {
    SQLite::Statement& first = table_.first_at_or_after_;
    ResetOnExit reset(first);
    first.bind(2, start);
    if (!first.executeStep()) return core::WindowCount{};
    return core::WindowCount{end_ - first.getColumn(0).getInt64(), first.getColumn(1).getInt64()};
  }

  Millis timestamp_at(std::int64_t position) {
    SQLite::Statement& holding = table_.row_holding_;
    ResetOnExit reset(holding);
    holding.bind(2, end_ - 1 - position);
    if (!holding.executeStep()) return 0;
    return holding.getColumn(0).getInt64();
  }

 private:
  SlotTable& table_;
  const std::int64_t end_;
};

SlotTable::SlotTable(SQLite::Database& db)
    : db_(db),
      begin_read_(db, "BEGIN"),
      begin_write_(db, "BEGIN IMMEDIATE"),
      commit_(db, "COMMIT"),
      rollback_(db, "ROLLBACK"),
      newest_(db, kNewestSql),
      first_at_or_after_(db, kFirstAtOrAfterSql),
      row_holding_(db, kRowHoldingSql),
      insert_(db, kInsertSql),
      remove_before_(db, kRemoveBeforeSql),
      move_back_after_(db, kMoveBackAfterSql),
      clear_(db, kClearSql),
      count_(db, kCountSql),
      count_since_(db, kCountSinceSql),
      remove_expired_in_range_(db, kRemoveExpiredInRangeSql),
      find_bucket_(db, kFindBucketSql),
      all_buckets_(db, kAllBucketsSql),
      register_bucket_(db, kRegisterBucketSql),
      widest_interval_(db, kWidestIntervalSql) {}

void SlotTable::use_bucket(std::int64_t bucket) {
  if (bound_bucket_ == bucket) return;
  for (SQLite::Statement* statement :
       {&newest_, &first_at_or_after_, &row_holding_, &insert_, &remove_before_, &move_back_after_,
        &clear_, &count_, &count_since_, &widest_interval_}) {
    statement->bind(1, bucket);
  }
  bound_bucket_ = bucket;
}

std::int64_t SlotTable::register_bucket(const std::string& name, const std::vector<Rate>& rates) {
  const std::string encoded = core::encode_rate_list(rates);
  {
    ResetOnExit reset(find_bucket_);
    bind_bytes(find_bucket_, 1, name);
    if (find_bucket_.executeStep() && find_bucket_.getColumn(1).getString() == encoded) {
      return find_bucket_.getColumn(0).getInt64();
    }
  }
  ResetOnExit reset(register_bucket_);
  bind_bytes(register_bucket_, 1, name);
  register_bucket_.bind(2, encoded);
  register_bucket_.bind(3, rates.back().interval);
  register_bucket_.executeStep();
  const std::int64_t id = register_bucket_.getColumn(0).getInt64();
  register_bucket_.executeStep();  // completes the statement, committing the upsert
  return id;
}

std::optional<SlotTable::Row> SlotTable::newest() {
  ResetOnExit reset(newest_);
  if (!newest_.executeStep()) return std::nullopt;
  return Row{newest_.getColumn(0).getInt64(), newest_.getColumn(1).getInt64(),
             newest_.getColumn(2).getInt64()};
}

Decision SlotTable::decide(std::int64_t bucket, const RateItem& item,
                           const std::vector<Rate>& rates, bool record) {
  use_bucket(bucket);
  Transaction transaction(db_, record ? begin_write_ : begin_read_, commit_, rollback_);
  const std::optional<Row> last = newest();
  const std::int64_t end = last ? last->end : 0;
  const Millis ceiling = core::stamp_ceiling(item.timestamp);
  const Millis timestamp = core::decision_timestamp(
      item.timestamp, last ? std::optional(last->timestamp) : std::nullopt);
  Windows windows(*this, end);
  core::CeilingView view(windows, ceiling);
  Decision decision = core::decide(rates, timestamp, item.weight, view);
  if (!record) return decision;
  if (last && last->timestamp > ceiling) {
    ResetOnExit reset(move_back_after_);
    move_back_after_.bind(2, ceiling);
    move_back_after_.exec();
  }
  if (!decision.admitted) {
    transaction.commit();
    return decision;
  }
  if (end > std::numeric_limits<std::int64_t>::max() - item.weight) {
    throw std::overflow_error(
        "the bucket's slot numbers would pass 2^63 - 1; they start again once it is leaked "
        "empty");
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
  return decision;
}

std::vector<std::pair<std::int64_t, StoredBucket>> SlotTable::recorded_buckets(
    const std::optional<std::string>& only) {
  SQLite::Statement& select = only ? find_bucket_ : all_buckets_;
  ResetOnExit reset(select);
  if (only) bind_bytes(select, 1, *only);
  std::vector<std::pair<std::int64_t, StoredBucket>> buckets;
  while (select.executeStep()) {
    buckets.emplace_back(select.getColumn(0).getInt64(),
                         StoredBucket{column_bytes(select.getColumn(2)),
                                      core::decode_rate_list(select.getColumn(1).getString())});
  }
  return buckets;
}

std::int64_t SlotTable::remove_expired(std::int64_t bucket, Millis now) {
  use_bucket(bucket);
  Transaction transaction(db_, begin_write_, commit_, rollback_);
  const Millis widest = single_integer(widest_interval_, 0);
  ResetOnExit reset(remove_before_);
  remove_before_.bind(2, core::window_start(now, widest));
  std::int64_t removed = 0;
  while (remove_before_.executeStep()) removed += remove_before_.getColumn(0).getInt64();
  remove_before_.reset();
  transaction.commit();
  return removed;
}

std::int64_t SlotTable::remove_expired_in_prefix(std::string_view prefix, Millis now) {
  ResetOnExit reset(remove_expired_in_range_);
  // Every name that starts with `prefix` lies in [prefix, end): end is the prefix with its
  // last byte one higher.
  std::string end(prefix);
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  bind_bytes(remove_expired_in_range_, 1, prefix);
  bind_bytes(remove_expired_in_range_, 2, end);
  remove_expired_in_range_.bind(3, now);
  std::int64_t removed = 0;
  while (remove_expired_in_range_.executeStep()) {
    removed += remove_expired_in_range_.getColumn(0).getInt64();
  }
  return removed;
}

void SlotTable::clear(std::int64_t bucket) {
  use_bucket(bucket);
  run(clear_);
}

std::int64_t SlotTable::count(std::int64_t bucket) {
  use_bucket(bucket);
  return single_integer(count_, 0);
}

std::int64_t SlotTable::count_since(std::int64_t bucket, Millis timestamp) {
  use_bucket(bucket);
  count_since_.bind(2, timestamp);
  return single_integer(count_since_, 0);
}

std::optional<RateItem> SlotTable::peek(std::int64_t bucket, std::int64_t index) {
  use_bucket(bucket);
  Transaction snapshot(db_, begin_read_, commit_, rollback_);
  const std::optional<Row> last = newest();
  if (!last || index > last->end - 1) return std::nullopt;
  const std::int64_t slot = last->end - 1 - index;
  ResetOnExit reset(row_holding_);
  row_holding_.bind(2, slot);
  if (!row_holding_.executeStep() || row_holding_.getColumn(1).getInt64() <= slot) {
    return std::nullopt;
  }
  return RateItem{column_bytes(row_holding_.getColumn(2)), row_holding_.getColumn(0).getInt64(), 1};
}

std::pair<std::int64_t, std::vector<SlotTable::Window>> SlotTable::survey(
    std::int64_t bucket, const std::vector<Rate>& rates, Millis now) {
  use_bucket(bucket);
  Transaction snapshot(db_, begin_read_, commit_, rollback_);
  std::vector<Window> windows(rates.size());
  const std::optional<Row> last = newest();
  if (!last) return {0, windows};
  Windows stored(*this, last->end);
  core::CeilingView slots(stored, core::stamp_ceiling(now));
  for (std::size_t i = 0; i < rates.size(); ++i) {
    const Rate& rate = rates[i];
    const core::WindowCount in_window = slots.window(i, core::window_start(now, rate.interval));
    windows[i].used = in_window.slots;
    if (in_window.slots > 0) windows[i].oldest = in_window.oldest;
    if (in_window.slots >= rate.limit)
      windows[i].limit_th_newest = slots.timestamp_at(rate.limit - 1);
  }
  const std::int64_t held = slots.window(0, std::numeric_limits<Millis>::min()).slots;
  return {held, windows};
}

}  // namespace pyrate
