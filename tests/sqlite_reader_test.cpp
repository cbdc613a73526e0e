// Reading a database file without writing: read_existing_database() creates nothing beside the
// file and sees one state of it, whatever writers do meanwhile.
#include <SQLiteCpp/SQLiteCpp.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <pyrate/pyrate.hpp>
#include <string>
#include <vector>

#include "sqlite/sqlite_database.hpp"
#include "sqlite/sqlite_schema.hpp"
#include "support/sqlite_test_support.hpp"

using pyrate::Rate;
using pyrate::SQLiteBucket;
using pyrate_test::at;
using pyrate_test::ScratchDir;

TEST_CASE("Readers: a read during which a writer changed the file is made again") {
  ScratchDir dir;
  const std::string path = dir.file("changing.db");
  { SQLiteBucket first({Rate(10, pyrate::Duration::Hour)}, at(path, "first")); }
  REQUIRE_FALSE(pyrate_test::exists(path + "-wal"));  // read as immutable, then

  std::vector<std::int64_t> buckets_seen;
  const bool found = pyrate::read_existing_database(
      path, std::chrono::seconds(5), pyrate::schema::builtin_migrations(),
      [&](SQLite::Database& db, int version) {
        CHECK(version == pyrate::schema::latest_version(pyrate::schema::builtin_migrations()));
        buckets_seen.push_back(db.execAndGet("SELECT count(*) FROM buckets").getInt64());
        if (buckets_seen.size() == 1) {
          // A writer records a bucket and closes while the first read is under way.
          SQLiteBucket second({Rate(10, pyrate::Duration::Hour)}, at(path, "second"));
        }
      });
  CHECK(found);
  CHECK(buckets_seen == std::vector<std::int64_t>{1, 2});
}

TEST_CASE("Readers: a file that does not exist is not read, and not created") {
  ScratchDir dir;
  const std::string path = dir.file("missing.db");
  bool called = false;
  CHECK_FALSE(pyrate::read_existing_database(path, std::chrono::seconds(5),
                                             pyrate::schema::builtin_migrations(),
                                             [&](SQLite::Database&, int) { called = true; }));
  CHECK_FALSE(called);
  CHECK_FALSE(pyrate_test::exists(path));
}
