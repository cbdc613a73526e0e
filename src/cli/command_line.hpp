// The pyrate command line: which subcommand to run and with what.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "exit_codes.hpp"
#include "pyrate/rate.hpp"

namespace pyrate::cli {

enum class Subcommand { kAcquire, kExec, kStatus, kFlush, kLeak, kGc, kDemo };

// The subcommand's name as typed on the command line ("acquire").
std::string_view subcommand_name(Subcommand subcommand);

// The bucket used when --bucket is not given.
inline constexpr std::string_view kDefaultBucket = "default";

// One parsed invocation. Values the subcommand does not accept are left at their defaults.
struct CommandLine {
  enum class Action { kRun, kShowHelp, kShowVersion };

  Action action = Action::kRun;
  // The subcommand to run, or whose help to show (none: the general help).
  std::optional<Subcommand> subcommand;

  std::optional<std::string> db;                     // --db
  std::optional<std::string> bucket;                 // --bucket
  std::vector<Rate> rates;                           // --rate, sorted by interval and validated
  std::int64_t weight = 1;                           // --weight
  bool no_wait = false;                              // --no-wait
  std::optional<std::chrono::milliseconds> timeout;  // --timeout
  bool json = false;                                 // acquire and status --json
  std::optional<std::int64_t> top;                   // status --top: the N fullest buckets
  int conflict_exit_code = kExitRefused;             // -E, --conflict-exit-code
  std::vector<std::string> command;                  // exec: the words after --

  // The bucket named by --bucket, else kDefaultBucket.
  std::string bucket_or_default() const;
};

// Parses the arguments after the program name. --help or -h anywhere before `--` asks for the
// subcommand's help, except as the value of an option (`--bucket -h` names the bucket "-h"). Throws
// UsageError naming the problem: a missing or unknown subcommand, an option the subcommand does not
// take, a missing or malformed value, an option given twice, an invalid rate list, --no-wait with
// --timeout, or exec without a command.
CommandLine parse_command_line(const std::vector<std::string_view>& arguments);

}  // namespace pyrate::cli
