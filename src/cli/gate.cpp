#include "gate.hpp"

#include <iostream>
#include <memory>

#include "bucket_store.hpp"
#include "core/rate_spec.hpp"
#include "json_string.hpp"
#include "pyrate/bucket_factory.hpp"
#include "pyrate/limiter.hpp"
#include "spec_parser.hpp"

namespace pyrate::cli {
namespace {

// The narrowest rate whose limit is below `weight`, if any: the weight can never fit it.
const Rate* rate_too_small_for(const std::vector<Rate>& rates, std::int64_t weight) {
  for (const Rate& rate : rates) {
    if (rate.limit < weight) return &rate;
  }
  return nullptr;
}

// The one line that explains a refusal, without the "pyrate: " prefix.
std::string refusal_reason(const CommandLine& line, const Decision& decision) {
  if (!decision.failing_rate) {  // the Limiter's lock wait ran out: no rate decided
    return "refused: another process held bucket " + shown_name(line.bucket_or_default()) +
           "'s lock" +
           (line.timeout ? " for longer than the " + format_span(line.timeout->count()) + " timeout"
                         : "");
  }
  const Rate& rate = *decision.failing_rate;
  if (decision.retry_after < 0) {
    return "refused: weight " + std::to_string(line.weight) + " can never fit " + rate_spec(rate) +
           ", which holds at most " + std::to_string(rate.limit);
  }
  std::string reason =
      "refused by " + rate_spec(rate) + "; retry after " + format_span(decision.retry_after);
  if (line.timeout)
    reason += " (longer than the " + format_span(line.timeout->count()) + " timeout)";
  return reason;
}

Decision decide(const CommandLine& line, const std::string& item_name) {
  if (const Rate* rate = rate_too_small_for(line.rates, line.weight)) {
    Decision never;
    never.failing_rate = *rate;
    never.retry_after = -1;
    return never;
  }

  const std::shared_ptr<AbstractBucket> bucket =
      open_bucket_store(line.db)->open(line.bucket_or_default(), line.rates);
  // Leaking first means a storage error surfaces before any slot is taken.
  bucket->leak();
  Limiter limiter(std::make_shared<SingleBucketFactory>(bucket, /*schedule_leak=*/false));

  AcquireOptions acquire;
  acquire.weight = line.weight;
  acquire.blocking = !line.no_wait;
  acquire.timeout = line.timeout;
  const Decision decision = limiter.acquire(item_name, acquire);
  limiter.close();
  return decision;
}

}  // namespace

Decision pass_gate(const CommandLine& line, const std::string& item_name) {
  const Decision decision = decide(line, item_name);
  if (!decision.admitted) std::cerr << "pyrate: " << refusal_reason(line, decision) << '\n';
  return decision;
}

int gate_exit_status(const CommandLine& line, const Decision& decision) {
  return decision.admitted ? kExitAdmitted : line.conflict_exit_code;
}

}  // namespace pyrate::cli
