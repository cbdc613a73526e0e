// Exceptions thrown by pyrate besides the std ones.
#pragma once

#include <stdexcept>

#include "pyrate/export.hpp"

namespace pyrate {

// Persistent storage failed: the message names the database path and the cause.
struct PYRATE_EXPORT StorageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The store could not be reached, or did not answer in time: a connection refused, reset or
// timed out, a server still loading its data set or busy running another script. The operation
// may succeed later, unchanged; nothing it would have admitted was admitted. A caller that must
// keep serving can catch this type alone to fail open (admit without a limit) or closed
// (refuse), and still let every other StorageError, which calls for a fix (a wrong password, a
// database index the server lacks), surface. Thrown by RedisBucket.
struct PYRATE_EXPORT StorageUnavailableError : StorageError {
  using StorageError::StorageError;
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
