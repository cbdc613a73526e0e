#include <unistd.h>

#include <string>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "gate.hpp"

namespace pyrate::cli {

int run_acquire(const CommandLine& line) {
  const std::string item_name = "acquire pid " + std::to_string(::getpid());
  return pass_gate(line, item_name) == Admission::kAdmitted ? kExitAdmitted : kExitRefused;
}

}  // namespace pyrate::cli
