// What the pyrate command's exit status means, and the error that ends it with a usage message.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "core/shown_name.hpp"

namespace pyrate::cli {

// The exit statuses of the pyrate command. `exec` otherwise exits with its command's status.
enum ExitCode : int {
  kExitAdmitted = 0,     // admitted (or a subcommand that is not a gate succeeded)
  kExitRefused = 1,      // refused, timed out, or a weight no rate can ever hold
  kExitError = 2,        // a usage or storage error, reported in one line on stderr
  kExitCannotRun = 126,  // exec: the command exists but is not executable
  kExitNotFound = 127,   // exec: the command cannot be found
};

// A command line that cannot be run as given. The message names the problem in one line.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// `text` as a usage message shows what was typed: 'text', shortened as core::shown_name says
// when it is longer than 64 bytes.
inline std::string quoted(std::string_view text) {
  return core::shown_name(text,
                          [](std::string_view kept) { return "'" + std::string(kept) + "'"; });
}

}  // namespace pyrate::cli
