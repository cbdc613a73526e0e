// Test support for SQLiteBucket: scratch directories, file contents, forked children (also
// run as an unprivileged user), and a check that a bucket's recorded log respects its rates.
#pragma once

#include <grp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <pyrate/pyrate.hpp>
#include <string>
#include <system_error>
#include <vector>

#include "scratch/temporary_directory.hpp"
#include "support/child_process.hpp"
#include "support/window_check.hpp"

namespace pyrate_test {

// Options for the bucket `bucket` in the file `db_path`, the rest left at their defaults.
inline pyrate::SQLiteOptions at(const std::string& db_path,
                                const std::string& bucket = "rate_bucket") {
  pyrate::SQLiteOptions options;
  options.db_path = db_path;
  options.bucket = bucket;
  return options;
}

// A new directory under the system's temporary directory, removed with its contents (and
// their interprocess lock objects) even when a test took its permissions away.
class ScratchDir : public pyrate::TemporaryDirectory {
 public:
  ScratchDir() : TemporaryDirectory("pyrate-test") {}
};

// The bytes of a file; empty when it cannot be read.
inline std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline bool exists(const std::string& path) {
  std::error_code ignored;
  return std::filesystem::exists(path, ignored);
}

// Runs `body` in a forked child (see ChildProcess) and returns its exit code, or 128 + signal
// when a signal ended it.
template <class Body>
int run_in_child(Body body) {
  const int code = pyrate::testing::ChildProcess(std::move(body)).wait();
  return code < 0 ? 128 - code : code;
}

// Runs `body` as a user whom file permissions bind: as is when the tests run unprivileged, in
// a child switched to "nobody" (uid and gid 65534) when they run as root, whom permission bits
// do not stop. Returns `body`'s result.
template <class Body>
int run_unprivileged(Body body) {
  if (::geteuid() != 0) return body();
  return run_in_child([&] {
    constexpr unsigned kNobody = 65534;
    if (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) {
      std::perror("dropping privileges");
      return 101;
    }
    return body();
  });
}

// Every slot of a bucket, oldest first.
inline std::vector<pyrate::RateItem> all_slots(pyrate::AbstractBucket& bucket) {
  std::vector<pyrate::RateItem> slots;
  for (std::int64_t i = bucket.count() - 1; i >= 0; --i) slots.push_back(*bucket.peek(i));
  return slots;
}

// True when the timestamps of `slots` never decrease and no window of any rate holds more
// slots than its limit (see pyrate::testing::respects_rates).
inline bool respects_rates(const std::vector<pyrate::RateItem>& slots,
                           const std::vector<pyrate::Rate>& rates) {
  std::vector<pyrate::Millis> stamps;
  for (const pyrate::RateItem& slot : slots) stamps.push_back(slot.timestamp);
  return std::is_sorted(stamps.begin(), stamps.end()) &&
         pyrate::testing::respects_rates(stamps, rates);
}

}  // namespace pyrate_test
