// Where the pyrate command keeps its database.
#pragma once

#include <optional>
#include <string>

namespace pyrate::cli {

struct DatabaseLocation {
  std::string path;
  // True for the XDG state location, whose directories the command creates on first use.
  // A path from --db or PYRATE_DB must be in a directory that exists.
  bool is_default = false;
};

// The database named by --db (`flag`), else by $PYRATE_DB when set and non-empty, else
// $XDG_STATE_HOME/pyrate/limits.db when XDG_STATE_HOME is set and non-empty, else
// ~/.local/state/pyrate/limits.db (home from $HOME, else the password database).
// Throws UsageError when none of these is available.
DatabaseLocation locate_database(const std::optional<std::string>& flag);

// Creates the missing directories above a default location (mode 0700, as XDG asks); does
// nothing for other locations. Throws pyrate::StorageError naming the directory that cannot
// be created.
void create_default_directories(const DatabaseLocation& location);

}  // namespace pyrate::cli
