#include "sync/lock_object.hpp"

#include <linux/futex.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/permissions.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cerrno>
#include <cstdio>
#include <map>
#include <mutex>
#include <system_error>
#include <vector>

#include "pyrate/errors.hpp"

namespace pyrate::detail {
namespace {

namespace bip = boost::interprocess;

constexpr std::uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;
constexpr std::uint64_t kFnvPrime = 0x100000001b3ULL;

// Folds `value` into an FNV-1a 64 hash as 8 little-endian bytes, whatever the host's order.
std::uint64_t fnv1a_add(std::uint64_t hash, std::uint64_t value) {
  for (int byte = 0; byte < 8; ++byte) {
    hash ^= (value >> (8 * byte)) & 0xFFu;
    hash *= kFnvPrime;
  }
  return hash;
}

std::string errno_text(int error) { return std::generic_category().message(error); }

struct stat stat_database(const std::string& db_path) {
  struct stat file {};
  if (::stat(db_path.c_str(), &file) != 0) {
    throw StorageError("interprocess lock for '" + db_path +
                       "': cannot stat the database file: " + errno_text(errno));
  }
  if (!S_ISREG(file.st_mode)) {
    throw StorageError("interprocess lock for '" + db_path + "': not a regular file");
  }
  return file;
}

std::string name_of(const struct stat& file) {
  std::uint64_t hash = kFnvOffsetBasis;
  hash = fnv1a_add(hash, static_cast<std::uint64_t>(file.st_dev));
  hash = fnv1a_add(hash, static_cast<std::uint64_t>(file.st_ino));
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return "pyrate-lock-v" + std::to_string(kLockLayoutVersion) + "-" + hex;
}

// Holds flock(LOCK_EX) on an open file description for its lifetime. The kernel drops it
// when its holder dies, so a creator that dies mid-initialisation blocks nobody.
class ExclusiveFlock {
 public:
  ExclusiveFlock(int fd, const std::string& what) : fd_(fd) {
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) throw StorageError(what + ": flock failed: " + errno_text(errno));
    }
  }
  ~ExclusiveFlock() { ::flock(fd_, LOCK_UN); }
  ExclusiveFlock(const ExclusiveFlock&) = delete;
  ExclusiveFlock& operator=(const ExclusiveFlock&) = delete;

 private:
  int fd_;
};

bool has_our_layout(const SharedLockBlock& block) {
  return block.magic == kLockMagic && block.layout_version == kLockLayoutVersion &&
         block.block_size == sizeof(SharedLockBlock) && block.mutex_size == sizeof(pthread_mutex_t);
}

StorageError another_layout(const std::string& what, const SharedLockBlock& block) {
  return StorageError(what + ": the object has another layout (magic " +
                      std::to_string(block.magic) + ", layout " +
                      std::to_string(block.layout_version) + ", " +
                      std::to_string(block.block_size) + " bytes); refusing to reuse it");
}

off_t object_size(int fd, const std::string& what) {
  struct stat object {};
  if (::fstat(fd, &object) != 0) {
    throw StorageError(what + ": fstat failed: " + errno_text(errno));
  }
  return object.st_size;
}

void check(int result, const std::string& what, const char* call) {
  if (result != 0) throw StorageError(what + ": " + call + " failed: " + errno_text(result));
}

// Writes the header and a fresh robust mutex, then publishes the block as ready.
void initialise(SharedLockBlock& block, const std::string& what) {
  block.state.store(kLockInitialising, std::memory_order_relaxed);
  block.magic = kLockMagic;
  block.layout_version = kLockLayoutVersion;
  block.block_size = sizeof(SharedLockBlock);
  block.mutex_size = sizeof(pthread_mutex_t);

  pthread_mutexattr_t attributes;
  check(pthread_mutexattr_init(&attributes), what, "pthread_mutexattr_init");
  int result = pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
  if (result == 0) result = pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
  if (result == 0) result = pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_ERRORCHECK);
  if (result == 0) result = pthread_mutex_init(&block.mutex, &attributes);
  pthread_mutexattr_destroy(&attributes);
  check(result, what, "initialising the robust mutex");

  block.state.store(kLockReady, std::memory_order_release);
}

// Gives an object this user owns to the database's group, so that the users who may write
// the database may use the lock. Best effort: a user can give a file only to a group they
// belong to. Returns whether the object belongs to that group.
bool share_with_database_group(int fd, const struct stat& database) {
  struct stat object {};
  if (::fstat(fd, &object) != 0) return false;
  if (object.st_gid == database.st_gid) return true;
  return object.st_uid == ::geteuid() && ::fchown(fd, static_cast<uid_t>(-1), database.st_gid) == 0;
}

// Whether the robust mutex is held by a thread of this process. The kernel's robust-futex ABI
// keeps the holder's thread id in the mutex word; tgkill with signal 0 tells whether that
// thread belongs to this process.
bool held_in_this_process(pthread_mutex_t& mutex) {
  const int word = __atomic_load_n(&mutex.__data.__lock, __ATOMIC_ACQUIRE);
  const pid_t holder = static_cast<pid_t>(static_cast<unsigned>(word) & FUTEX_TID_MASK);
  return holder != 0 && ::syscall(SYS_tgkill, ::getpid(), holder, 0) == 0;
}

// Mappings that must outlive their LockObject; reachable, so leak checkers accept them.
std::vector<boost::interprocess::mapped_region>& kept_mappings() {
  static auto* kept = new std::vector<boost::interprocess::mapped_region>;
  return *kept;
}

}  // namespace

std::string lock_object_name(const std::string& db_path) { return name_of(stat_database(db_path)); }

std::shared_ptr<LockObject> LockObject::open(const std::string& db_path) {
  static std::mutex registry_mutex;
  static std::map<std::string, std::weak_ptr<LockObject>> registry;

  const struct stat database = stat_database(db_path);
  std::string name = name_of(database);
  const std::lock_guard lock(registry_mutex);
  const auto found = registry.find(name);
  if (found != registry.end()) {
    if (std::shared_ptr<LockObject> mapped = found->second.lock()) return mapped;
  }
  auto object = std::make_shared<LockObject>(db_path, database, name);
  std::erase_if(registry, [](const auto& named) { return named.second.expired(); });
  registry[name] = object;
  return object;
}

LockObject::~LockObject() {
  if (block_ == nullptr) return;
  switch (pthread_mutex_trylock(&block_->mutex)) {
    case EOWNERDEAD:
      pthread_mutex_consistent(&block_->mutex);
      pthread_mutex_unlock(&block_->mutex);
      return;
    case 0:
    case EDEADLK:
      pthread_mutex_unlock(&block_->mutex);
      return;
    default:
      if (held_in_this_process(block_->mutex)) {
        static std::mutex kept_mutex;
        const std::lock_guard lock(kept_mutex);
        kept_mappings().push_back(std::move(region_));
      }
  }
}

LockObject::LockObject(const std::string& db_path, const struct stat& database, std::string name)
    : name_(std::move(name)) {
  const std::string what = "interprocess lock /dev/shm/" + name_ + " of '" + db_path + "'";
  constexpr auto kBlockSize = static_cast<off_t>(sizeof(SharedLockBlock));
  try {
    bip::shared_memory_object object(bip::open_or_create, name_.c_str(), bip::read_write,
                                     bip::permissions(database.st_mode & 0666));
    const int fd = object.get_mapping_handle().handle;

    // Fast path: a ready object is never written again, so it can be used without the flock.
    if (object_size(fd, what) >= kBlockSize) {
      region_ = bip::mapped_region(object, bip::read_write, 0, sizeof(SharedLockBlock));
      block_ = static_cast<SharedLockBlock*>(region_.get_address());
      if (block_->state.load(std::memory_order_acquire) == kLockReady) {
        if (!has_our_layout(*block_)) throw another_layout(what, *block_);
        return;
      }
    }

    // Slow path: create, repair or check the object while no other opener can.
    ExclusiveFlock flock(fd, what);
    const off_t size = object_size(fd, what);
    if (size == 0) {
      object.truncate(kBlockSize);
    } else if (size < kBlockSize) {
      throw StorageError(what + ": the object has " + std::to_string(size) + " bytes, expected " +
                         std::to_string(kBlockSize) + "; refusing to reuse it");
    }
    if (block_ == nullptr) {
      region_ = bip::mapped_region(object, bip::read_write, 0, sizeof(SharedLockBlock));
      block_ = static_cast<SharedLockBlock*>(region_.get_address());
    }
    const bool ready = block_->state.load(std::memory_order_acquire) == kLockReady;
    if (has_our_layout(*block_) && ready) return;
    // Never written (its creator died before the header), or written by a creator of this
    // layout that died before finishing: nobody can be using its mutex yet.
    if (block_->magic == 0 || has_our_layout(*block_)) {
      share_with_database_group(fd, database);
      initialise(*block_, what);
      return;
    }
    throw another_layout(what, *block_);
  } catch (const bip::interprocess_exception& error) {
    throw StorageError(what + ": " + error.what());
  }
}

}  // namespace pyrate::detail
