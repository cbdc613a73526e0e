// The buckets a database file records, for the subcommands that work on existing buckets.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pyrate/sqlite_bucket.hpp"

namespace pyrate::cli {

// The buckets recorded in the file at `db_path`, ordered by name: all of them, or only the one
// named `only` (none when it is not recorded). A file that does not exist lists nothing and
// is not created. Throws pyrate::StorageError when the file cannot be read.
std::vector<StoredBucket> select_stored_buckets(const std::string& db_path,
                                                const std::optional<std::string>& only);

// Opens a recorded bucket with its recorded rates and the interprocess lock.
// Throws pyrate::StorageError when the file cannot be opened.
std::shared_ptr<SQLiteBucket> open_stored_bucket(const std::string& db_path,
                                                 const StoredBucket& stored);

// `path` made absolute, for display; `path` itself when that fails.
std::string display_path(const std::string& path);

}  // namespace pyrate::cli
