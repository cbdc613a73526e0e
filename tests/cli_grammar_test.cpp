// The pyrate command's grammar and arithmetic, checked without running the binary: rate SPECs,
// DURATIONs, the command line, how spans and rates are written back, JSON output and the
// demo's busiest-window count.
#include <catch2/catch.hpp>
#include <pyrate/pyrate.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "cli/admission_windows.hpp"
#include "cli/command_line.hpp"
#include "cli/decision_json.hpp"
#include "cli/exit_codes.hpp"
#include "cli/json_string.hpp"
#include "cli/spec_parser.hpp"
#include "core/rate_spec.hpp"

using Catch::Matchers::Contains;
using pyrate::Rate;
using pyrate::cli::CommandLine;
using pyrate::cli::parse_command_line;
using pyrate::cli::parse_duration;
using pyrate::cli::parse_rate_spec;
using pyrate::cli::UsageError;

namespace {

CommandLine parse(std::vector<std::string_view> arguments) { return parse_command_line(arguments); }

}  // namespace

TEST_CASE("a rate SPEC is LIMIT/[N]UNIT in ms, s, min, h, day or week") {
  CHECK(parse_rate_spec("5/s") == Rate(5, 1000));
  CHECK(parse_rate_spec("10/2s") == Rate(10, 2000));
  CHECK(parse_rate_spec("3/250ms") == Rate(3, 250));
  CHECK(parse_rate_spec("100/min") == Rate(100, 60'000));
  CHECK(parse_rate_spec("7/3h") == Rate(7, 3 * 3'600'000));
  CHECK(parse_rate_spec("500/day") == Rate(500, 86'400'000));
  CHECK(parse_rate_spec("1000/2week") == Rate(1000, 2 * 604'800'000LL));
}

TEST_CASE("a malformed rate SPEC is a usage error that names the problem") {
  CHECK_THROWS_WITH(parse_rate_spec("0/s"),
                    Contains("'0/s'") && Contains("LIMIT must be positive"));
  CHECK_THROWS_WITH(parse_rate_spec("-3/s"), Contains("LIMIT must be positive"));
  CHECK_THROWS_WITH(parse_rate_spec("5/"), Contains("'5/'") && Contains("missing interval"));
  CHECK_THROWS_WITH(parse_rate_spec("abc"), Contains("'abc'") && Contains("LIMIT/[N]UNIT"));
  CHECK_THROWS_WITH(parse_rate_spec("5/-1s"), Contains("'5/-1s'") && Contains("positive"));
  CHECK_THROWS_WITH(parse_rate_spec("5/0s"), Contains("positive"));
  CHECK_THROWS_WITH(parse_rate_spec("/s"), Contains("missing LIMIT"));
  CHECK_THROWS_WITH(parse_rate_spec("x/s"), Contains("not a whole number"));
  CHECK_THROWS_WITH(parse_rate_spec("5/2x"), Contains("unknown unit 'x'"));
  CHECK_THROWS_WITH(parse_rate_spec("5/2"), Contains("missing unit"));
  CHECK_THROWS_WITH(parse_rate_spec("5/sec"), Contains("unknown unit 'sec'"));
  CHECK_THROWS_WITH(parse_rate_spec("5/1.5s"), Contains("unknown unit '.5s'"));
  CHECK_THROWS_WITH(parse_rate_spec("99999999999999999999/s"), Contains("too large"));
  CHECK_THROWS_WITH(parse_rate_spec("5/99999999999week"), Contains("too long"));
  CHECK_THROWS_AS(parse_rate_spec(" 5/s"), UsageError);
}

TEST_CASE("rates are sorted by interval, then validated as a list") {
  CHECK(pyrate::cli::sorted_rate_list({Rate(100, 60'000), Rate(5, 1000)}) ==
        std::vector<Rate>{Rate(5, 1000), Rate(100, 60'000)});
  CHECK_THROWS_WITH(pyrate::cli::sorted_rate_list({Rate(10, 1000), Rate(5, 60'000)}),
                    Contains("invalid rate list") && Contains("larger limit"));
  CHECK_THROWS_WITH(pyrate::cli::sorted_rate_list({Rate(10, 1000), Rate(100, 2000)}),
                    Contains("higher rate"));
  CHECK_THROWS_WITH(pyrate::cli::sorted_rate_list({Rate(10, 1000), Rate(20, 1000)}),
                    Contains("same interval"));
}

TEST_CASE("a DURATION is N[UNIT], a bare number is seconds, rounded up to milliseconds") {
  using std::chrono::milliseconds;
  CHECK(parse_duration("300ms", "--timeout") == milliseconds(300));
  CHECK(parse_duration("5s", "--timeout") == milliseconds(5000));
  CHECK(parse_duration("2min", "--timeout") == milliseconds(120'000));
  CHECK(parse_duration("3", "--timeout") == milliseconds(3000));
  CHECK(parse_duration("0", "--timeout") == milliseconds(0));
  CHECK(parse_duration("0.5", "--timeout") == milliseconds(500));
  CHECK(parse_duration("1.5h", "--timeout") == milliseconds(5'400'000));
  CHECK(parse_duration("0.0001s", "--timeout") == milliseconds(1));
  CHECK(parse_duration(".25s", "--timeout") == milliseconds(250));
}

TEST_CASE("a malformed DURATION is a usage error that names the problem") {
  CHECK_THROWS_WITH(parse_duration("-1", "--timeout"),
                    Contains("--timeout '-1'") && Contains("negative"));
  CHECK_THROWS_WITH(parse_duration("3x", "--timeout"), Contains("unknown unit 'x'"));
  CHECK_THROWS_WITH(parse_duration("", "--timeout"), Contains("empty"));
  CHECK_THROWS_WITH(parse_duration("s", "--timeout"), Contains("N[UNIT]"));
  CHECK_THROWS_WITH(parse_duration("1.2.3s", "--timeout"), Contains("unknown unit"));
  CHECK_THROWS_WITH(parse_duration("99999week", "--timeout"), Contains("too long"));
}

TEST_CASE("acquire takes --db, --bucket, several --rate, --weight and --timeout") {
  const CommandLine line = parse({"acquire", "--db", "x.db", "--bucket=api", "--rate", "100/min",
                                  "--rate=5/s", "--weight", "3", "--timeout", "2s"});
  CHECK(line.action == CommandLine::Action::kRun);
  CHECK(line.subcommand == pyrate::cli::Subcommand::kAcquire);
  CHECK(line.db == "x.db");
  CHECK(line.bucket_or_default() == "api");
  CHECK(line.rates == std::vector<Rate>{Rate(5, 1000), Rate(100, 60'000)});
  CHECK(line.weight == 3);
  CHECK(line.timeout == std::chrono::milliseconds(2000));
  CHECK_FALSE(line.no_wait);
}

TEST_CASE("the default bucket is named default and the default weight is 1") {
  const CommandLine line = parse({"acquire", "--rate", "5/s", "--no-wait"});
  CHECK(line.bucket_or_default() == "default");
  CHECK(line.weight == 1);
  CHECK(line.no_wait);
  CHECK_FALSE(line.timeout);
}

TEST_CASE("exec takes the words after -- as its command, options included") {
  const CommandLine line =
      parse({"exec", "--rate", "5/s", "--", "grep", "--rate", "-v", "--", "x"});
  CHECK(line.command == std::vector<std::string>{"grep", "--rate", "-v", "--", "x"});
}

TEST_CASE("--help before -- asks for the subcommand's help whatever else is there") {
  CHECK(parse({"acquire", "--bogus", "--help"}).action == CommandLine::Action::kShowHelp);
  CHECK(parse({"status", "-h"}).subcommand == pyrate::cli::Subcommand::kStatus);
  CHECK(parse({"help", "exec"}).subcommand == pyrate::cli::Subcommand::kExec);
  CHECK_FALSE(parse({"--help"}).subcommand);
  CHECK(parse({"--version"}).action == CommandLine::Action::kShowVersion);
  CHECK(parse({"exec", "--rate", "5/s", "--", "ls", "--help"}).action == CommandLine::Action::kRun);
}

TEST_CASE("-h and --help as the value of an option are that value, not a request for help") {
  const CommandLine bucket = parse({"acquire", "--bucket", "-h", "--rate", "1/s"});
  CHECK(bucket.action == CommandLine::Action::kRun);
  CHECK(bucket.bucket == "-h");
  const CommandLine db = parse({"status", "--db", "--help"});
  CHECK(db.action == CommandLine::Action::kRun);
  CHECK(db.db == "--help");
  CHECK(parse({"leak", "--db", "-h", "--bucket", "--help"}).bucket == "--help");
  CHECK_THROWS_WITH(parse({"acquire", "-E", "-h"}), Contains("--conflict-exit-code"));
  CHECK(parse({"acquire", "--db=-h", "-h"}).action == CommandLine::Action::kShowHelp);
  CHECK(parse({"acquire", "--bucket", "-h", "--help"}).action == CommandLine::Action::kShowHelp);
  CHECK_THROWS_WITH(parse({"acquire", "--rate", "-h"}), Contains("rate '-h'"));
}

TEST_CASE("a usage message shortens a long argument to its first 64 bytes and its size") {
  const std::string stray(100'000, 'z');
  CHECK_THROWS_WITH(parse({"acquire", "--rate", "1/s", stray}),
                    "acquire: unexpected argument '" + std::string(64, 'z') +
                        "\u2026' (100000 bytes, 99936 cut)");
  CHECK(pyrate::cli::quoted(std::string(64, 'z')) == "'" + std::string(64, 'z') + "'");
  // A UTF-8 sequence is never split: 63 bytes, then a 2-byte sequence across byte 64.
  CHECK(pyrate::cli::quoted(std::string(63, 'z') + "\u00e9" + std::string(10, 'z')) ==
        "'" + std::string(63, 'z') + "\u2026' (75 bytes, 12 cut)");
}

TEST_CASE("a command line that cannot be run is a usage error naming the problem") {
  using Arguments = std::vector<std::string_view>;
  const std::vector<std::pair<Arguments, std::string>> cases{
      {{}, "missing subcommand"},
      {{"frob"}, "unknown subcommand 'frob'"},
      {{"--frob"}, "unknown option '--frob'"},
      {{"acquire"}, "--rate SPEC is required"},
      {{"acquire", "--rate", "5/s", "--bogus"}, "unknown option '--bogus'"},
      {{"acquire", "--rate", "5/s", "-x"}, "unknown option '-x'"},
      {{"acquire", "--rate"}, "--rate needs a value"},
      {{"acquire", "--rate", "5/s", "extra"}, "unexpected argument 'extra'"},
      {{"acquire", "--rate", "5/s", "--weight", "0"}, "--weight '0': must be positive"},
      {{"acquire", "--rate", "5/s", "--weight", "-2"}, "must be positive"},
      {{"acquire", "--rate", "5/s", "--weight", "two"}, "not a whole number"},
      {{"acquire", "--rate", "5/s", "--no-wait", "--timeout", "1s"}, "cannot be used together"},
      {{"acquire", "--rate", "5/s", "--no-wait=yes"}, "--no-wait takes no value"},
      {{"acquire", "--rate", "5/s", "--db", "a", "--db", "b"}, "--db given twice"},
      {{"acquire", "--rate", "5/s", "--db", ""}, "--db must not be empty"},
      {{"acquire", "--rate", "5/s", "--bucket="}, "--bucket must not be empty"},
      {{"acquire", "--rate", "10/s", "--rate", "5/min"}, "invalid rate list"},
      {{"acquire", "--rate", "5/s", "--", "ls"}, "'--' is only for exec"},
      {{"exec", "--rate", "5/s"}, "missing COMMAND"},
      {{"exec", "--rate", "5/s", "--"}, "missing COMMAND"},
      {{"exec", "--rate", "5/s", "ls"}, "the command goes after '--'"},
      {{"status", "--rate", "5/s"}, "unknown option '--rate'"},
      {{"flush", "--json"}, "unknown option '--json'"},
      {{"demo", "--db", "x"}, "unknown option '--db'"},
      {{"help", "frob"}, "unknown subcommand 'frob'"},
      {{"acquire", "--rate", "5/s", "-E"}, "--conflict-exit-code needs a value"},
      {{"acquire", "--rate", "5/s", "-E", "256"}, "not an exit status from 0 to 255"},
      {{"acquire", "--rate", "5/s", "-E", "1", "-E", "2"}, "--conflict-exit-code given twice"},
      {{"exec", "--rate", "5/s", "--json", "--", "ls"}, "unknown option '--json'"},
      {{"status", "-E", "3"}, "unknown option '-E'"},
  };
  for (const auto& [arguments, problem] : cases) {
    INFO("arguments: " << arguments.size());
    CHECK_THROWS_WITH(parse(arguments), Contains(problem));
  }
}

TEST_CASE("-E N and --conflict-exit-code N set the exit status of a refusal") {
  CHECK(parse({"acquire", "--rate", "5/s"}).conflict_exit_code == 1);
  CHECK(parse({"acquire", "--rate", "5/s", "-E", "75"}).conflict_exit_code == 75);
  CHECK(parse({"acquire", "--rate", "5/s", "-E0"}).conflict_exit_code == 0);
  CHECK(parse({"exec", "--conflict-exit-code=255", "--rate", "5/s", "--", "ls", "-E", "3"})
            .conflict_exit_code == 255);
}

TEST_CASE("a rate is written back as the SPEC that parses to it, in its widest unit") {
  using pyrate::rate_spec;
  CHECK(rate_spec(Rate(5, 1000)) == "5/s");
  CHECK(rate_spec(Rate(10, 2000)) == "10/2s");
  CHECK(rate_spec(Rate(3, 250)) == "3/250ms");
  CHECK(rate_spec(Rate(100, 60'000)) == "100/min");
  CHECK(rate_spec(Rate(90, 90'000)) == "90/90s");
  CHECK(rate_spec(Rate(500, 86'400'000)) == "500/day");
  CHECK(rate_spec(Rate(7, 2 * 604'800'000LL)) == "7/2week");
  for (const Rate rate : {Rate(1, 1), Rate(4, 1500), Rate(9, 7'200'000), Rate(2, 61'000)}) {
    CHECK(parse_rate_spec(rate_spec(rate)) == rate);
  }
}

TEST_CASE("a span is written in ms below a second, else one decimal rounded up") {
  using pyrate::cli::format_span;
  CHECK(format_span(0) == "0 ms");
  CHECK(format_span(340) == "340 ms");
  CHECK(format_span(999) == "999 ms");
  CHECK(format_span(1000) == "1.0 s");
  CHECK(format_span(1001) == "1.1 s");
  CHECK(format_span(59'700) == "59.7 s");
  CHECK(format_span(59'950) == "1.0 min");
  CHECK(format_span(90'000) == "1.5 min");
  CHECK(format_span(3'600'000) == "1.0 h");
  CHECK(format_span(3'598'800) == "1.0 h");
  CHECK(format_span(86'400'000) == "1.0 day");
  CHECK(format_span(1'209'600'000) == "2.0 week");
}

TEST_CASE("a decision is one line of JSON with every key, rates as SPECs or null") {
  using pyrate::cli::decision_json;
  pyrate::Decision refused;
  refused.failing_rate = Rate(5, 1000);
  refused.retry_after = 340;
  refused.tightest_rate = Rate(5, 1000);
  refused.reset_after = 340;
  CHECK(decision_json(refused) ==
        "{\"admitted\": false, \"retry_after_ms\": 340, \"remaining\": 0, \"reset_after_ms\": "
        "340, \"failing_rate\": \"5/s\", \"tightest_rate\": \"5/s\"}");
  pyrate::Decision admitted;
  admitted.admitted = true;
  admitted.tightest_rate = Rate(10, 2000);
  admitted.remaining = 9;
  admitted.reset_after = 2001;
  CHECK(decision_json(admitted) ==
        "{\"admitted\": true, \"retry_after_ms\": 0, \"remaining\": 9, \"reset_after_ms\": "
        "2001, \"failing_rate\": null, \"tightest_rate\": \"10/2s\"}");
}

TEST_CASE("a bucket name becomes a valid JSON string, whatever its bytes") {
  using pyrate::cli::json_string;
  CHECK(json_string("default") == "\"default\"");
  CHECK(json_string("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(json_string("line\nnext\ttab") == "\"line\\nnext\\ttab\"");
  CHECK(json_string(std::string_view("\x01\x7f", 2)) == "\"\\u0001\\u007f\"");
  CHECK(json_string(std::string_view("nul\0", 4)) == "\"nul\\u0000\"");
  CHECK(json_string("caf\xC3\xA9 \xE2\x82\xAC") == "\"caf\xC3\xA9 \xE2\x82\xAC\"");
  CHECK(json_string("bad\xFF") == "\"bad\xEF\xBF\xBD\"");
  CHECK(json_string("cut\xE2\x82") == "\"cut\xEF\xBF\xBD\xEF\xBF\xBD\"");
  CHECK(json_string("overlong\xC0\xAF") == "\"overlong\xEF\xBF\xBD\xEF\xBF\xBD\"");
}

TEST_CASE("the busiest window counts admissions in any half-open window") {
  using pyrate::cli::max_in_window;
  CHECK(max_in_window({}, 1000) == 0);
  CHECK(max_in_window({5}, 1000) == 1);
  CHECK(max_in_window({0, 999, 1000, 1999}, 1000) == 2);
  CHECK(max_in_window({0, 1, 2, 500, 999, 1001, 1002}, 1000) == 5);
  CHECK(max_in_window({0, 0, 0, 3000, 3000}, 1000) == 3);
}

TEST_CASE("the busiest window around an instant must contain that instant") {
  using pyrate::cli::max_in_window_around;
  const std::vector<std::int64_t> times{0, 100, 200, 1500, 1600};
  // Windows holding 1000 start in (0, 1000]: at most {100, 200} and then {1500, 1600} reach.
  CHECK(max_in_window_around(times, 1000, 1000) == 2);
  CHECK(max_in_window_around(times, 1000, 1550) == 2);
  CHECK(max_in_window_around(times, 1000, 100) == 3);
  CHECK(max_in_window_around({}, 1000, 0) == 0);
}
