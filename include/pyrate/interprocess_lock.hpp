// The lock that processes sharing one database file take around their admissions.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "pyrate/export.hpp"
#include "pyrate/limiter_lock.hpp"

namespace pyrate {

// A LimiterLock shared by every process, and every thread, that opens the same database file.
//
// Design. The lock is a robust, process-shared POSIX mutex (PTHREAD_PROCESS_SHARED,
// PTHREAD_MUTEX_ROBUST, PTHREAD_MUTEX_ERRORCHECK) placed in a named Boost.Interprocess
// shared_memory_object that every opener maps. When a holder dies (SIGKILL, crash, a thread
// that exits while holding it), the kernel releases the mutex and hands it to the next waiter,
// which makes it consistent again at once: a dead holder delays the others by the time the
// kernel takes to end it and wake a waiter (0.1 to a few ms). The lock only orders the processes;
// what it guards, the database, stays consistent by itself because each check-and-record is one
// SQLite transaction, which also keeps the limit exact, though slower, for processes that do not
// share the lock (containers sharing the file but not /dev/shm).
//
// Name and place. The object is named "pyrate-lock-v2-" followed by 16 hexadecimal digits:
// the FNV-1a 64 hash of the database file's st_dev then st_ino, each as 8 little-endian bytes.
// Opening the file through any path, symlink or hard link therefore gives the same lock.
// "v2" is the object's layout version. On Linux the object is the file /dev/shm/<name>
// (tmpfs: it disappears at reboot); it is created with the read/write permission bits of the
// database file and, where the creator may, the file's group, so that the users who may
// write the database may use the lock. A file replaced by another (deleted and created again,
// or renamed over) is a new identity with a new lock. Each process maps an object once,
// however many InterprocessLocks it opens on the file; a child created by fork() shares its
// parent's objects but not its hold.
//
// Lifecycle. A process uses a file's object from its first InterprocessLock on the file until
// its last one is destroyed, or it ends; a child created by fork() uses the objects it
// inherits as long as it keeps them. The last process to stop using an object removes it, and
// an opener racing with that removal gets the object that comes next: at every moment, all
// processes that use the lock of one file use one object. (Each user holds an OFD read lock on
// the object's first byte; the last one out takes a write lock on it before unlinking, and an
// opener that got its read lock on an unlinked object opens the name again.) An object whose
// last users were all killed (SIGKILL, a crash) stays until the next user of the file stops
// using it, or until remove_unused() (`pyrate gc`) removes it. Objects of layout 1 (pyrate
// 0.1), which did not mark their use, are never removed automatically; processes of 0.1 and
// 0.2 on one file do not exclude each other, and the database still keeps the limit exact.
//
// Layout (64-bit Linux, 128 bytes): bytes 0-7 the magic "PYRATELK", 8-11 the layout version
// (2), 12-15 the state (0 empty, 1 initialising, 2 ready), 16-19 the object's size, 20-23
// sizeof(pthread_mutex_t), from byte 64 the mutex. The first opener creates the object and
// initialises it while holding flock(2) on it; an opener that finds it not ready (its
// creator died) initialises it again under the same flock. A ready object is never
// initialised again; one of another layout is refused.
//
// A stopped holder (SIGSTOP) is alive: the others wait for it, try_lock() returns false and
// try_lock_until() returns false at its deadline (so a Limiter acquire with a timeout gives
// up; one without, blocking or not, waits), and once the holder continues (SIGCONT) it
// unlocks and the others proceed normally.
class PYRATE_EXPORT InterprocessLock final : public LimiterLock {
 public:
  // Opens, creating it if needed, the lock of the file at `db_path`, which must exist.
  // Throws StorageError when the file or the lock object cannot be opened, or the object has
  // another layout. Several InterprocessLocks on one file, in one process or many, are one
  // lock.
  explicit InterprocessLock(const std::string& db_path);
  // Destroying the lock while the calling thread holds it releases it. While another thread
  // holds it, that thread keeps it until it unlocks through another InterprocessLock on the
  // same file or ends.
  ~InterprocessLock() override;

  InterprocessLock(const InterprocessLock&) = delete;
  InterprocessLock& operator=(const InterprocessLock&) = delete;

  // The lock is not recursive. lock(), try_lock() and try_lock_until() throw std::system_error
  // (resource_deadlock_would_occur) when the calling thread already holds it, through this
  // object or another one on the same file, and StorageError when the object was made
  // unusable by a program that does not follow this protocol. All methods are thread-safe.

  // Blocks until the lock is held. A holder that dies, or a thread that ends while holding it,
  // releases it to the next waiter.
  void lock() override;
  // Takes the lock if it is free; never blocks.
  bool try_lock() override;
  // Blocks until the lock is held (true) or `deadline` passes (false).
  bool try_lock_until(std::chrono::steady_clock::time_point deadline) override;
  // Throws std::system_error (operation_not_permitted) when the calling thread does not hold
  // the lock.
  void unlock() override;

  // The name of the shared object backing the lock (see above).
  const std::string& name() const;

  // The name of the lock of the file at `db_path`. Throws StorageError when the file does not
  // exist.
  static std::string name_for(const std::string& db_path);

  // Removes the lock object of the file at `db_path` if no process uses it (see Lifecycle);
  // returns whether it removed one. Throws StorageError when the file does not exist, or the
  // object cannot be opened or removed for a reason other than its absence.
  static bool remove(const std::string& db_path);

  // What remove_unused() found.
  struct Sweep {
    std::size_t removed = 0;        // objects no process used, now removed
    std::size_t in_use = 0;         // objects some process uses, kept
    std::size_t not_permitted = 0;  // objects this user may not open or remove, kept
  };
  // Removes every lock object of this layout in /dev/shm that no process uses: those whose last
  // users were killed, whatever database file they belonged to (which may be gone). Safe while
  // other processes open, use and close locks. Throws StorageError when /dev/shm cannot be
  // listed.
  static Sweep remove_unused();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pyrate
