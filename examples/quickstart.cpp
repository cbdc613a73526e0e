// A limiter of 3 calls per second: the fourth call in the same second is refused, and a
// blocking call waits for the window to slide.
#include <chrono>
#include <iostream>
#include <pyrate/pyrate.hpp>

int main() {
  using namespace std::chrono_literals;
  pyrate::Limiter limiter(pyrate::Rate(3, pyrate::Duration::Second));

  pyrate::AcquireOptions no_wait;
  no_wait.blocking = false;
  for (int call = 1; call <= 4; ++call) {
    const bool admitted = limiter.try_acquire("api", no_wait);
    std::cout << "call " << call << ": " << (admitted ? "admitted" : "refused") << '\n';
  }

  const auto start = std::chrono::steady_clock::now();
  limiter.try_acquire("api");  // blocking: sleeps until the oldest call leaves the window
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  std::cout << "call 5: admitted after waiting " << waited.count() << " ms\n";

  auto send = limiter.wrap([](int n) { return n * 2; }, "api");
  std::cout << "wrapped call returned " << send(21) << '\n';
}
