// The pyrate command: a rate-limit gate for scripts and worker pools.
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "command_line.hpp"
#include "commands.hpp"
#include "exit_codes.hpp"
#include "help_text.hpp"
#include "pyrate/version.hpp"

namespace {

using pyrate::cli::CommandLine;
using pyrate::cli::Subcommand;

// Reports an error in exactly one line on stderr and returns the error exit status.
int report_error(std::string_view message) {
  std::string line(message);
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::cerr << "pyrate: " << line << '\n';
  return pyrate::cli::kExitError;
}

int run(const CommandLine& line) {
  switch (*line.subcommand) {
    case Subcommand::kAcquire:
      return pyrate::cli::run_acquire(line);
    case Subcommand::kExec:
      return pyrate::cli::run_exec(line);
    case Subcommand::kStatus:
      return pyrate::cli::run_status(line);
    case Subcommand::kFlush:
      return pyrate::cli::run_flush(line);
    case Subcommand::kLeak:
      return pyrate::cli::run_leak(line);
    case Subcommand::kGc:
      return pyrate::cli::run_gc(line);
    case Subcommand::kDemo:
      return pyrate::cli::run_demo(line);
  }
  return pyrate::cli::kExitError;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<std::string_view> arguments(argv + 1, argv + argc);
    const CommandLine line = pyrate::cli::parse_command_line(arguments);
    switch (line.action) {
      case CommandLine::Action::kShowHelp:
        std::cout << pyrate::cli::help_text(line.subcommand);
        return pyrate::cli::kExitAdmitted;
      case CommandLine::Action::kShowVersion:
        std::cout << "pyrate " << PYRATE_VERSION_STRING << '\n';
        return pyrate::cli::kExitAdmitted;
      case CommandLine::Action::kRun:
        return run(line);
    }
    return pyrate::cli::kExitError;
  } catch (const std::exception& error) {
    return report_error(error.what());
  } catch (...) {
    return report_error("unexpected error");
  }
}
