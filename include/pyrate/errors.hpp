// Exceptions thrown by pyrate besides the std ones.
#pragma once

#include <stdexcept>

namespace pyrate {

// Persistent storage failed: the message names the database path and the cause.
struct StorageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The database's schema version is newer than this library knows; the file is left untouched.
struct SchemaError : StorageError {
  using StorageError::StorageError;
};

// An item's weight exceeds the limit of one of the bucket's rates: it can never be admitted.
struct BucketFullError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace pyrate
