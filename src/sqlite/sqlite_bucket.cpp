#include "pyrate/sqlite_bucket.hpp"

#include <mutex>
#include <stdexcept>

#include "core/rate_list.hpp"
#include "core/sliding_window.hpp"
#include "pyrate/errors.hpp"
#include "pyrate/interprocess_lock.hpp"
#include "pyrate/per_name_bucket_factory.hpp"
#include "sqlite/bucket_file.hpp"
#include "sqlite/sqlite_database.hpp"
#include "sqlite/sqlite_schema.hpp"
#include "sqlite/sqlite_slot_table.hpp"

namespace pyrate {

struct SQLiteBucket::Impl {
  Impl(const std::vector<Rate>& rates, std::shared_ptr<BucketFile> shared_file, std::string key)
      : name(std::move(key)),
        path(shared_file->path()),
        interprocess_lock(shared_file->interprocess_lock()),
        id(shared_file->with_slots(
            "open", [&](SlotTable& slots) { return slots.register_bucket(name, rates); })),
        file(std::move(shared_file)) {}

  // Runs `operation(slots, id)` on the file; throws std::logic_error naming `what` once
  // closed.
  template <class Operation>
  auto on_slots(const char* what, Operation operation) {
    std::lock_guard lock(mutex);
    if (!file) throw std::logic_error(std::string(what) + ": the bucket is closed");
    return file->with_slots(what, [&](SlotTable& slots) { return operation(slots, id); });
  }

  const std::string name;
  const std::string path;
  const std::shared_ptr<InterprocessLock> interprocess_lock;
  const std::int64_t id;
  std::mutex mutex;                  // guards file
  std::shared_ptr<BucketFile> file;  // null once closed
};

SQLiteBucket::SQLiteBucket(std::vector<Rate> rates, SQLiteOptions options)
    : SQLiteBucket(std::move(rates), std::make_shared<BucketFile>(options),
                   std::move(options.bucket)) {}

SQLiteBucket::SQLiteBucket(std::vector<Rate> rates, std::shared_ptr<BucketFile> file,
                           std::string bucket)
    : AbstractBucket(std::move(rates)),
      impl_(std::make_unique<Impl>(this->rates(), std::move(file), std::move(bucket))) {
  set_clock(std::make_shared<SystemClock>());
}

SQLiteBucket::~SQLiteBucket() { close(); }

const std::string& SQLiteBucket::db_path() const { return impl_->path; }

const std::string& SQLiteBucket::bucket_name() const { return impl_->name; }

bool SQLiteBucket::put(const RateItem& item) { return admit(item).admitted; }

Decision SQLiteBucket::admit(const RateItem& item) {
  check_weight(item);
  throw_if_closed("put");
  const bool record = item.weight > 0;
  Decision decision = impl_->on_slots("put", [&](SlotTable& slots, std::int64_t id) {
    return slots.decide(id, item, rates(), record);
  });
  if (record) set_failing_rate(decision.failing_rate);
  return decision;
}

Millis SQLiteBucket::waiting(const RateItem& item) {
  check_weight(item);
  throw_if_closed("waiting");
  return impl_->on_slots("waiting", [&](SlotTable& slots, std::int64_t id) {
    return slots.decide(id, item, rates(), false).retry_after;
  });
}

std::int64_t SQLiteBucket::leak(std::optional<Millis> current_timestamp) {
  if (closed()) return 0;
  const Millis now_ms = current_timestamp ? *current_timestamp : now();
  const Millis cutoff = core::window_start(now_ms, rates().back().interval);
  try {
    return impl_->on_slots(
        "leak", [&](SlotTable& slots, std::int64_t id) { return slots.remove_before(id, cutoff); });
  } catch (const std::logic_error&) {
    return 0;  // closed meanwhile
  }
}

void SQLiteBucket::flush() {
  throw_if_closed("flush");
  impl_->on_slots("flush", [](SlotTable& slots, std::int64_t id) { slots.clear(id); });
  set_failing_rate(std::nullopt);
}

std::int64_t SQLiteBucket::count() {
  throw_if_closed("count");
  return impl_->on_slots("count",
                         [](SlotTable& slots, std::int64_t id) { return slots.count(id); });
}

std::int64_t SQLiteBucket::count_since(Millis timestamp) {
  throw_if_closed("count_since");
  return impl_->on_slots("count_since", [&](SlotTable& slots, std::int64_t id) {
    return slots.count_since(id, timestamp);
  });
}

std::optional<RateItem> SQLiteBucket::peek(std::int64_t index) {
  throw_if_closed("peek");
  if (index < 0) return std::nullopt;
  return impl_->on_slots("peek",
                         [&](SlotTable& slots, std::int64_t id) { return slots.peek(id, index); });
}

LimiterLock* SQLiteBucket::limiter_lock() { return impl_->interprocess_lock.get(); }

void SQLiteBucket::close() {
  std::shared_ptr<BucketFile> released;  // closed, when it is the last user, outside the lock
  {
    std::lock_guard lock(impl_->mutex);
    released = std::move(impl_->file);
  }
  AbstractBucket::close();
}

std::shared_ptr<PerNameBucketFactory> per_name_sqlite_factory(std::vector<Rate> rates,
                                                              SQLiteOptions options) {
  rates = core::sorted_rate_list(std::move(rates));
  auto file = std::make_shared<BucketFile>(options);
  const std::string prefix = options.bucket + "/";
  const Millis widest = rates.back().interval;
  auto make = [file, rates, prefix](std::string_view name) -> std::shared_ptr<AbstractBucket> {
    return std::make_shared<SQLiteBucket>(rates, file, prefix + std::string(name));
  };
  auto leak_file = [file, prefix, widest, clock = std::make_shared<SystemClock>()] {
    const Millis cutoff = core::window_start(clock->now(), widest);
    return file->with_slots(
        "leak", [&](SlotTable& slots) { return slots.remove_before_in_prefix(prefix, cutoff); });
  };
  return std::make_shared<PerNameBucketFactory>(std::move(make), std::move(leak_file));
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
          core::decode_rate_list(statement.getColumn(1).getString())});
    }
  } catch (const SQLite::Exception& error) {
    throw storage_error(path, "list buckets", error);
  } catch (const std::invalid_argument& error) {
    throw StorageError(path + ": list buckets: " + error.what());
  }
  return buckets;
}

}  // namespace pyrate
