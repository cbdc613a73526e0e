// The pyrate subcommands. Each returns the process's exit status (see ExitCode) and throws
// UsageError or the library's exceptions on failure, which main() reports in one line.
#pragma once

#include "command_line.hpp"

namespace pyrate::cli {

// Takes slots; exits 0 when admitted, line.conflict_exit_code (default 1) when refused; with
// --json, prints the decision on stdout either way.
int run_acquire(const CommandLine& line);
// Takes slots, then replaces the process with line.command. Returns only when it cannot:
// line.conflict_exit_code when refused, 126 or 127 when the command cannot be run (checked before
// any slot is taken).
int run_exec(const CommandLine& line);
// Prints each bucket's use, as text or JSON.
int run_status(const CommandLine& line);
// Removes every slot of one bucket.
int run_flush(const CommandLine& line);
// Removes the expired slots of every bucket, or of one.
int run_leak(const CommandLine& line);
// Removes the lock objects in /dev/shm that no process uses.
int run_gc(const CommandLine& line);
// Shows worker processes sharing one limit, across a restart.
int run_demo(const CommandLine& line);

}  // namespace pyrate::cli
