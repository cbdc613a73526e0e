// The named shared-memory object behind an InterprocessLock: its name, its layout, and the
// protocols that create, check, initialise, share and remove it.
#pragma once

#include <pthread.h>
#include <sys/stat.h>

#include <atomic>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cstdint>
#include <memory>
#include <string>

namespace pyrate::detail {

// Bumped whenever SharedLockBlock or the protocols change; part of the object's name and of its
// header. Layout 2 added the use marks (objects of layout 1 were never removed).
inline constexpr std::uint32_t kLockLayoutVersion = 2;
// Where the objects live: what shm_open names, as files.
inline constexpr const char* kLockObjectDirectory = "/dev/shm";
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
// The part of every object's name before the hash.
std::string lock_object_name_prefix();

// What removing an object that nobody may be using came to.
enum class Removal { kRemoved, kInUse, kAbsent, kNotPermitted };

// Removes the object `name` unless a process marks its use (see LockObject). Throws
// StorageError for failures other than those Removal names.
Removal remove_lock_object_if_unused(const std::string& name);

// A mapping of the ready lock object of one database file. A process maps each object once,
// so its threads all see the mutex at one address.
//
// Use marks. Each process that maps an object holds an OFD read lock (fcntl F_OFD_SETLK) on the
// object's first byte, taken before it looks inside and held until it unmaps it, or dies. The
// last process to unmap an object removes it: it gets a write lock on that byte, which no
// other process then holds, and unlinks the name if it still names that object. An opener that
// gets its mark on an object removed meanwhile (no link left) opens the name again. So at every
// moment, all processes using the lock of a file use the object its name gives. A child created
// by fork() takes marks of its own on the objects it inherits (the inherited descriptors share
// the parent's), so that parent and child each count. Initialisation is ordered by flock(2),
// independent of the marks.
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
  // mapping (and use mark) is kept so that its death still releases the mutex. Removes the
  // object when no other process marks its use.
  ~LockObject();
  LockObject(const LockObject&) = delete;
  LockObject& operator=(const LockObject&) = delete;

  const std::string& name() const { return name_; }
  pthread_mutex_t* mutex() { return &block_->mutex; }
  // The thread of this process that holds the mutex, or 0, as recorded by its users.
  std::atomic<pthread_t>& holder() { return holder_; }

  // The fork() protocol (see Use marks). Before a fork: opens a second description of the
  // object holding a use mark of its own; false if that failed (the child then shares the
  // parent's mark, and never removes the object). Throws std::bad_alloc. After it, in the parent:
  // closes it. In the child: puts it in place of the inherited descriptor. The last two are
  // async-signal-safe.
  bool prepare_child_mark();
  void drop_child_mark() noexcept;
  void adopt_child_mark() noexcept;

 private:
  std::string name_;
  std::atomic<pthread_t> holder_{0};
  boost::interprocess::shared_memory_object object_;  // its descriptor holds the use mark
  pid_t marked_by_ = 0;                               // the process whose mark object_ holds
  int child_mark_ = -1;                               // during a fork: the child's mark
  boost::interprocess::mapped_region region_;
  SharedLockBlock* block_ = nullptr;
};

}  // namespace pyrate::detail
