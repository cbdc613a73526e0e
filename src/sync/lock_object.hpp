// The named shared-memory object behind an InterprocessLock: its name, its layout, and the
// protocol that creates, checks and initialises it.
#pragma once

#include <pthread.h>
#include <sys/stat.h>

#include <atomic>
#include <boost/interprocess/mapped_region.hpp>
#include <cstdint>
#include <memory>
#include <string>

namespace pyrate::detail {

// Bumped whenever SharedLockBlock changes; part of the object's name and of its header.
inline constexpr std::uint32_t kLockLayoutVersion = 1;
// The bytes "PYRATELK" read as a little-endian 64-bit integer.
inline constexpr std::uint64_t kLockMagic = 0x4B4C455441525950ULL;

enum LockState : std::uint32_t { kLockEmpty = 0, kLockInitialising = 1, kLockReady = 2 };

// The object's contents. The header fields are written once, before `state` becomes
// kLockReady, and never again.
struct SharedLockBlock {
  std::uint64_t magic;                // offset 0: kLockMagic
  std::uint32_t layout_version;       // offset 8: kLockLayoutVersion
  std::atomic<std::uint32_t> state;   // offset 12: a LockState
  std::uint32_t block_size;           // offset 16: sizeof(SharedLockBlock)
  std::uint32_t mutex_size;           // offset 20: sizeof(pthread_mutex_t)
  alignas(64) pthread_mutex_t mutex;  // offset 64: robust, process-shared, error-checking
};

static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

// "pyrate-lock-v<layout>-<16 hex digits>": FNV-1a 64 of the file's st_dev then st_ino, each
// as 8 little-endian bytes. Throws StorageError when the file cannot be stat()ed.
std::string lock_object_name(const std::string& db_path);

// A mapping of the ready lock object of one database file. A process maps each object once,
// so its threads all see the mutex at one address.
class LockObject {
 public:
  // The object named after the file at `db_path`, mapped by this process already or now,
  // creating and initialising it when needed. Throws StorageError when the file or the object
  // cannot be opened, or the object has another layout. Thread-safe.
  static std::shared_ptr<LockObject> open(const std::string& db_path);

  // Use open().
  LockObject(const std::string& db_path, const struct stat& database, std::string name);
  // Unmaps the object unless a thread of this process still holds its mutex (the caller
  // destroyed a lock it held): the destroying thread's hold is released, another thread's
  // mapping is kept so that its death still releases the mutex.
  ~LockObject();
  LockObject(const LockObject&) = delete;
  LockObject& operator=(const LockObject&) = delete;

  const std::string& name() const { return name_; }
  pthread_mutex_t* mutex() { return &block_->mutex; }
  // The thread of this process that holds the mutex, or 0, as recorded by its users.
  std::atomic<pthread_t>& holder() { return holder_; }

 private:
  std::string name_;
  std::atomic<pthread_t> holder_{0};
  boost::interprocess::mapped_region region_;
  SharedLockBlock* block_ = nullptr;
};

}  // namespace pyrate::detail
