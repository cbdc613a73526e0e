#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <limits>
#include <pyrate/pyrate.hpp>
#include <stdexcept>
#include <vector>

using pyrate::Duration;
using pyrate::Millis;
using pyrate::Rate;
using pyrate::validate_rate_list;
using namespace std::chrono_literals;

TEST_CASE("Rate requires a positive limit and a positive interval") {
  CHECK_THROWS_AS(Rate(0, 1000), std::invalid_argument);
  CHECK_THROWS_AS(Rate(-1, 1000), std::invalid_argument);
  CHECK_THROWS_AS(Rate(1, Millis{0}), std::invalid_argument);
  CHECK_THROWS_AS(Rate(1, Millis{-5}), std::invalid_argument);
  CHECK_THROWS_AS(Rate(0, Duration::Second), std::invalid_argument);
  CHECK_THROWS_AS(Rate(1, 0ms), std::invalid_argument);
  CHECK_THROWS_AS(Rate(1, -1s), std::invalid_argument);
  const Rate smallest(1, Millis{1});
  CHECK(smallest.limit == 1);
  CHECK(smallest.interval == 1);
}

TEST_CASE("A Duration interval is its length in milliseconds") {
  CHECK(Rate(5, Duration::Second).interval == 1000);
  CHECK(Rate(5, Duration::Minute).interval == 60'000);
  CHECK(Rate(5, Duration::Hour).interval == 3'600'000);
  CHECK(Rate(5, Duration::Day).interval == 86'400'000);
  CHECK(Rate(5, Duration::Week).interval == 604'800'000);
}

TEST_CASE("A chrono interval is rounded up to whole milliseconds") {
  CHECK(Rate(1, 2s).interval == 2000);
  CHECK(Rate(1, 1min).interval == 60'000);
  CHECK(Rate(1, 250ms).interval == 250);
  CHECK(Rate(1, 1500us).interval == 2);
  CHECK(Rate(1, 1ns).interval == 1);
  CHECK(Rate(1, 1000001ns).interval == 2);
  CHECK(Rate(1, std::chrono::duration<double>(0.0015)).interval == 2);
  CHECK(Rate(1, std::chrono::duration<double, std::milli>(0.25)).interval == 1);
}

TEST_CASE("A chrono interval too long for Millis is refused with invalid_argument") {
  CHECK_THROWS_AS(Rate(1, std::chrono::hours::max()), std::invalid_argument);
  CHECK_THROWS_AS(Rate(1, std::chrono::duration<double>(1e30)), std::invalid_argument);
  CHECK_THROWS_AS(Rate(1, std::chrono::duration<double>(-1e30)), std::invalid_argument);
  CHECK_THROWS_AS(Rate(1, std::chrono::duration<double>(std::numeric_limits<double>::quiet_NaN())),
                  std::invalid_argument);
  CHECK(Rate(1, std::chrono::hours(24 * 365 * 1000)).interval == 31'536'000'000'000);
}

TEST_CASE("Duration times a factor is the scaled length in milliseconds") {
  static_assert(Duration::Second * 2 == 2000);
  static_assert(2 * Duration::Second == 2000);
  CHECK(Duration::Second * 1.5 == 1500);
  CHECK(0.5 * Duration::Minute == 30'000);
  CHECK(Duration::Hour * 24 == static_cast<Millis>(Duration::Day));
  CHECK(Duration::Week * 0 == 0);
  CHECK(Rate(3, Duration::Second * 2).interval == 2000);
}

TEST_CASE("Duration times a factor that does not fit in Millis throws out_of_range") {
  CHECK_THROWS_AS(Duration::Week * 1e300, std::out_of_range);
  CHECK_THROWS_AS(-1e300 * Duration::Second, std::out_of_range);
  CHECK_THROWS_AS(Duration::Second * std::numeric_limits<double>::quiet_NaN(), std::out_of_range);
  CHECK_THROWS_AS(Duration::Second * std::numeric_limits<double>::infinity(), std::out_of_range);
  CHECK(Duration::Week * 1e6 == 604'800'000'000'000);
}

TEST_CASE("to_string shows the interval in the largest unit it reaches, with one decimal") {
  CHECK(to_string(Rate(5, 2000)) == "limit=5/2.0s");
  CHECK(to_string(Rate(1, 1000)) == "limit=1/1.0s");
  CHECK(to_string(Rate(7, 1500)) == "limit=7/1.5s");
  CHECK(to_string(Rate(100, Duration::Minute)) == "limit=100/1.0m");
  CHECK(to_string(Rate(100, 90'000)) == "limit=100/1.5m");
  CHECK(to_string(Rate(2, Duration::Hour)) == "limit=2/1.0h");
  CHECK(to_string(Rate(2, Duration::Hour * 3)) == "limit=2/3.0h");
  CHECK(to_string(Rate(500, Duration::Day)) == "limit=500/1.0d");
  CHECK(to_string(Rate(500, Duration::Day * 2.5)) == "limit=500/2.5d");
  CHECK(to_string(Rate(9, Duration::Week)) == "limit=9/1.0w");
  CHECK(to_string(Rate(9, Duration::Week * 2)) == "limit=9/2.0w");
}

TEST_CASE("to_string shows intervals below one second in milliseconds") {
  CHECK(to_string(Rate(3, 500)) == "limit=3/500ms");
  CHECK(to_string(Rate(1, 1)) == "limit=1/1ms");
  CHECK(to_string(Rate(1, 999)) == "limit=1/999ms");
}

TEST_CASE("to_string of a rate list lists every rate") {
  CHECK(to_string(std::vector<Rate>{Rate(5, 1000), Rate(100, Duration::Minute)}) ==
        "[limit=5/1.0s, limit=100/1.0m]");
  CHECK(to_string(std::vector<Rate>{}) == "[]");
}

TEST_CASE("Rates are equal when their limits and intervals are") {
  CHECK(Rate(5, 1000) == Rate(5, Duration::Second));
  CHECK(Rate(5, 1000) == Rate(5, 1s));
  CHECK_FALSE(Rate(5, 1000) == Rate(6, 1000));
  CHECK_FALSE(Rate(5, 1000) == Rate(5, 1001));
}

TEST_CASE("RateItem defaults to timestamp 0 and weight 1") {
  const pyrate::RateItem item{"x"};
  CHECK(item.name == "x");
  CHECK(item.timestamp == 0);
  CHECK(item.weight == 1);
}

TEST_CASE(
    "validate_rate_list accepts increasing intervals and limits with non-increasing density") {
  CHECK(validate_rate_list({Rate(5, 1000)}));
  CHECK(validate_rate_list({Rate(5, 1000), Rate(100, Duration::Minute)}));
  CHECK(validate_rate_list({Rate(5, 1000), Rate(10, 2000)}));  // equal density
  CHECK(validate_rate_list(
      {Rate(1, 10), Rate(50, 1000), Rate(2000, Duration::Minute), Rate(20'000, Duration::Day)}));
}

TEST_CASE("validate_rate_list rejects an empty list") { CHECK_FALSE(validate_rate_list({})); }

TEST_CASE("validate_rate_list rejects intervals that do not strictly increase") {
  CHECK_FALSE(validate_rate_list({Rate(5, 1000), Rate(10, 1000)}));
  CHECK_FALSE(validate_rate_list({Rate(5, 1000), Rate(10, 60'000), Rate(20, 60'000)}));
}

TEST_CASE("validate_rate_list rejects limits that do not strictly increase") {
  CHECK_FALSE(validate_rate_list({Rate(5, 1000), Rate(5, 2000)}));
  CHECK_FALSE(validate_rate_list({Rate(5, 1000), Rate(4, 2000)}));
}

TEST_CASE("validate_rate_list rejects a density that increases") {
  CHECK_FALSE(validate_rate_list({Rate(5, 1000), Rate(11, 2000)}));
  CHECK_FALSE(validate_rate_list({Rate(1, 1000), Rate(61, Duration::Minute)}));
  // Exact comparison: 1/3 per ms, then just above it.
  CHECK(validate_rate_list({Rate(1, 3), Rate(333'333'333, 999'999'999)}));
  CHECK_FALSE(validate_rate_list({Rate(1, 3), Rate(333'333'334, 999'999'999)}));
}

TEST_CASE("validate_rate_list checks the list in the order given") {
  CHECK_FALSE(validate_rate_list({Rate(100, Duration::Minute), Rate(5, 1000)}));
}

TEST_CASE("validate_rate_list rejects a rate whose fields were set non-positive") {
  Rate zero_limit(5, 1000);
  zero_limit.limit = 0;
  Rate negative_interval(5, 1000);
  negative_interval.interval = -1000;
  CHECK_FALSE(validate_rate_list({zero_limit}));
  CHECK_FALSE(validate_rate_list({negative_interval}));
  CHECK_FALSE(validate_rate_list({Rate(5, 1000), zero_limit}));
}

TEST_CASE("validate_rate_list never overflows on extreme rates") {
  constexpr Millis kMax = std::numeric_limits<Millis>::max();
  CHECK(validate_rate_list({Rate(kMax - 1, kMax - 1), Rate(kMax, kMax)}));
  CHECK_FALSE(validate_rate_list({Rate(1, kMax - 1), Rate(kMax, kMax)}));
}

TEST_CASE("MonotonicClock never steps backwards and SystemClock reads Unix milliseconds") {
  pyrate::MonotonicClock monotonic;
  Millis previous = monotonic.now();
  for (int i = 0; i < 1000; ++i) {
    const Millis current = monotonic.now();
    CHECK(current >= previous);
    previous = current;
  }
  pyrate::SystemClock system;
  const Millis expected = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  CHECK(std::abs(system.now() - expected) < 5000);
  CHECK(system.now() > 1'600'000'000'000);  // after September 2020
}

TEST_CASE("steady_time_after rounds up, saturates when too far, and gives now for no time") {
  using SteadyClock = std::chrono::steady_clock;
  const auto before = SteadyClock::now();
  const auto soon = pyrate::steady_time_after(5ms);
  CHECK(soon >= before + 5ms);
  CHECK(soon <= SteadyClock::now() + 5ms);
  CHECK(pyrate::steady_time_after(std::chrono::hours::max()) == SteadyClock::time_point::max());
  CHECK(pyrate::steady_time_after(SteadyClock::duration::max()) == SteadyClock::time_point::max());
  const auto now = pyrate::steady_time_after(std::chrono::hours::min());
  CHECK(now >= before);
  CHECK(now <= SteadyClock::now());
  CHECK(pyrate::steady_time_after(std::chrono::duration<double, std::milli>(0.5)) >= before);
  CHECK(pyrate::steady_time_after(std::chrono::duration<int, std::milli>::max()) >= before + 24h);
  CHECK(pyrate::steady_time_after(SteadyClock::time_point::max() - 1s, 2s) ==
        SteadyClock::time_point::max());
  CHECK(pyrate::steady_time_after(SteadyClock::time_point{}, 1500ms) ==
        SteadyClock::time_point{} + 1500ms);
}
