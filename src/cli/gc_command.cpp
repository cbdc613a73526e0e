#include <iostream>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "pyrate/interprocess_lock.hpp"

namespace pyrate::cli {
namespace {

std::string objects(std::size_t count) {
  return std::to_string(count) + (count == 1 ? " lock object" : " lock objects");
}

}  // namespace

int run_gc(const CommandLine&) {
  const InterprocessLock::Sweep sweep = InterprocessLock::remove_unused();
  std::cout << "removed " << objects(sweep.removed) << " that no process used; kept "
            << sweep.in_use << " in use";
  if (sweep.not_permitted > 0) {
    std::cout << " and " << sweep.not_permitted << " this user may not remove";
  }
  std::cout << '\n';
  return kExitAdmitted;
}

}  // namespace pyrate::cli
