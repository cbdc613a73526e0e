#include "sync/lock_object.hpp"

#include <fcntl.h>
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
#include <new>
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
  return lock_object_name_prefix() + hex;
}

// Sets this open file description's OFD lock on the use mark (the object's first byte) to
// `type` (F_RDLCK: a user; F_WRLCK: the only user). Returns false when another description's
// lock conflicts and `wait` is false.
bool set_use_mark(int fd, short type, bool wait, const std::string& what) {
  struct flock mark {};
  mark.l_type = type;
  mark.l_whence = SEEK_SET;
  mark.l_start = 0;
  mark.l_len = 1;
  while (::fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &mark) != 0) {
    if (errno == EINTR) continue;
    if (!wait && (errno == EAGAIN || errno == EACCES)) return false;
    throw StorageError(what + ": cannot mark its use: " + errno_text(errno));
  }
  return true;
}

// Whether the object open at `fd` was unlinked (by its last user) since it was opened.
bool removed_since_opened(int fd, const std::string& what) {
  struct stat object {};
  if (::fstat(fd, &object) != 0) throw StorageError(what + ": fstat failed: " + errno_text(errno));
  return object.st_nlink == 0;
}

std::string object_file(const std::string& name) {
  return std::string(kLockObjectDirectory) + "/" + name;
}

// Removes the object open at `fd`, named `name`, when no other open file description marks
// its use. The write mark, taken without waiting, shows that nobody else uses it; the name is
// then unlinked only if it still names this object.
Removal remove_if_only_user(int fd, const std::string& name, const std::string& what) {
  if (!set_use_mark(fd, F_WRLCK, false, what)) return Removal::kInUse;
  struct stat mine {};
  struct stat named {};
  if (::fstat(fd, &mine) != 0 || mine.st_nlink == 0) return Removal::kAbsent;
  if (::stat(object_file(name).c_str(), &named) != 0 || named.st_ino != mine.st_ino ||
      named.st_dev != mine.st_dev) {
    return Removal::kAbsent;
  }
  if (::unlink(object_file(name).c_str()) == 0) return Removal::kRemoved;
  if (errno == ENOENT) return Removal::kAbsent;
  if (errno == EPERM || errno == EACCES) return Removal::kNotPermitted;
  throw StorageError(what + ": cannot remove it: " + errno_text(errno));
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

// A mapping that outlives its LockObject while a thread of this process holds its mutex, with
// the descriptor holding its use mark.
struct KeptMapping {
  std::string name;
  pid_t marked_by;
  bip::shared_memory_object object;
  bip::mapped_region region;

  bool still_held() {
    return held_in_this_process(static_cast<SharedLockBlock*>(region.get_address())->mutex);
  }
};

// Mappings kept for threads that still hold their mutex; reachable, so leak checkers accept
// them.
std::mutex kept_mutex;
std::vector<KeptMapping>& kept_mappings() {
  static auto* kept = new std::vector<KeptMapping>;
  return *kept;
}

// Unmaps the kept mappings whose holder let go or ended, removing their objects when nobody
// else uses them.
void release_kept_mappings_no_longer_held() {
  const std::lock_guard lock(kept_mutex);
  std::erase_if(kept_mappings(), [](KeptMapping& kept) {
    if (kept.still_held()) return false;
    kept.region = bip::mapped_region();
    if (kept.marked_by == ::getpid()) {
      try {
        remove_if_only_user(kept.object.get_mapping_handle().handle, kept.name,
                            "interprocess lock " + object_file(kept.name));
      } catch (...) {
        // Left for the next last user, or `pyrate gc`.
      }
    }
    return true;
  });
}

// The objects this process maps, by name.
std::mutex registry_mutex;
std::map<std::string, std::weak_ptr<LockObject>>& registry() {
  static auto* mapped = new std::map<std::string, std::weak_ptr<LockObject>>;
  return *mapped;
}

// fork() handlers. Before the fork, every object this process maps gets a second open file
// description holding a use mark; the parent closes it afterwards, and the child puts it in
// place of its inherited descriptor. The child's mark thus exists from the instant it does,
// whatever the parent does next. The registry is held across the fork, so the child finds it
// whole.
std::vector<std::shared_ptr<LockObject>>& objects_being_forked() {
  static auto* objects = new std::vector<std::shared_ptr<LockObject>>;
  return *objects;
}
void prepare_marks_for_fork() {
  registry_mutex.lock();
  for (auto& [name, weak] : registry()) {
    std::shared_ptr<LockObject> object = weak.lock();
    if (!object || !object->prepare_child_mark()) continue;
    try {
      objects_being_forked().push_back(object);
    } catch (const std::bad_alloc&) {
      object->drop_child_mark();  // the child shares the parent's mark
    }
  }
}
void drop_child_marks_in_parent() {
  for (const auto& object : objects_being_forked()) object->drop_child_mark();
  objects_being_forked().clear();
  registry_mutex.unlock();
}
void adopt_marks_in_child() {
  for (const auto& object : objects_being_forked()) object->adopt_child_mark();
  objects_being_forked().clear();
  registry_mutex.unlock();
}

}  // namespace

std::string lock_object_name(const std::string& db_path) { return name_of(stat_database(db_path)); }

std::string lock_object_name_prefix() {
  return "pyrate-lock-v" + std::to_string(kLockLayoutVersion) + "-";
}

Removal remove_lock_object_if_unused(const std::string& name) {
  const std::string what = "interprocess lock " + object_file(name);
  const int fd = ::open(object_file(name).c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return Removal::kAbsent;
    if (errno == EACCES || errno == EPERM) return Removal::kNotPermitted;
    throw StorageError(what + ": cannot open it: " + errno_text(errno));
  }
  try {
    const Removal removal = remove_if_only_user(fd, name, what);
    ::close(fd);
    return removal;
  } catch (...) {
    ::close(fd);
    throw;
  }
}

std::shared_ptr<LockObject> LockObject::open(const std::string& db_path) {
  static const int fork_handlers =
      pthread_atfork(prepare_marks_for_fork, drop_child_marks_in_parent, adopt_marks_in_child);
  if (fork_handlers != 0) {
    throw StorageError("interprocess lock for '" + db_path +
                       "': pthread_atfork failed: " + errno_text(fork_handlers));
  }

  release_kept_mappings_no_longer_held();
  const struct stat database = stat_database(db_path);
  std::string name = name_of(database);
  const std::lock_guard lock(registry_mutex);
  auto& mapped = registry();
  const auto found = mapped.find(name);
  if (found != mapped.end()) {
    if (std::shared_ptr<LockObject> object = found->second.lock()) return object;
  }
  auto object = std::make_shared<LockObject>(db_path, database, name);
  std::erase_if(mapped, [](const auto& named) { return named.second.expired(); });
  mapped[name] = object;
  return object;
}

LockObject::~LockObject() {
  if (block_ == nullptr) return;
  switch (pthread_mutex_trylock(&block_->mutex)) {
    case EOWNERDEAD:
      pthread_mutex_consistent(&block_->mutex);
      pthread_mutex_unlock(&block_->mutex);
      break;
    case 0:
    case EDEADLK:
      pthread_mutex_unlock(&block_->mutex);
      break;
    default:
      if (held_in_this_process(block_->mutex)) {
        const std::lock_guard lock(kept_mutex);
        kept_mappings().push_back(
            KeptMapping{name_, marked_by_, std::move(object_), std::move(region_)});
        return;
      }
  }
  region_ = bip::mapped_region();
  release_kept_mappings_no_longer_held();
  if (marked_by_ != ::getpid()) return;
  try {
    remove_if_only_user(object_.get_mapping_handle().handle, name_,
                        "interprocess lock " + object_file(name_));
  } catch (...) {
    // Left for the next last user, or `pyrate gc`: a lock object is never needed for safety.
  }
}

bool LockObject::prepare_child_mark() {
  const int fd = object_.get_mapping_handle().handle;
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  child_mark_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (child_mark_ < 0) return false;
  struct flock mark {};
  mark.l_type = F_RDLCK;
  mark.l_whence = SEEK_SET;
  mark.l_start = 0;
  mark.l_len = 1;
  if (::fcntl(child_mark_, F_OFD_SETLK, &mark) != 0) {
    drop_child_mark();
    return false;
  }
  return true;
}

void LockObject::drop_child_mark() noexcept {
  ::close(child_mark_);
  child_mark_ = -1;
}

void LockObject::adopt_child_mark() noexcept {
  const int inherited = object_.get_mapping_handle().handle;
  if (::dup2(child_mark_, inherited) == inherited) marked_by_ = ::getpid();
  drop_child_mark();
}

LockObject::LockObject(const std::string& db_path, const struct stat& database, std::string name)
    : name_(std::move(name)) {
  const std::string what = "interprocess lock " + object_file(name_) + " of '" + db_path + "'";
  constexpr auto kBlockSize = static_cast<off_t>(sizeof(SharedLockBlock));
  try {
    int fd = -1;
    do {
      object_ = bip::shared_memory_object(bip::open_or_create, name_.c_str(), bip::read_write,
                                          bip::permissions(database.st_mode & 0666));
      fd = object_.get_mapping_handle().handle;
      set_use_mark(fd, F_RDLCK, true, what);
    } while (removed_since_opened(fd, what));
    marked_by_ = ::getpid();

    // Fast path: a ready object is never written again, so it can be used without the flock.
    if (object_size(fd, what) >= kBlockSize) {
      region_ = bip::mapped_region(object_, bip::read_write, 0, sizeof(SharedLockBlock));
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
      object_.truncate(kBlockSize);
    } else if (size < kBlockSize) {
      throw StorageError(what + ": the object has " + std::to_string(size) + " bytes, expected " +
                         std::to_string(kBlockSize) + "; refusing to reuse it");
    }
    if (block_ == nullptr) {
      region_ = bip::mapped_region(object_, bip::read_write, 0, sizeof(SharedLockBlock));
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
