#include "database_location.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "exit_codes.hpp"
#include "pyrate/errors.hpp"

namespace pyrate::cli {
namespace {

std::optional<std::string> non_empty_environment(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

std::optional<std::string> home_directory() {
  if (auto home = non_empty_environment("HOME")) return home;
  const passwd* entry = getpwuid(getuid());
  if (entry != nullptr && entry->pw_dir != nullptr && *entry->pw_dir != '\0') {
    return std::string(entry->pw_dir);
  }
  return std::nullopt;
}

}  // namespace

DatabaseLocation locate_database(const std::optional<std::string>& flag) {
  if (flag) return {*flag, false};
  if (auto path = non_empty_environment("PYRATE_DB")) return {*path, false};
  if (auto state_home = non_empty_environment("XDG_STATE_HOME")) {
    return {(std::filesystem::path(*state_home) / "pyrate" / "limits.db").string(), true};
  }
  if (auto home = home_directory()) {
    return {(std::filesystem::path(*home) / ".local" / "state" / "pyrate" / "limits.db").string(),
            true};
  }
  throw UsageError(
      "cannot locate the database: give --db, or set PYRATE_DB, XDG_STATE_HOME or HOME");
}

void create_default_directories(const DatabaseLocation& location) {
  if (!location.is_default) return;
  std::filesystem::path partial;
  for (const auto& part : std::filesystem::path(location.path).parent_path()) {
    partial /= part;
    if (::mkdir(partial.c_str(), 0700) == 0 || errno == EEXIST) continue;
    throw StorageError("cannot create the database directory " + partial.string() + ": " +
                       std::strerror(errno));
  }
}

}  // namespace pyrate::cli
