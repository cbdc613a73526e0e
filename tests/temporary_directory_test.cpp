// TemporaryDirectory, the scratch directory of the tests, the benches and the demo: a new empty
// directory, removed with everything in it, including the lock objects its database files' killed
// users left.
#include "scratch/temporary_directory.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <pyrate/pyrate.hpp>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "support/child_process.hpp"

using pyrate::InterprocessLock;
using pyrate::Rate;
using pyrate::SQLiteBucket;
using pyrate::SQLiteOptions;
using pyrate::TemporaryDirectory;
namespace fs = std::filesystem;

TEST_CASE("a temporary directory is a new empty directory named after its prefix") {
  const TemporaryDirectory first("pyrate-tmpdir-test");
  const TemporaryDirectory second("pyrate-tmpdir-test");
  const TemporaryDirectory unnamed;

  CHECK(first.path().parent_path() == fs::temp_directory_path());
  const std::string name = first.path().filename().string();
  CHECK(name.starts_with("pyrate-tmpdir-test-"));
  CHECK(name.size() == std::string("pyrate-tmpdir-test-").size() + 6);
  CHECK(fs::is_directory(first.path()));
  CHECK(fs::is_empty(first.path()));
  CHECK(second.path() != first.path());
  CHECK(fs::is_empty(second.path()));
  CHECK(unnamed.path().filename().string().starts_with("pyrate-"));
  CHECK(first.file("limits.db") == (first.path() / "limits.db").string());
}

TEST_CASE("a temporary directory that cannot be made throws std::system_error naming it") {
  CHECK_THROWS_AS(TemporaryDirectory("pyrate-missing-parent/child"), std::system_error);
  CHECK_THROWS_WITH(TemporaryDirectory("pyrate-missing-parent/child"),
                    Catch::Contains("pyrate-missing-parent/child-XXXXXX"));
}

TEST_CASE("destroying a temporary directory removes it and its contents, even read-only") {
  std::optional<TemporaryDirectory> dir(std::in_place, "pyrate-tmpdir-test");
  const fs::path path = dir->path();
  fs::create_directories(path / "nested" / "deeper");
  std::ofstream(path / "top.txt") << "top";
  std::ofstream(path / "nested" / "deeper" / "bottom.txt") << "bottom";
  fs::create_symlink(path / "top.txt", path / "nested" / "link");
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_exec);

  dir.reset();
  CHECK_FALSE(fs::exists(path));
}

TEST_CASE("destroying a temporary directory removes the lock objects its killed users left") {
  std::optional<TemporaryDirectory> dir(std::in_place, "pyrate-tmpdir-test");
  fs::create_directory(dir->path() / "nested");
  const std::string db_path = dir->file("nested/limits.db");
  SQLiteOptions options;
  options.db_path = db_path;
  options.multiprocess = true;
  pyrate::testing::SharedMemory<std::atomic<bool>> opened(false);
  pyrate::testing::ChildProcess killed([&] {
    SQLiteBucket bucket(std::vector<Rate>{Rate(5, 1000)}, options);
    *opened = true;
    while (true) std::this_thread::sleep_for(std::chrono::seconds(1));
    return 0;
  });
  pyrate::testing::sleep_until_set(*opened);
  killed.signal(SIGKILL);
  CHECK(killed.wait() == -SIGKILL);
  const fs::path object = "/dev/shm/" + InterprocessLock::name_for(db_path);
  REQUIRE(fs::exists(object));

  dir.reset();
  CHECK_FALSE(fs::exists(object));
  CHECK_FALSE(fs::exists(db_path));
}
