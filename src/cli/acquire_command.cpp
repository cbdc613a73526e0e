#include <unistd.h>

#include <iostream>
#include <string>

#include "commands.hpp"
#include "decision_json.hpp"
#include "gate.hpp"

namespace pyrate::cli {

int run_acquire(const CommandLine& line) {
  const std::string item_name = "acquire pid " + std::to_string(::getpid());
  const Decision decision = pass_gate(line, item_name);
  if (line.json) std::cout << decision_json(decision) << '\n';
  return gate_exit_status(line, decision);
}

}  // namespace pyrate::cli
