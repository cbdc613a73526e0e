// Answering 429: a server turns each Decision into a status line and header fields. The
// limits are 2 requests per second and 3 per minute; a clock set by hand makes the output the
// same on every run.
#include <iostream>
#include <memory>
#include <pyrate/pyrate.hpp>
#include <string>

namespace {

// A clock that reads what it was last set to.
class ManualClock final : public pyrate::Clock {
 public:
  pyrate::Millis now() override { return now_; }
  void set(pyrate::Millis now) { now_ = now; }

 private:
  pyrate::Millis now_ = 0;
};

// The status line and header fields of the response to a request `decision` was made for,
// each line ended by CRLF as HTTP/1.1 sends it.
std::string response_head(const pyrate::Decision& decision) {
  std::string head =
      decision.admitted ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.1 429 Too Many Requests\r\n";
  for (const auto& [name, value] : pyrate::http_headers(decision)) {
    head += name + ": " + value + "\r\n";
  }
  return head;
}

}  // namespace

int main() {
  auto clock = std::make_shared<ManualClock>();
  auto bucket = std::make_shared<pyrate::InMemoryBucket>(
      std::vector<pyrate::Rate>{{2, pyrate::Duration::Second}, {3, pyrate::Duration::Minute}});
  bucket->set_clock(clock);
  pyrate::Limiter limiter(bucket);

  pyrate::AcquireOptions no_wait;  // a server answers at once rather than hold the request
  no_wait.blocking = false;
  for (const pyrate::Millis at : {0, 0, 100, 1500, 1600}) {
    clock->set(at);
    const pyrate::Decision decision = limiter.acquire("client-42", no_wait);
    std::cout << "request at " << at << " ms\n" << response_head(decision) << '\n';
  }
}
