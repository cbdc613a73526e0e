// `pyrate acquire --json`: a Decision as one line of JSON.
#pragma once

#include <string>

#include "pyrate/decision.hpp"

namespace pyrate::cli {

// `decision` as one JSON object on one line, without a newline, its keys in this order:
// {"admitted": false, "retry_after_ms": 340, "remaining": 0, "reset_after_ms": 340,
//  "failing_rate": "5/s", "tightest_rate": "5/s"}; a rate is its SPEC, or null when none.
std::string decision_json(const Decision& decision);

}  // namespace pyrate::cli
