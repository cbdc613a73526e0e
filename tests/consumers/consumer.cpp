// A program that uses an installed pyrate as any consumer would: built by CI through the CMake
// package (cmake/), through pkg-config (scripts/check_install.sh), against the static and the
// shared library. It reaches across the library's boundary both ways: it catches pyrate's
// exceptions by type and hands the library a Clock of its own.
#include <cstdlib>
#include <iostream>
#include <memory>
#include <pyrate/pyrate.hpp>
#include <string>

namespace {

// A clock that the program sets, through the library's Clock interface.
class StoppedClock final : public pyrate::Clock {
 public:
  pyrate::Millis now() override { return 1'000'000; }
};

bool check(bool ok, const std::string& what) {
  std::cout << (ok ? "ok    " : "FAILED") << ' ' << what << '\n';
  return ok;
}

}  // namespace

int main() {
  bool ok =
      check(std::string(PYRATE_VERSION_STRING) == std::to_string(PYRATE_VERSION_MAJOR) + '.' +
                                                      std::to_string(PYRATE_VERSION_MINOR) + '.' +
                                                      std::to_string(PYRATE_VERSION_PATCH),
            std::string("version ") + PYRATE_VERSION_STRING);

  pyrate::AcquireOptions no_wait;
  no_wait.blocking = false;

  auto sqlite = pyrate::create_sqlite_limiter(2, 1000);
  int admitted = 0;
  for (int i = 0; i < 3; ++i) admitted += sqlite->try_acquire("installed", no_wait);
  ok &= check(admitted == 2, "SQLite limiter admits 2 of 3");

  auto bucket = std::make_shared<pyrate::InMemoryBucket>(
      std::vector<pyrate::Rate>{{1, pyrate::Duration::Second}});
  bucket->set_clock(std::make_shared<StoppedClock>());
  pyrate::Limiter limiter(bucket);
  const pyrate::Decision first = limiter.acquire("clock", no_wait);
  const pyrate::Decision second = limiter.acquire("clock", no_wait);
  ok &= check(first.admitted && !second.admitted && second.retry_after == 1001,
              "in-memory limiter on the program's clock refuses for 1001 ms");

  try {
    pyrate::SQLiteOptions options;
    options.db_path = "/nonexistent-directory/limits.db";
    pyrate::SQLiteBucket unopenable({{1, pyrate::Duration::Second}}, options);
    ok &= check(false, "StorageError for a missing directory");
  } catch (const pyrate::StorageError& error) {
    ok &= check(true, "StorageError for a missing directory, caught by type");
  }

  std::cout << (ok ? "consumer passed" : "consumer failed") << '\n';
  return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
