#include "command_line.hpp"

#include <array>
#include <string>
#include <type_traits>

#include "exit_codes.hpp"
#include "spec_parser.hpp"

namespace pyrate::cli {
namespace {

// The options a subcommand takes, as bits.
enum OptionBit : unsigned {
  kDbOption = 1u << 0,
  kBucketOption = 1u << 1,
  kRateOption = 1u << 2,
  kWeightOption = 1u << 3,
  kNoWaitOption = 1u << 4,
  kTimeoutOption = 1u << 5,
  kJsonOption = 1u << 6,
  kConflictExitCodeOption = 1u << 7,
  kTopOption = 1u << 8,
};

constexpr unsigned kGateOptions = kDbOption | kBucketOption | kRateOption | kWeightOption |
                                  kNoWaitOption | kTimeoutOption | kConflictExitCodeOption;

struct OptionInfo {
  std::string_view name;  // without the leading "--"
  OptionBit bit;
  std::string_view value;  // what the value looks like; empty for a flag
  char short_name = 0;     // the one-letter form, as in "-E N", if any
};

constexpr std::array<OptionInfo, 9> kOptions{{
    {"db", kDbOption, "PATH"},
    {"bucket", kBucketOption, "NAME"},
    {"rate", kRateOption, "SPEC, e.g. 5/s"},
    {"weight", kWeightOption, "N"},
    {"no-wait", kNoWaitOption, ""},
    {"timeout", kTimeoutOption, "DURATION, e.g. 5s"},
    {"json", kJsonOption, ""},
    {"conflict-exit-code", kConflictExitCodeOption, "N, 0 to 255", 'E'},
    {"top", kTopOption, "N"},
}};

struct SubcommandInfo {
  Subcommand subcommand;
  std::string_view name;
  unsigned options;
};

constexpr std::array<SubcommandInfo, 7> kSubcommands{{
    {Subcommand::kAcquire, "acquire", kGateOptions | kJsonOption},
    {Subcommand::kExec, "exec", kGateOptions},
    {Subcommand::kStatus, "status", kDbOption | kBucketOption | kJsonOption | kTopOption},
    {Subcommand::kFlush, "flush", kDbOption | kBucketOption},
    {Subcommand::kLeak, "leak", kDbOption | kBucketOption},
    {Subcommand::kGc, "gc", 0},
    {Subcommand::kDemo, "demo", 0},
}};

const SubcommandInfo* find_subcommand(std::string_view name) {
  for (const SubcommandInfo& info : kSubcommands) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

const OptionInfo* find_option(std::string_view name) {
  for (const OptionInfo& info : kOptions) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

const OptionInfo* find_short_option(char letter) {
  for (const OptionInfo& info : kOptions) {
    if (info.short_name != 0 && info.short_name == letter) return &info;
  }
  return nullptr;
}

bool is_help_flag(std::string_view argument) { return argument == "--help" || argument == "-h"; }

// Parses the arguments that follow one subcommand's name.
class SubcommandParser {
 public:
  SubcommandParser(const SubcommandInfo& info, const std::vector<std::string_view>& arguments)
      : info_(info), arguments_(arguments) {}

  CommandLine parse() {
    CommandLine line;
    line.subcommand = info_.subcommand;
    if (asks_for_help()) {
      line.action = CommandLine::Action::kShowHelp;
      return line;
    }
    std::vector<Rate> rates;
    for (next_ = 0; next_ < arguments_.size();) {
      const std::string_view argument = arguments_[next_++];
      if (argument == "--") {
        if (info_.subcommand != Subcommand::kExec) fail("'--' is only for exec");
        line.command.assign(arguments_.begin() + static_cast<std::ptrdiff_t>(next_),
                            arguments_.end());
        break;
      }
      if (argument.size() > 1 && argument.front() == '-') {
        apply_option(argument, line, rates);
        continue;
      }
      if (info_.subcommand == Subcommand::kExec) {
        fail("the command goes after '--': pyrate exec [OPTIONS] -- COMMAND [ARGS...]");
      }
      fail("unexpected argument " + quoted(argument));
    }
    finish(line, std::move(rates));
    return line;
  }

 private:
  // Whether --help or -h stands where an option may, before `--`: then the help is shown
  // whatever else the line holds. As the value of an option ("--bucket -h") it is that value.
  bool asks_for_help() const {
    for (std::size_t i = 0; i < arguments_.size(); ++i) {
      const std::string_view argument = arguments_[i];
      if (argument == "--") return false;
      if (is_help_flag(argument)) return true;
      if (takes_next_argument(argument)) ++i;
    }
    return false;
  }

  // Whether `argument` is an option of this subcommand whose value is the next argument:
  // "--name" or "-X" without an inline value, for an option that takes one.
  bool takes_next_argument(std::string_view argument) const {
    const OptionInfo* option = nullptr;
    if (argument.starts_with("--")) {
      option = find_option(argument.substr(2));
    } else if (argument.size() == 2 && argument.front() == '-') {
      option = find_short_option(argument[1]);
    }
    return option != nullptr && (info_.options & option->bit) != 0 && !option->value.empty();
  }

  [[noreturn]] void fail(const std::string& problem) const {
    throw UsageError(std::string(info_.name) + ": " + problem);
  }

  // Applies "--name", "--name=VALUE", "--name VALUE", "-X VALUE" or "-XVALUE".
  void apply_option(std::string_view argument, CommandLine& line, std::vector<Rate>& rates) {
    const bool is_long = argument.substr(0, 2) == "--";
    const OptionInfo* option = nullptr;
    std::string_view inline_value;
    bool has_inline_value = false;
    if (is_long) {
      const std::string_view body = argument.substr(2);
      const std::size_t equals = body.find('=');
      option = find_option(body.substr(0, equals));
      if (option == nullptr || (info_.options & option->bit) == 0) {
        fail("unknown option " + quoted("--" + std::string(body.substr(0, equals))) + see_help());
      }
      has_inline_value = equals != std::string_view::npos;
      if (has_inline_value) inline_value = body.substr(equals + 1);
    } else {
      option = find_short_option(argument[1]);
      if (option == nullptr || (info_.options & option->bit) == 0) {
        fail("unknown option " + quoted(argument.substr(0, 2)) + see_help());
      }
      has_inline_value = argument.size() > 2;
      if (has_inline_value) inline_value = argument.substr(2);
    }
    const std::string name(option->name);
    if (option->bit != kRateOption && (seen_ & option->bit) != 0) {
      fail("--" + name + " given twice");
    }
    seen_ |= option->bit;

    if (option->value.empty()) {
      if (has_inline_value) fail("--" + name + " takes no value");
      if (option->bit == kNoWaitOption) line.no_wait = true;
      if (option->bit == kJsonOption) line.json = true;
      return;
    }
    std::string_view value;
    if (has_inline_value) {
      value = inline_value;
    } else if (next_ < arguments_.size()) {
      value = arguments_[next_++];
    } else {
      fail("--" + name + " needs a value (" + std::string(option->value) + ")");
    }
    apply_value(*option, value, line, rates);
  }

  void apply_value(const OptionInfo& option, std::string_view value, CommandLine& line,
                   std::vector<Rate>& rates) const {
    switch (option.bit) {
      case kDbOption:
        if (value.empty()) fail("--db must not be empty");
        line.db = std::string(value);
        break;
      case kBucketOption:
        if (value.empty()) fail("--bucket must not be empty");
        line.bucket = std::string(value);
        break;
      case kRateOption:
        rates.push_back(in_context([&] { return parse_rate_spec(value); }));
        break;
      case kWeightOption:
        line.weight = in_context([&] { return parse_positive_count(value, "--weight"); });
        break;
      case kTimeoutOption:
        line.timeout = in_context([&] { return parse_duration(value, "--timeout"); });
        break;
      case kTopOption:
        line.top = in_context([&] { return parse_positive_count(value, "--top"); });
        break;
      case kConflictExitCodeOption:
        line.conflict_exit_code =
            in_context([&] { return parse_exit_status(value, "--conflict-exit-code"); });
        break;
      default:
        break;
    }
  }

  // Runs `parse`, prefixing the subcommand's name to the UsageError it may throw.
  template <class Parse>
  std::invoke_result_t<Parse> in_context(Parse parse) const {
    try {
      return parse();
    } catch (const UsageError& error) {
      fail(error.what());
    }
  }

  void finish(CommandLine& line, std::vector<Rate> rates) const {
    if ((info_.options & kRateOption) == 0) return;
    if (rates.empty()) fail("at least one --rate SPEC is required (e.g. --rate 5/s)");
    line.rates = in_context([&] { return sorted_rate_list(std::move(rates)); });
    if (line.no_wait && line.timeout) fail("--no-wait and --timeout cannot be used together");
    if (info_.subcommand == Subcommand::kExec && line.command.empty()) {
      fail("missing COMMAND: pyrate exec [OPTIONS] -- COMMAND [ARGS...]");
    }
  }

  std::string see_help() const { return " (see pyrate " + std::string(info_.name) + " --help)"; }

  const SubcommandInfo& info_;
  const std::vector<std::string_view>& arguments_;
  std::size_t next_ = 0;
  unsigned seen_ = 0;
};

std::string subcommand_list() {
  std::string list;
  for (const SubcommandInfo& info : kSubcommands) {
    list += (list.empty() ? "" : ", ") + std::string(info.name);
  }
  return list;
}

}  // namespace

std::string_view subcommand_name(Subcommand subcommand) {
  for (const SubcommandInfo& info : kSubcommands) {
    if (info.subcommand == subcommand) return info.name;
  }
  return "?";
}

std::string CommandLine::bucket_or_default() const {
  return bucket ? *bucket : std::string(kDefaultBucket);
}

CommandLine parse_command_line(const std::vector<std::string_view>& arguments) {
  CommandLine line;
  if (arguments.empty()) {
    throw UsageError("missing subcommand (" + subcommand_list() + "); see pyrate --help");
  }
  const std::string_view first = arguments.front();
  const std::vector<std::string_view> rest(arguments.begin() + 1, arguments.end());
  if (is_help_flag(first) || first == "help") {
    line.action = CommandLine::Action::kShowHelp;
    if (rest.size() > 1) throw UsageError("help takes at most one subcommand name");
    if (!rest.empty()) {
      const SubcommandInfo* info = find_subcommand(rest.front());
      if (info == nullptr) throw UsageError("no help for unknown subcommand " + quoted(rest[0]));
      line.subcommand = info->subcommand;
    }
    return line;
  }
  if (first == "--version" || first == "-V") {
    if (!rest.empty()) throw UsageError("--version takes no arguments");
    line.action = CommandLine::Action::kShowVersion;
    return line;
  }
  if (first.size() > 1 && first.front() == '-') {
    throw UsageError("unknown option " + quoted(first) +
                     " before the subcommand (see pyrate --help)");
  }
  const SubcommandInfo* info = find_subcommand(first);
  if (info == nullptr) {
    throw UsageError("unknown subcommand " + quoted(first) + " (" + subcommand_list() + ")");
  }
  return SubcommandParser(*info, rest).parse();
}

}  // namespace pyrate::cli
