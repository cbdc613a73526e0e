// The lock that processes sharing one database file take around their admissions.
#pragma once

#include <memory>
#include <string>

#include "pyrate/limiter_lock.hpp"

namespace pyrate {

// A LimiterLock shared by every process (and thread) that opens the same database file.
// The design is documented in interprocess_lock.cpp's header comment... (to be written).
class InterprocessLock final : public LimiterLock {
 public:
  // Opens, creating it if needed, the lock of the file at `db_path`, which must exist.
  // Throws StorageError when the file or the lock object cannot be opened.
  explicit InterprocessLock(const std::string& db_path);
  ~InterprocessLock() override;

  InterprocessLock(const InterprocessLock&) = delete;
  InterprocessLock& operator=(const InterprocessLock&) = delete;

  void lock() override;
  bool try_lock() override;
  bool try_lock_until(std::chrono::steady_clock::time_point deadline) override;
  void unlock() override;

  // The name of the shared object backing the lock.
  const std::string& name() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pyrate
