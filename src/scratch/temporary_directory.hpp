// A new directory under the system's temporary directory, removed with its contents and the
// interprocess lock objects of the database files in it: for the tests, the benches and the
// demo.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace pyrate {

// A directory that exists, empty when made, from construction to destruction.
class TemporaryDirectory {
 public:
  // Creates a new directory `<prefix>-XXXXXX` (six characters making the name unused) in
  // std::filesystem::temp_directory_path(), readable, writable and searchable by its owner
  // only. Throws std::system_error, naming the pattern, when it cannot.
  explicit TemporaryDirectory(std::string_view prefix = "pyrate");
  // Removes the directory with everything below it, even when its own permission bits were
  // taken away, and the interprocess lock object of every regular file below it that has one
  // no process uses (left by killed users; see InterprocessLock::remove).
  // What cannot be removed is left behind; never throws.
  ~TemporaryDirectory();

  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;

  // The directory, absolute.
  const std::filesystem::path& path() const { return path_; }
  // The path of the entry `name` in the directory (which need not exist), as a string.
  std::string file(std::string_view name) const;

 private:
  std::filesystem::path path_;
};

}  // namespace pyrate
