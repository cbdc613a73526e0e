// Admission for the acquire and exec subcommands: take a bucket's slots or explain why not.
#pragma once

#include <string>

#include "command_line.hpp"
#include "pyrate/decision.hpp"

namespace pyrate::cli {

// Leaks the expired slots of the bucket `line` names in the store `line` locates (a file,
// created with the default location's directories on first use, or a Redis server; see
// open_bucket_store), then takes `line.weight` slots from it, stamped with `item_name`, with a
// file's interprocess lock held. Waits as
// `line` asks (--no-wait, --timeout). Returns the bucket's last decision. When refused, prints
// one line on stderr naming the rate and the wait ("pyrate: refused by 5/s; retry after
// 340 ms"). A weight that no rate can ever hold is refused before the database is touched:
// the decision names that rate as failing_rate, retry_after -1 and no tightest_rate.
// Throws UsageError or pyrate::StorageError (from the library) on failure.
Decision pass_gate(const CommandLine& line, const std::string& item_name);

// The exit status for `decision`: kExitAdmitted, else line.conflict_exit_code.
int gate_exit_status(const CommandLine& line, const Decision& decision);

}  // namespace pyrate::cli
