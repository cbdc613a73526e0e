#include "scratch/temporary_directory.hpp"

#include <stdlib.h>

#include <cerrno>
#include <system_error>

#include "pyrate/interprocess_lock.hpp"

namespace pyrate {

namespace fs = std::filesystem;

TemporaryDirectory::TemporaryDirectory(std::string_view prefix) {
  const std::string pattern = (fs::temp_directory_path() / prefix).string() + "-XXXXXX";
  std::string name = pattern;  // mkdtemp replaces the X's, even when it fails
  if (::mkdtemp(name.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(),
                            "cannot create a temporary directory from " + pattern);
  }
  path_ = name;
}

TemporaryDirectory::~TemporaryDirectory() {
  std::error_code ignored;
  fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ignored);
  try {
    // Symbolic links are not followed: what they point to may be outside the directory.
    std::error_code listing;
    fs::recursive_directory_iterator entry(path_, fs::directory_options::skip_permission_denied,
                                           listing);
    for (; !listing && entry != fs::recursive_directory_iterator(); entry.increment(listing)) {
      if (entry->symlink_status(ignored).type() != fs::file_type::regular) continue;
      try {
        InterprocessLock::remove(entry->path().string());
      } catch (...) {
        // Removed meanwhile, or its lock object cannot be named: nothing to remove.
      }
    }
  } catch (...) {
    // Out of memory while listing: the lock objects not reached are left.
  }
  fs::remove_all(path_, ignored);
}

std::string TemporaryDirectory::file(std::string_view name) const {
  return (path_ / name).string();
}

}  // namespace pyrate
