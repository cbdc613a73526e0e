#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "gate.hpp"

namespace pyrate::cli {
namespace {

enum class Lookup { kFound, kNotExecutable, kNotFound };

Lookup check_file(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0 || S_ISDIR(info.st_mode)) return Lookup::kNotFound;
  return ::access(path.c_str(), X_OK) == 0 ? Lookup::kFound : Lookup::kNotExecutable;
}

// Finds `name` as execvp would: as a path when it holds a '/', else in each directory of
// $PATH (an empty entry is the current directory; unset means /bin:/usr/bin).
Lookup look_up_command(const std::string& name) {
  if (name.empty()) return Lookup::kNotFound;
  if (name.find('/') != std::string::npos) return check_file(name);
  const char* path_variable = std::getenv("PATH");
  const std::string search_path = path_variable != nullptr ? path_variable : "/bin:/usr/bin";
  Lookup best = Lookup::kNotFound;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = search_path.find(':', start);
    const std::string directory = search_path.substr(start, end - start);
    const Lookup found = check_file((directory.empty() ? "." : directory) + "/" + name);
    if (found == Lookup::kFound) return found;
    if (found == Lookup::kNotExecutable) best = found;
    if (end == std::string::npos) return best;
    start = end + 1;
  }
}

int report_cannot_run(const std::string& name, int error) {
  std::cerr << "pyrate: exec: " << name << ": "
            << (error == ENOENT ? "command not found" : std::strerror(error)) << '\n';
  return error == ENOENT ? kExitNotFound : kExitCannotRun;
}

}  // namespace

int run_exec(const CommandLine& line) {
  const std::string& name = line.command.front();
  switch (look_up_command(name)) {
    case Lookup::kNotFound:
      return report_cannot_run(name, ENOENT);
    case Lookup::kNotExecutable:
      return report_cannot_run(name, EACCES);
    case Lookup::kFound:
      break;
  }
  const Decision decision = pass_gate(line, "exec " + name);
  if (!decision.admitted) return gate_exit_status(line, decision);

  std::vector<char*> argv;
  for (const std::string& word : line.command) argv.push_back(const_cast<char*>(word.c_str()));
  argv.push_back(nullptr);
  std::cout.flush();
  ::execvp(argv.front(), argv.data());
  return report_cannot_run(name, errno);
}

}  // namespace pyrate::cli
