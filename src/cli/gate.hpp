// Admission for the acquire and exec subcommands: take a bucket's slots or explain why not.
#pragma once

#include <string>

#include "command_line.hpp"

namespace pyrate::cli {

enum class Admission { kAdmitted, kRefused };

// Leaks the expired slots of the bucket `line` names in the database `line` locates (creating
// the default location's directories and the file on first use), then takes `line.weight`
// slots from it, stamped with `item_name`, with the interprocess lock held. Waits as
// `line` asks (--no-wait, --timeout). When refused, prints the reason in one line on stderr;
// a weight that no rate can ever hold is refused before the database is touched.
// Throws UsageError or pyrate::StorageError (from the library) on failure.
Admission pass_gate(const CommandLine& line, const std::string& item_name);

}  // namespace pyrate::cli
