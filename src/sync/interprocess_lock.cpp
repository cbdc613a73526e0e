#include "pyrate/interprocess_lock.hpp"

#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <filesystem>
#include <system_error>

#include "pyrate/errors.hpp"
#include "sync/lock_object.hpp"
#include "sync/monotonic_timespec.hpp"

#if defined(__SANITIZE_THREAD__)
#define PYRATE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PYRATE_TSAN 1
#endif
#endif
#ifndef PYRATE_TSAN
#define PYRATE_TSAN 0
#endif
#if PYRATE_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace pyrate {
namespace {

// pthread_mutex_clocklock(CLOCK_MONOTONIC). ThreadSanitizer does not intercept it, so under
// TSan the call is announced as a try-lock, which lets it pair with the intercepted unlock.
int clock_lock(pthread_mutex_t* mutex, const timespec& deadline) {
#if PYRATE_TSAN
  __tsan_mutex_pre_lock(mutex, __tsan_mutex_try_lock);
  const int result = pthread_mutex_clocklock(mutex, CLOCK_MONOTONIC, &deadline);
  const bool held = result == 0 || result == EOWNERDEAD;
  __tsan_mutex_post_lock(mutex, __tsan_mutex_try_lock | (held ? 0 : __tsan_mutex_try_lock_failed),
                         0);
  return result;
#else
  return pthread_mutex_clocklock(mutex, CLOCK_MONOTONIC, &deadline);
#endif
}

}  // namespace

struct InterprocessLock::Impl {
  explicit Impl(const std::string& db_path) : object(detail::LockObject::open(db_path)) {}

  // Turns the result of a pthread lock call into whether the lock is held. A holder that died
  // leaves the mutex inconsistent (EOWNERDEAD): the database it orders keeps itself
  // consistent, so the mutex is marked consistent and the lock is held. Marking it is what
  // keeps the mutex usable: unlocking an inconsistent mutex would make it unrecoverable.
  bool held_after(int result) {
    switch (result) {
      case 0:
        object->holder().store(pthread_self(), std::memory_order_relaxed);
        return true;
      case EOWNERDEAD: {
        const int repaired = pthread_mutex_consistent(object->mutex());
        if (repaired != 0) {
          throw StorageError("interprocess lock /dev/shm/" + object->name() +
                             ": cannot repair it after its holder died: " +
                             std::generic_category().message(repaired));
        }
        object->holder().store(pthread_self(), std::memory_order_relaxed);
        return true;
      }
      case EBUSY:
      case ETIMEDOUT:
        return false;
      case EDEADLK:
        throw std::system_error(
            std::make_error_code(std::errc::resource_deadlock_would_occur),
            "interprocess lock /dev/shm/" + object->name() + " is already held by this thread");
      case ENOTRECOVERABLE:
        throw StorageError("interprocess lock /dev/shm/" + object->name() +
                           " was left unrecoverable by a program that does not repair it; "
                           "remove it when no process uses the database");
      default:
        throw std::system_error(result, std::generic_category(),
                                "interprocess lock /dev/shm/" + object->name());
    }
  }

  std::shared_ptr<detail::LockObject> object;
};

InterprocessLock::InterprocessLock(const std::string& db_path)
    : impl_(std::make_unique<Impl>(db_path)) {}

InterprocessLock::~InterprocessLock() = default;

void InterprocessLock::lock() { impl_->held_after(pthread_mutex_lock(impl_->object->mutex())); }

bool InterprocessLock::try_lock() {
  return impl_->held_after(pthread_mutex_trylock(impl_->object->mutex()));
}

bool InterprocessLock::try_lock_until(std::chrono::steady_clock::time_point deadline) {
  const timespec until = monotonic_timespec(deadline);
  return impl_->held_after(clock_lock(impl_->object->mutex(), until));
}

// The holder record lets a thread that does not hold the lock be refused before the mutex is
// touched (keeping the misuse away from ThreadSanitizer's view of the mutex); a child process
// inherits its parent's record, so the error-checking mutex remains the final judge.
void InterprocessLock::unlock() {
  std::atomic<pthread_t>& holder = impl_->object->holder();
  int result = EPERM;
  if (holder.load(std::memory_order_relaxed) == pthread_self()) {
    holder.store(0, std::memory_order_relaxed);
    result = pthread_mutex_unlock(impl_->object->mutex());
  }
  if (result == EPERM) {
    throw std::system_error(
        std::make_error_code(std::errc::operation_not_permitted),
        "interprocess lock /dev/shm/" + impl_->object->name() + " is not held by this thread");
  }
  if (result != 0) {
    throw std::system_error(result, std::generic_category(),
                            "interprocess lock /dev/shm/" + impl_->object->name());
  }
}

const std::string& InterprocessLock::name() const { return impl_->object->name(); }

std::string InterprocessLock::name_for(const std::string& db_path) {
  return detail::lock_object_name(db_path);
}

bool InterprocessLock::remove(const std::string& db_path) {
  return detail::remove_lock_object_if_unused(detail::lock_object_name(db_path)) ==
         detail::Removal::kRemoved;
}

InterprocessLock::Sweep InterprocessLock::remove_unused() {
  namespace fs = std::filesystem;
  const std::string prefix = detail::lock_object_name_prefix();
  Sweep sweep;
  std::error_code error;
  fs::directory_iterator entry(detail::kLockObjectDirectory, error);
  for (; !error && entry != fs::directory_iterator(); entry.increment(error)) {
    const std::string name = entry->path().filename().string();
    if (!name.starts_with(prefix)) continue;
    switch (detail::remove_lock_object_if_unused(name)) {
      case detail::Removal::kRemoved:
        ++sweep.removed;
        break;
      case detail::Removal::kInUse:
        ++sweep.in_use;
        break;
      case detail::Removal::kNotPermitted:
        ++sweep.not_permitted;
        break;
      case detail::Removal::kAbsent:
        break;
    }
  }
  if (error) {
    throw StorageError(std::string("cannot list the lock objects in ") +
                       detail::kLockObjectDirectory + ": " + error.message());
  }
  return sweep;
}

}  // namespace pyrate
