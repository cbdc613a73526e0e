// The schema of SQLiteBucket files: migrations applied in one transaction, versions recorded in
// the file, newer files refused untouched, and many processes creating one file at once.
#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <array>
#include <catch2/catch.hpp>
#include <pyrate/pyrate.hpp>
#include <string>
#include <vector>

#include "sqlite/sqlite_schema.hpp"
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

// A version-1 file holding slots in two buckets.
void write_version_1_file(const std::string& path) {
  SQLiteBucket a({Rate(10, 1000)}, at(path, "a"));
  SQLiteBucket b({Rate(10, 1000)}, at(path, "b"));
  REQUIRE(a.put(RateItem{"x", 100, 2}));
  REQUIRE(a.put(RateItem{"y", 200, 1}));
  REQUIRE(b.put(RateItem{"z", 300, 4}));
}

// The built-in migrations followed by `extra`, a test-only next step.
std::vector<Migration> builtin_plus(const Migration& extra) {
  const auto builtin = pyrate::schema::builtin_migrations();
  std::vector<Migration> migrations(builtin.begin(), builtin.end());
  migrations.push_back(extra);
  return migrations;
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
  const auto migrations = builtin_plus(
      {2, "0002_test_bucket_notes",
       "ALTER TABLE buckets ADD COLUMN note TEXT NOT NULL DEFAULT '';\n"
       "CREATE TABLE bucket_events (bucket_id INTEGER NOT NULL, at INTEGER NOT NULL);\n"
       "INSERT INTO bucket_events SELECT id, 0 FROM buckets;"});

  SQLite::Database db(path, SQLite::OPEN_READWRITE);
  const std::vector<std::string> before = slot_rows(db);
  REQUIRE(before.size() == 3);
  CHECK(pyrate::schema::migrate(db, migrations) == 1);
  CHECK(db.execAndGet("PRAGMA user_version").getInt() == 2);
  CHECK(slot_rows(db) == before);
  CHECK(db.execAndGet("SELECT count(*) FROM buckets WHERE note = ''").getInt() == 2);
  CHECK(db.execAndGet("SELECT count(*) FROM bucket_events").getInt() == 2);
  // Migrating again finds nothing to do.
  CHECK(pyrate::schema::migrate(db, migrations) == 2);
  CHECK(db.execAndGet("SELECT count(*) FROM bucket_events").getInt() == 2);
}

TEST_CASE("Schema: a migration that fails leaves the file as it was") {
  ScratchDir dir;
  const std::string path = dir.file("failed.db");
  write_version_1_file(path);
  const auto migrations = builtin_plus({2, "0002_test_broken",
                                        "CREATE TABLE half_done (x INTEGER);\n"
                                        "INSERT INTO no_such_table VALUES (1);"});
  SQLite::Database db(path, SQLite::OPEN_READWRITE);
  const std::vector<std::string> before = slot_rows(db);
  CHECK_THROWS_AS(pyrate::schema::migrate(db, migrations), SQLite::Exception);
  CHECK(db.execAndGet("PRAGMA user_version").getInt() == 1);
  CHECK_FALSE(db.tableExists("half_done"));
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
    std::vector<pid_t> children;
    for (int p = 0; p < kProcesses; ++p) {
      std::fflush(nullptr);
      const pid_t pid = ::fork();
      REQUIRE(pid >= 0);
      if (pid == 0) {
        ::close(gate[1]);
        char ignored;
        (void)!::read(gate[0], &ignored, 1);  // returns when the parent closes the gate
        int code = 1;
        try {
          SQLiteBucket bucket({Rate(100, 60'000)}, at(path));
          code = bucket.put(RateItem{"p", bucket.now(), 1}) ? 0 : 2;
        } catch (const std::exception& error) {
          std::fprintf(stderr, "child: %s\n", error.what());
        }
        ::_exit(code);
      }
      children.push_back(pid);
    }
    ::close(gate[0]);
    ::close(gate[1]);  // opens the gate for every child at once
    int succeeded = 0;
    for (const pid_t pid : children) {
      int status = 0;
      ::waitpid(pid, &status, 0);
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) ++succeeded;
    }
    CHECK(succeeded == kProcesses);
    SQLiteBucket bucket({Rate(100, 60'000)}, at(path));
    CHECK(bucket.count() == kProcesses);
  }
}
