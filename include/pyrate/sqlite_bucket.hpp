// A bucket persisted in an SQLite database file, shareable between processes.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "pyrate/bucket.hpp"
#include "pyrate/export.hpp"
#include "pyrate/stored_bucket.hpp"

namespace pyrate {

class BucketFile;

// How much a commit waits for the disk (PRAGMA synchronous, in WAL mode). At every level a
// process killed at any instant loses no admission that put() reported; the level decides
// what an OS crash or power loss may lose.
enum class Durability {
  Off,     // synchronous=OFF: an OS crash may lose recent admissions or corrupt the file.
  Normal,  // synchronous=NORMAL: an OS crash may lose the admissions since the last checkpoint.
  Full,    // synchronous=FULL: nothing is lost.
};

struct PYRATE_EXPORT SQLiteOptions {
  // The database file. "" (the default) creates a new temporary file that close() deletes;
  // ":memory:" keeps a private in-memory database.
  std::string db_path;
  // The bucket's key in the file; many buckets share one file. Any bytes. Default "rate_bucket".
  std::string bucket = "rate_bucket";
  // Default Durability::Normal.
  Durability durability = Durability::Normal;
  // When true, limiter_lock() returns a lock shared by every process that opens the same
  // file (see InterprocessLock). Default false.
  bool multiprocess = false;
  // How long a statement waits for another connection's lock before failing with
  // StorageError. Default 5 s.
  std::chrono::milliseconds busy_timeout{5000};
};

// A bucket whose slots live in an SQLite database file, so that its limits survive restarts
// and hold across every process that opens the same file and bucket.
//
// Timestamps are wall-clock Unix milliseconds (SystemClock) so that they mean the same in the
// next process. Clock steps follow the rule of bucket.hpp, whichever process stamped the
// slots: a put whose item is older than the bucket's newest slot is checked and recorded as if
// stamped with the newest slot's timestamp (never more than kClockStepTolerance past its own),
// so the recorded timestamps never decrease and a step backwards admits nothing beyond the
// limits. (A step forwards frees the windows early, as it would for any clock-based limit.)
//
// Several rate lists on one bucket: processes may open one stored bucket with different rate
// lists, and each enforces its own. The file records the last list opened (for pyrate status
// and pyrate leak) and the widest interval of every list the bucket was ever opened with;
// leak(), from any process, keeps every slot inside that widest interval, so a process with a
// narrower list never deletes history a wider list still counts. The widest interval only
// grows; flush() still empties the bucket.
//
// Every call is one SQLite transaction on the connection of the bucket's file (shared with the
// other buckets this process opened in it through per_name_sqlite_factory): put() holds the file's
// write lock from reading the window to committing the new slot, so processes sharing a
// bucket never both take its last slot. A put() that returns true has committed its slot;
// one that fails throws StorageError and has recorded nothing.
//
// Costs: admit, put, count and count_since take a few index seeks, O(log n) in the slots held:
// the window is never scanned, so a full window costs what an empty one does, and a refusal
// adds one seek per full rate for its wait. peek takes two seeks. An item of any weight is one
// row; leak takes O(removed) and a seek.
//
// Thread-safe: calls on the buckets of one connection are serialised.
class PYRATE_EXPORT SQLiteBucket final : public AbstractBucket {
 public:
  // Opens (creating if needed) the database and the bucket, migrating an older schema, and
  // records `rates` as the bucket's rate list. Timestamps come from a SystemClock.
  // Throws std::invalid_argument, creating nothing, for an invalid rate list, an unknown
  // durability, a negative busy_timeout, a db_path holding a NUL byte, or multiprocess with
  // ":memory:";
  // SchemaError for a file from a newer schema version (left untouched); StorageError, naming
  // the path and the cause, when the file cannot be opened, created or written (with the
  // system's reason, such as "Permission denied", "Not a directory" or "Too many open files"),
  // is not a database, or is not a regular file at all (a FIFO, a device, a directory: only a
  // regular file, or a path where nothing exists yet, is accepted).
  // put() and admit() throw std::overflow_error, recording nothing, when the bucket's slot
  // numbers would pass 2^63 - 1 (they start again from 0 once it is leaked empty).
  SQLiteBucket(std::vector<Rate> rates, SQLiteOptions options = {});
  // The bucket `bucket` in `file`, a database this process already has open for other buckets:
  // they share its connection, statements and inter-process lock (see per_name_sqlite_factory,
  // which makes these). Throws std::invalid_argument for an invalid rate list, StorageError
  // when the bucket cannot be registered in the file.
  PYRATE_NO_EXPORT SQLiteBucket(std::vector<Rate> rates, std::shared_ptr<BucketFile> file,
                                std::string bucket);
  ~SQLiteBucket() override;

  // The absolute path of the database file actually used; ":memory:" for a private one.
  const std::string& db_path() const;

  // The bucket's key in the file.
  const std::string& bucket_name() const;

  // The slots stamped at or after `timestamp`. Throws std::logic_error after close(),
  // StorageError when the file cannot be read.
  std::int64_t count_since(Millis timestamp);

  // Storage failures throw StorageError from these; nothing is admitted that was not
  // recorded.
  bool put(const RateItem& item) override;
  // One BEGIN IMMEDIATE transaction: the verdict, the record and every number of the Decision
  // come from one look at the file, whatever other processes do.
  Decision admit(const RateItem& item) override;
  // One read transaction.
  Millis waiting(const RateItem& item) override;
  std::int64_t leak(std::optional<Millis> current_timestamp = std::nullopt) override;
  void flush() override;
  std::int64_t count() override;
  std::optional<RateItem> peek(std::int64_t index) override;
  LimiterLock* limiter_lock() override;
  // Closes the database, unless other buckets share it (deleting a temporary file, with the
  // files SQLite keeps beside it). Idempotent; never throws. db_path() and limiter_lock() stay
  // valid until destruction.
  void close() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Lists the buckets recorded in the database at `db_path`, ordered by name (bytewise). A file
// that does not exist lists nothing and is not created; so do "" and ":memory:", which name no
// shared file. Only reads the file. Throws SchemaError for a newer schema,
// StorageError when the file cannot be read, is not a database or is not a regular file.
PYRATE_EXPORT std::vector<StoredBucket> list_sqlite_buckets(const std::string& db_path);

}  // namespace pyrate
