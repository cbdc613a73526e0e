// The schema of SQLiteBucket files: migrations applied in one transaction, versions recorded in
// the file, newer files refused untouched, and many processes creating one file at once.
#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <pyrate/pyrate.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "sqlite/sqlite_schema.hpp"
#include "support/fake_clock.hpp"
#include "support/sqlite_test_support.hpp"

using pyrate::Rate;
using pyrate::RateItem;
using pyrate::SQLiteBucket;
using pyrate::SQLiteOptions;
using pyrate::schema::Migration;
using pyrate_test::at;
using pyrate_test::ScratchDir;

namespace {

int user_version(const std::string& path) {
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  return db.execAndGet("PRAGMA user_version").getInt();
}

// Every slot row of the file, in a fixed order, as text.
std::vector<std::string> slot_rows(SQLite::Database& db) {
  SQLite::Statement rows(db,
                         "SELECT b.name, s.start_seq, s.timestamp, s.weight, s.name "
                         "FROM slots s JOIN buckets b ON b.id = s.bucket_id "
                         "ORDER BY b.name, s.start_seq");
  std::vector<std::string> text;
  while (rows.executeStep()) {
    std::string row;
    for (int column = 0; column < 5; ++column) row += rows.getColumn(column).getString() + "|";
    text.push_back(row);
  }
  return text;
}

// A file as version 1 of the schema left it, holding slots in two buckets: made with the
// first built-in migration alone, and rows written the way that version wrote them.
void write_version_1_file(const std::string& path) {
  SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  db.exec("PRAGMA journal_mode = WAL");
  REQUIRE(pyrate::schema::migrate(db, pyrate::schema::builtin_migrations().first(1)) == 0);
  db.exec(
      "INSERT INTO buckets (id, name, rates) VALUES (1, CAST('a' AS BLOB), '10/1000'), "
      "(2, CAST('b' AS BLOB), '10/1000');"
      "INSERT INTO slots (bucket_id, timestamp, start_seq, weight, name) VALUES "
      "(1, 100, 0, 2, CAST('x' AS BLOB)), (1, 200, 2, 1, CAST('y' AS BLOB)), "
      "(2, 300, 0, 4, CAST('z' AS BLOB));");
}

// The built-in migrations followed by `sql`, a test-only next step named `name`.
std::vector<Migration> builtin_plus(std::string_view name, std::string_view sql) {
  const auto builtin = pyrate::schema::builtin_migrations();
  std::vector<Migration> migrations(builtin.begin(), builtin.end());
  migrations.push_back(Migration{pyrate::schema::latest_version(builtin) + 1, name, sql});
  return migrations;
}

// `sqlite3 from .dump | sqlite3 to`, the way a file is backed up as text and restored.
void dump_and_restore(const std::string& from, const std::string& to) {
  const std::string command = "sqlite3 '" + from + "' .dump | sqlite3 '" + to + "'";
  REQUIRE(std::system(command.c_str()) == 0);
}

// A file holding one bucket, "kept", whose 3/h limit is full now.
void write_full_bucket(const std::string& path) {
  SQLiteBucket bucket({Rate(3, pyrate::Duration::Hour)}, at(path, "kept"));
  for (int i = 0; i < 3; ++i) REQUIRE(bucket.put(RateItem{"held", bucket.now(), 1}));
}

// The message of the SchemaError that opening the bucket "kept" of `path` throws; "" if none.
std::string schema_error_message(const std::string& path) {
  try {
    SQLiteBucket bucket({Rate(3, pyrate::Duration::Hour)}, at(path, "kept"));
  } catch (const pyrate::SchemaError& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST_CASE("Schema: the built-in migrations run 1, 2, ... and a new file reaches the latest") {
  const auto migrations = pyrate::schema::builtin_migrations();
  REQUIRE_FALSE(migrations.empty());
  for (std::size_t i = 0; i < migrations.size(); ++i) {
    CHECK(migrations[i].version == static_cast<int>(i) + 1);
    CHECK(migrations[i].name.substr(0, 5) ==
          std::string(4 - std::to_string(i + 1).size(), '0') + std::to_string(i + 1) + "_");
  }
  ScratchDir dir;
  const std::string path = dir.file("new.db");
  { SQLiteBucket bucket({Rate(1, 1000)}, at(path)); }
  CHECK(user_version(path) == pyrate::schema::latest_version(migrations));
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  CHECK(db.execAndGet("PRAGMA journal_mode").getString() == "wal");
  CHECK(db.tableExists("buckets"));
  CHECK(db.tableExists("slots"));
}

TEST_CASE("Schema: an older file is upgraded in one step and its data survives") {
  ScratchDir dir;
  const std::string path = dir.file("upgrade.db");
  write_version_1_file(path);
  REQUIRE(user_version(path) == 1);
  const auto migrations =
      builtin_plus("test_bucket_notes",
                   "ALTER TABLE buckets ADD COLUMN note TEXT NOT NULL DEFAULT '';\n"
                   "CREATE TABLE bucket_events (bucket_id INTEGER NOT NULL, at INTEGER NOT NULL);\n"
                   "INSERT INTO bucket_events SELECT id, 0 FROM buckets;");
  const int latest = pyrate::schema::latest_version(migrations);

  SQLite::Database db(path, SQLite::OPEN_READWRITE);
  const std::vector<std::string> before = slot_rows(db);
  REQUIRE(before.size() == 3);
  CHECK(pyrate::schema::migrate(db, migrations) == 1);
  CHECK(db.execAndGet("PRAGMA user_version").getInt() == latest);
  CHECK(slot_rows(db) == before);
  CHECK(db.execAndGet("SELECT count(*) FROM buckets WHERE note = ''").getInt() == 2);
  CHECK(db.execAndGet("SELECT count(*) FROM bucket_events").getInt() == 2);
  // Migrating again finds nothing to do.
  CHECK(pyrate::schema::migrate(db, migrations) == latest);
  CHECK(db.execAndGet("SELECT count(*) FROM bucket_events").getInt() == 2);
}

TEST_CASE("Schema: a version-1 file holding slots is upgraded by the bucket and keeps its limits") {
  ScratchDir dir;
  const std::string path = dir.file("version-1.db");
  write_version_1_file(path);
  SQLiteBucket a({Rate(3, 1000)}, at(path, "a"));
  CHECK(user_version(path) == pyrate::schema::latest_version(pyrate::schema::builtin_migrations()));
  {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    CHECK(db.execAndGet("SELECT count(*) FROM sqlite_schema WHERE name = 'slots_by_number'")
              .getInt() == 1);
  }
  auto clock = std::make_shared<pyrate_test::FakeClock>(250);
  a.set_clock(clock);
  // The three slots version 1 recorded fill 3/s: the next item waits for the slot at 100.
  const pyrate::Decision refused = a.admit(RateItem{"w", 250, 1});
  CHECK_FALSE(refused.admitted);
  CHECK(refused.retry_after == 100 - (250 - 1000) + 1);
  CHECK(a.peek(0)->name == "y");
  CHECK(a.peek(2)->name == "x");
  CHECK(a.peek(2)->timestamp == 100);
  CHECK(a.admit(RateItem{"w", 1101, 1}).admitted);
  CHECK(a.count() == 4);
}

TEST_CASE("Schema: version 3 records each bucket's widest interval, read from its rate list") {
  ScratchDir dir;
  const std::string path = dir.file("version-2.db");
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    REQUIRE(pyrate::schema::migrate(db, pyrate::schema::builtin_migrations().first(2)) == 0);
    db.exec(
        "INSERT INTO buckets (name, rates) VALUES (CAST('one' AS BLOB), '10/1000'), "
        "(CAST('two' AS BLOB), '3/1000,10/86400000'), (CAST('big' AS BLOB), "
        "'1/1,9223372036854775807/9223372036854775807')");
  }
  SQLite::Database db(path, SQLite::OPEN_READWRITE);
  CHECK(pyrate::schema::migrate(db, pyrate::schema::builtin_migrations()) == 2);
  SQLite::Statement widest(db, "SELECT name, widest_interval FROM buckets ORDER BY name");
  std::vector<std::string> rows;
  while (widest.executeStep()) {
    rows.push_back(widest.getColumn(0).getString() + "=" + widest.getColumn(1).getString());
  }
  CHECK(rows == std::vector<std::string>{"big=9223372036854775807", "one=1000", "two=86400000"});
}

TEST_CASE("Schema: a migration that fails leaves the file as it was") {
  ScratchDir dir;
  const std::string path = dir.file("failed.db");
  write_version_1_file(path);
  const auto migrations = builtin_plus("test_broken",
                                       "CREATE TABLE half_done (x INTEGER);\n"
                                       "INSERT INTO no_such_table VALUES (1);");
  SQLite::Database db(path, SQLite::OPEN_READWRITE);
  const std::vector<std::string> before = slot_rows(db);
  CHECK_THROWS_AS(pyrate::schema::migrate(db, migrations), SQLite::Exception);
  CHECK(db.execAndGet("PRAGMA user_version").getInt() == 1);
  CHECK_FALSE(db.tableExists("half_done"));
  CHECK(
      db.execAndGet("SELECT count(*) FROM sqlite_schema WHERE name = 'slots_by_number'").getInt() ==
      0);
  CHECK(slot_rows(db) == before);
}

TEST_CASE("Schema: migrate refuses a list whose versions do not run 1, 2, ...") {
  ScratchDir dir;
  SQLite::Database db(dir.file("order.db"), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  const std::array<Migration, 2> gap{Migration{1, "0001_a", "CREATE TABLE a (x);"},
                                     Migration{3, "0003_c", "CREATE TABLE c (x);"}};
  CHECK_THROWS_AS(pyrate::schema::migrate(db, gap), std::invalid_argument);
  CHECK(db.execAndGet("PRAGMA user_version").getInt() == 0);
  CHECK_FALSE(db.tableExists("a"));
}

TEST_CASE("Schema: a file from a newer version is refused with SchemaError, bytes untouched") {
  ScratchDir dir;
  const std::string path = dir.file("newer.db");
  write_version_1_file(path);
  const int newer = pyrate::schema::latest_version(pyrate::schema::builtin_migrations()) + 1;
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("PRAGMA user_version = " + std::to_string(newer));
    db.exec("PRAGMA journal_mode = DELETE");  // so the WAL switch would change the header
  }
  const std::string bytes = pyrate_test::file_bytes(path);
  const auto modified = std::filesystem::last_write_time(path);

  try {
    SQLiteBucket bucket({Rate(1, 1000)}, at(path, "a"));
    FAIL("a newer file was opened");
  } catch (const pyrate::SchemaError& error) {
    CHECK_THAT(error.what(), Catch::Contains(path));
    CHECK_THAT(error.what(), Catch::Contains(std::to_string(newer)));
  }
  CHECK_THROWS_AS(pyrate::list_sqlite_buckets(path), pyrate::SchemaError);
  SQLite::Database db(path, SQLite::OPEN_READWRITE);
  CHECK_THROWS_AS(pyrate::schema::migrate(db, pyrate::schema::builtin_migrations()),
                  pyrate::SchemaError);

  CHECK(pyrate_test::file_bytes(path) == bytes);
  CHECK(std::filesystem::last_write_time(path) == modified);
  CHECK_FALSE(pyrate_test::exists(path + "-wal"));
}

TEST_CASE("Schema: a newer file holding a WAL keeps its bytes when refused") {
  ScratchDir dir;
  const std::string path = dir.file("newer-wal.db");
  write_version_1_file(path);
  const int newer = pyrate::schema::latest_version(pyrate::schema::builtin_migrations()) + 1;
  {
    // A process of a newer version died with its last commit still in the WAL.
    SQLite::Database writer(path, SQLite::OPEN_READWRITE);
    sqlite3_db_config(writer.getHandle(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    writer.exec("PRAGMA wal_autocheckpoint = 0");
    writer.exec("PRAGMA user_version = " + std::to_string(newer));
  }
  const std::string bytes = pyrate_test::file_bytes(path);
  const std::string wal = pyrate_test::file_bytes(path + "-wal");
  REQUIRE_FALSE(wal.empty());

  CHECK_THROWS_AS(SQLiteBucket({Rate(1, 1000)}, at(path)), pyrate::SchemaError);
  CHECK_THROWS_AS(pyrate::list_sqlite_buckets(path), pyrate::SchemaError);
  CHECK(pyrate_test::file_bytes(path) == bytes);
  CHECK(pyrate_test::file_bytes(path + "-wal") == wal);
}

TEST_CASE("Schema: an empty SQLite file of another program is given the schema") {
  ScratchDir dir;
  const std::string path = dir.file("foreign.db");
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('kept');");
  }
  SQLiteBucket bucket({Rate(1, 1000)}, at(path));
  CHECK(bucket.put(RateItem{"x", 0, 1}));
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  CHECK(db.execAndGet("SELECT text FROM notes").getString() == "kept");
}

TEST_CASE("Schema: many processes creating the same new file at once all succeed") {
  constexpr int kProcesses = 6;
  constexpr int kRounds = 4;
  ScratchDir dir;
  for (int round = 0; round < kRounds; ++round) {
    const std::string path = dir.file("race" + std::to_string(round) + ".db");
    int gate[2];
    REQUIRE(::pipe(gate) == 0);
    std::vector<pyrate::testing::ChildProcess> children;
    for (int p = 0; p < kProcesses; ++p) {
      children.emplace_back([&] {
        ::close(gate[1]);
        char ignored;
        (void)!::read(gate[0], &ignored, 1);  // returns when the parent closes the gate
        SQLiteBucket bucket({Rate(100, 60'000)}, at(path));
        return bucket.put(RateItem{"p", bucket.now(), 1}) ? 0 : 2;
      });
    }
    ::close(gate[0]);
    ::close(gate[1]);  // opens the gate for every child at once
    int succeeded = 0;
    for (pyrate::testing::ChildProcess& child : children) {
      if (child.wait() == 0) ++succeeded;
    }
    CHECK(succeeded == kProcesses);
    SQLiteBucket bucket({Rate(100, 60'000)}, at(path));
    CHECK(bucket.count() == kProcesses);
  }
}

TEST_CASE("Schema: a file restored from sqlite3 .dump is adopted as the version its tables match") {
  ScratchDir dir;
  const std::string original = dir.file("original.db");
  const std::string restored = dir.file("restored.db");
  write_full_bucket(original);
  dump_and_restore(original, restored);
  REQUIRE(user_version(restored) == 0);  // .dump does not carry PRAGMA user_version

  const auto stored = pyrate::list_sqlite_buckets(restored);
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].name == "kept");
  CHECK(user_version(restored) == 0);  // reading adopts nothing
  {
    SQLiteBucket bucket({Rate(3, pyrate::Duration::Hour)}, at(restored, "kept"));
    CHECK(bucket.count() == 3);
    CHECK_FALSE(bucket.put(RateItem{"more", bucket.now(), 1}));  // the limit is still held
  }
  CHECK(user_version(restored) ==
        pyrate::schema::latest_version(pyrate::schema::builtin_migrations()));

  // A dump of an older version is adopted as that version and migrated on.
  const std::string version_1 = dir.file("version-1.db");
  const std::string restored_1 = dir.file("restored-1.db");
  write_version_1_file(version_1);
  dump_and_restore(version_1, restored_1);
  REQUIRE(user_version(restored_1) == 0);
  SQLiteBucket a({Rate(3, 1000)}, at(restored_1, "a"));
  CHECK(a.count() == 3);
  CHECK(user_version(restored_1) ==
        pyrate::schema::latest_version(pyrate::schema::builtin_migrations()));
}

TEST_CASE(
    "Schema: tables at user_version 0 that match no version are refused, saying how to repair") {
  ScratchDir dir;
  const std::string original = dir.file("original.db");
  const std::string restored = dir.file("restored.db");
  write_full_bucket(original);
  dump_and_restore(original, restored);
  {
    SQLite::Database db(restored, SQLite::OPEN_READWRITE);
    db.exec("DROP INDEX slots_by_number");  // so it matches no version: 1 lacks widest_interval
  }
  const std::string bytes = pyrate_test::file_bytes(restored);
  const std::string message = schema_error_message(restored);
  CHECK_THAT(message, Catch::Contains(restored) && Catch::Contains("user_version") &&
                          Catch::Contains(".dump") && Catch::Contains("slots_by_number"));
  CHECK_THROWS_AS(pyrate::list_sqlite_buckets(restored), pyrate::SchemaError);
  CHECK(pyrate_test::file_bytes(restored) == bytes);
  CHECK(user_version(restored) == 0);
}

TEST_CASE(
    "Schema: a schema that differs from its recorded version is refused, naming what differs") {
  ScratchDir dir;
  const std::string path = dir.file("tampered.db");
  write_full_bucket(path);
  {
    // The slots table rebuilt without its primary key and CHECK, holding a negative weight.
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec(
        "BEGIN; CREATE TABLE copy AS SELECT * FROM slots; DROP TABLE slots;"
        "CREATE TABLE slots (bucket_id INTEGER NOT NULL, timestamp INTEGER NOT NULL,"
        " start_seq INTEGER NOT NULL, weight INTEGER NOT NULL, name BLOB NOT NULL);"
        "INSERT INTO slots SELECT * FROM copy; DROP TABLE copy;"
        "CREATE INDEX slots_by_number ON slots (bucket_id, start_seq);"
        "UPDATE slots SET weight = -100; COMMIT;");
  }
  const int latest = pyrate::schema::latest_version(pyrate::schema::builtin_migrations());
  REQUIRE(user_version(path) == latest);
  const std::string message = schema_error_message(path);
  CHECK_THAT(message, Catch::Contains(path) && Catch::Contains("table slots") &&
                          Catch::Contains("version " + std::to_string(latest)));
  CHECK_THROWS_AS(pyrate::list_sqlite_buckets(path), pyrate::SchemaError);

  // An object the schema does not have, on one of its tables, is refused too.
  const std::string extra = dir.file("extra.db");
  write_full_bucket(extra);
  {
    SQLite::Database db(extra, SQLite::OPEN_READWRITE);
    db.exec("CREATE TRIGGER forget AFTER INSERT ON slots BEGIN DELETE FROM slots; END");
  }
  CHECK_THAT(schema_error_message(extra), Catch::Contains("trigger forget on slots"));
}
