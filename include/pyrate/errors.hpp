// Exceptions thrown by pyrate besides the std ones.
#pragma once

#include <stdexcept>

#include "pyrate/export.hpp"

namespace pyrate {

// Persistent storage failed: the message names the database path and the cause.
struct PYRATE_EXPORT StorageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The database's schema version is newer than this library knows; the file is left untouched.
struct PYRATE_EXPORT SchemaError : StorageError {
  using StorageError::StorageError;
};

// An item's weight exceeds the limit of one of the bucket's rates: it can never be admitted.
struct PYRATE_EXPORT BucketFullError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace pyrate
