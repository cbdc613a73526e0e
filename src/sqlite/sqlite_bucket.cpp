#include "pyrate/sqlite_bucket.hpp"

#include <mutex>
#include <stdexcept>

#include "core/sliding_window.hpp"
#include "pyrate/errors.hpp"
#include "pyrate/interprocess_lock.hpp"
#include "sqlite/sqlite_database.hpp"
#include "sqlite/sqlite_schema.hpp"
#include "sqlite/sqlite_slot_table.hpp"

namespace pyrate {
namespace {

SQLiteOptions checked(SQLiteOptions options) {
  if (options.multiprocess && options.db_path == kMemoryPath) {
    throw std::invalid_argument(
        "an in-memory database (\":memory:\") is private to its connection: it cannot be "
        "shared with other processes (multiprocess = true)");
  }
  if (options.durability != Durability::Off && options.durability != Durability::Normal &&
      options.durability != Durability::Full) {
    throw std::invalid_argument("unknown Durability " +
                                std::to_string(static_cast<int>(options.durability)));
  }
  if (options.busy_timeout.count() < 0) {
    throw std::invalid_argument("busy_timeout must not be negative, got " +
                                std::to_string(options.busy_timeout.count()) + " ms");
  }
  return options;
}

}  // namespace

struct SQLiteBucket::Impl {
  Impl(const std::vector<Rate>& rates, SQLiteOptions options);

  // Runs `operation` on the slots, turning SQLite's failures into StorageError.
  template <class Operation>
  auto on_slots(const char* name, Operation operation) {
    try {
      return operation(*slots);
    } catch (const SQLite::Exception& error) {
      throw storage_error(path, name, error);
    }
  }

  // Releases the database, deleting a temporary file and the name of its lock object (mapped
  // locks stay valid for any thread still holding them). Never throws.
  void close() noexcept {
    slots.reset();
    db.reset();
    if (temporary_file && interprocess_lock) {
      try {
        InterprocessLock::remove(path);
      } catch (const StorageError&) {
        // The file is gone already, and with it any way to name its lock object.
      }
    }
    temporary_file.reset();
  }

  std::mutex mutex;  // serialises every use of the connection
  const std::string name;
  std::optional<TemporaryDatabaseFile> temporary_file;
  const std::string path;
  std::unique_ptr<SQLite::Database> db;
  std::unique_ptr<SlotTable> slots;
  std::unique_ptr<InterprocessLock> interprocess_lock;
};

SQLiteBucket::Impl::Impl(const std::vector<Rate>& rates, SQLiteOptions options)
    : name(std::move(options.bucket)),
      temporary_file(options.db_path.empty() ? std::make_optional<TemporaryDatabaseFile>()
                                             : std::nullopt),
      path(temporary_file ? temporary_file->path() : absolute_database_path(options.db_path)),
      db(open_bucket_database(path, options.durability, options.busy_timeout,
                              schema::builtin_migrations())) {
  try {
    slots = std::make_unique<SlotTable>(*db, name, rates);
  } catch (const SQLite::Exception& error) {
    throw storage_error(path, "open", error);
  }
  if (options.multiprocess) interprocess_lock = std::make_unique<InterprocessLock>(path);
}

SQLiteBucket::SQLiteBucket(std::vector<Rate> rates, SQLiteOptions options)
    : AbstractBucket(std::move(rates)),
      impl_(std::make_unique<Impl>(this->rates(), checked(std::move(options)))) {
  set_clock(std::make_shared<SystemClock>());
}

SQLiteBucket::~SQLiteBucket() { close(); }

const std::string& SQLiteBucket::db_path() const { return impl_->path; }

const std::string& SQLiteBucket::bucket_name() const { return impl_->name; }

bool SQLiteBucket::put(const RateItem& item) { return admit(item).admitted; }

Decision SQLiteBucket::admit(const RateItem& item) {
  check_weight(item);
  std::lock_guard lock(impl_->mutex);
  throw_if_closed("put");
  if (item.weight == 0) {
    return impl_->on_slots("put",
                           [&](SlotTable& slots) { return slots.decide(item, rates(), false); });
  }
  Decision decision =
      impl_->on_slots("put", [&](SlotTable& slots) { return slots.decide(item, rates(), true); });
  set_failing_rate(decision.failing_rate);
  return decision;
}

Millis SQLiteBucket::waiting(const RateItem& item) {
  check_weight(item);
  std::lock_guard lock(impl_->mutex);
  throw_if_closed("waiting");
  return impl_->on_slots(
      "waiting", [&](SlotTable& slots) { return slots.decide(item, rates(), false).retry_after; });
}

std::int64_t SQLiteBucket::leak(std::optional<Millis> current_timestamp) {
  if (closed()) return 0;
  const Millis now_ms = current_timestamp ? *current_timestamp : now();
  const Millis cutoff = core::window_start(now_ms, rates().back().interval);
  std::lock_guard lock(impl_->mutex);
  if (closed()) return 0;
  return impl_->on_slots("leak", [&](SlotTable& slots) { return slots.remove_before(cutoff); });
}

void SQLiteBucket::flush() {
  std::lock_guard lock(impl_->mutex);
  throw_if_closed("flush");
  impl_->on_slots("flush", [](SlotTable& slots) { slots.clear(); });
  set_failing_rate(std::nullopt);
}

std::int64_t SQLiteBucket::count() {
  std::lock_guard lock(impl_->mutex);
  throw_if_closed("count");
  return impl_->on_slots("count", [](SlotTable& slots) { return slots.count(); });
}

std::int64_t SQLiteBucket::count_since(Millis timestamp) {
  std::lock_guard lock(impl_->mutex);
  throw_if_closed("count_since");
  return impl_->on_slots("count_since",
                         [&](SlotTable& slots) { return slots.count_since(timestamp); });
}

std::optional<RateItem> SQLiteBucket::peek(std::int64_t index) {
  std::lock_guard lock(impl_->mutex);
  throw_if_closed("peek");
  if (index < 0) return std::nullopt;
  return impl_->on_slots("peek", [&](SlotTable& slots) { return slots.peek(index); });
}

LimiterLock* SQLiteBucket::limiter_lock() { return impl_->interprocess_lock.get(); }

void SQLiteBucket::close() {
  std::lock_guard lock(impl_->mutex);
  impl_->close();
  AbstractBucket::close();
}

std::vector<StoredBucket> list_sqlite_buckets(const std::string& db_path) {
  if (db_path.empty() || db_path == kMemoryPath) return {};
  const std::string path = absolute_database_path(db_path);
  int version = 0;
  const std::unique_ptr<SQLite::Database> db = open_existing_database(
      path, SQLiteOptions{}.busy_timeout, schema::builtin_migrations(), &version);
  if (!db || version == 0) return {};
  std::vector<StoredBucket> buckets;
  try {
    SQLite::Statement statement(*db, "SELECT name, rates FROM buckets ORDER BY name");
    while (statement.executeStep()) {
      const SQLite::Column name = statement.getColumn(0);
      const auto* bytes = static_cast<const char*>(name.getBlob());
      buckets.push_back(StoredBucket{
          bytes ? std::string(bytes, static_cast<std::size_t>(name.getBytes())) : std::string(),
          schema::decode_rates(statement.getColumn(1).getString())});
    }
  } catch (const SQLite::Exception& error) {
    throw storage_error(path, "list buckets", error);
  } catch (const std::invalid_argument& error) {
    throw StorageError(path + ": list buckets: " + error.what());
  }
  return buckets;
}

}  // namespace pyrate
