// http_headers: a Decision as the Retry-After, RateLimit-Policy and RateLimit fields, checked
// against the literal field lines a client receives.
#include <catch2/catch.hpp>
#include <memory>
#include <pyrate/pyrate.hpp>
#include <string>
#include <utility>
#include <vector>

#include "support/fake_clock.hpp"

namespace {

using pyrate::Decision;
using pyrate::Millis;
using pyrate::Rate;
using Headers = std::vector<std::pair<std::string, std::string>>;

// A refusal by `rate` whose window is full and frees a slot after `wait` ms.
Decision refused_for(const Rate& rate, Millis wait) {
  Decision decision;
  decision.failing_rate = rate;
  decision.retry_after = wait;
  decision.tightest_rate = rate;
  decision.remaining = 0;
  decision.reset_after = wait;
  return decision;
}

}  // namespace

TEST_CASE("an admitted decision sends its policy and available quota, and no Retry-After") {
  Decision admitted;
  admitted.admitted = true;
  admitted.tightest_rate = Rate(5, 1000);
  admitted.remaining = 4;
  admitted.reset_after = 1001;
  CHECK(pyrate::http_headers(admitted) ==
        Headers{{"RateLimit-Policy", "\"5/s\";q=5;w=1"}, {"RateLimit", "\"5/s\";r=4;t=2"}});
}

TEST_CASE("Retry-After is the wait in whole seconds, rounded up") {
  const Rate rate(5, 1000);
  CHECK(pyrate::http_headers(refused_for(rate, 1)) ==
        Headers{{"Retry-After", "1"},
                {"RateLimit-Policy", "\"5/s\";q=5;w=1"},
                {"RateLimit", "\"5/s\";r=0;t=1"}});
  CHECK(pyrate::http_headers(refused_for(rate, 999)) ==
        Headers{{"Retry-After", "1"},
                {"RateLimit-Policy", "\"5/s\";q=5;w=1"},
                {"RateLimit", "\"5/s\";r=0;t=1"}});
  CHECK(pyrate::http_headers(refused_for(rate, 1000)) ==
        Headers{{"Retry-After", "1"},
                {"RateLimit-Policy", "\"5/s\";q=5;w=1"},
                {"RateLimit", "\"5/s\";r=0;t=1"}});
  CHECK(pyrate::http_headers(refused_for(rate, 1001)) ==
        Headers{{"Retry-After", "2"},
                {"RateLimit-Policy", "\"5/s\";q=5;w=1"},
                {"RateLimit", "\"5/s\";r=0;t=2"}});
}

TEST_CASE("a weight that can never fit sends no Retry-After") {
  Decision never;
  never.failing_rate = Rate(5, 1000);
  never.retry_after = -1;
  never.tightest_rate = Rate(5, 1000);
  never.remaining = 5;
  never.reset_after = 0;  // the window holds no slot: no effective window to give
  CHECK(pyrate::http_headers(never) ==
        Headers{{"RateLimit-Policy", "\"5/s\";q=5;w=1"}, {"RateLimit", "\"5/s\";r=5"}});
}

TEST_CASE("with two rates the fields describe the tightest, here the wider one that binds") {
  auto clock = std::make_shared<pyrate_test::FakeClock>(0);
  pyrate::InMemoryBucket bucket({Rate(2, 1000), Rate(3, 60'000)});
  bucket.set_clock(clock);
  REQUIRE(bucket.admit({"client", 0, 2}).admitted);
  REQUIRE(bucket.admit({"client", 1500, 1}).admitted);
  // At 1600 the 2/s window holds one slot, the 3/min window three: the minute refuses until
  // the slots stamped 0 leave it, 58401 ms later.
  const Decision refused = bucket.admit({"client", 1600, 1});
  REQUIRE_FALSE(refused.admitted);
  REQUIRE(refused.retry_after == 58'401);
  CHECK(pyrate::http_headers(refused) == Headers{{"Retry-After", "59"},
                                                 {"RateLimit-Policy", "\"3/min\";q=3;w=60"},
                                                 {"RateLimit", "\"3/min\";r=0;t=59"}});
}

TEST_CASE("a window shorter than a second is advertised as one second") {
  Decision admitted;
  admitted.admitted = true;
  admitted.tightest_rate = Rate(3, 250);
  admitted.remaining = 2;
  admitted.reset_after = 251;
  CHECK(pyrate::http_headers(admitted) ==
        Headers{{"RateLimit-Policy", "\"3/250ms\";q=3;w=1"}, {"RateLimit", "\"3/250ms\";r=2;t=1"}});
}

TEST_CASE("a decision that names no rate sends only Retry-After") {
  Decision timed_out;  // refused before any bucket decided, e.g. the lock wait timed out
  CHECK(pyrate::http_headers(timed_out) == Headers{{"Retry-After", "0"}});
  Decision weightless;
  weightless.admitted = true;
  CHECK(pyrate::http_headers(weightless).empty());
}
