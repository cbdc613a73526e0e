// The text of `pyrate --help` and `pyrate SUBCOMMAND --help`.
#pragma once

#include <optional>
#include <string_view>

#include "command_line.hpp"

namespace pyrate::cli {

// The help for `subcommand`, or the general help when none.
std::string_view help_text(std::optional<Subcommand> subcommand);

}  // namespace pyrate::cli
