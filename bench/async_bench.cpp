// The AsyncLimiter against the Limiter, side by side in one run:
// 1. The path that does not wait: async_acquire with a callback on an InMemoryBucket with room,
//    its completion run by io_context::poll(), against a blocking Limiter::try_acquire with
//    room. Goal: at most 3x.
// 2. Many concurrent waiters for one full bucket: AsyncLimiter waiters on one io thread
//    against the Limiter's sleeping threads. Reports memory per waiter (heap and RSS growth
//    while they wait, over the waiters) and wake lateness: the admission's timestamp minus
//    the time the slot it needed freed (the slot `limit` admissions earlier, plus the
//    interval, plus 1 ms), p50 and p99, read from the bucket's log. Goal for the async limiter:
//    p99 <= buffer_ms + 5 ms.
//
//   ninja -C build bench/async_bench && ./build/bench/async_bench [waiters]
//
// `waiters` defaults to 10,000 for both limiters.
#include <utility>
//
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <pyrate/async_limiter.hpp>
#include <pyrate/pyrate.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/process_usage.hpp"

namespace {

using SteadyClock = std::chrono::steady_clock;
using pyrate::Millis;
using pyrate::Rate;

constexpr Millis kBufferMs = 50;

double nanos_per(SteadyClock::duration elapsed, std::int64_t count) {
  return static_cast<double>(
             std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()) /
         static_cast<double>(count);
}

// Room for every acquire of the run.
std::vector<Rate> roomy_rates() { return {Rate(std::int64_t{1} << 40, 1000)}; }

double sync_try_acquire_ns(std::int64_t count) {
  pyrate::Limiter limiter(roomy_rates());
  std::int64_t admitted = 0;
  const auto start = SteadyClock::now();
  for (std::int64_t i = 0; i < count; ++i) admitted += limiter.try_acquire("bench") ? 1 : 0;
  const auto elapsed = SteadyClock::now() - start;
  if (admitted != count)
    std::fprintf(stderr, "sync: %lld refused\n", static_cast<long long>(count - admitted));
  return nanos_per(elapsed, count);
}

// async_acquire `batch` times, then poll() to run their callbacks, until `count`. The acquires
// start from a handler on the io thread (as a server's would) when `from_handler`, else from
// outside the io_context, where Asio cannot reuse its per-thread handler memory.
double async_acquire_ns(std::int64_t count, std::int64_t batch, bool from_handler) {
  boost::asio::io_context io(1);
  pyrate::AsyncLimiter limiter(io.get_executor(), roomy_rates());
  std::int64_t admitted = 0;
  const auto acquire_batch = [&] {
    for (std::int64_t i = 0; i < batch; ++i) {
      limiter.async_acquire("bench", pyrate::AcquireOptions{},
                            [&admitted](std::exception_ptr, pyrate::Decision decision) {
                              admitted += decision.admitted ? 1 : 0;
                            });
    }
  };
  const auto start = SteadyClock::now();
  for (std::int64_t done = 0; done < count; done += batch) {
    if (from_handler) {
      boost::asio::post(io, acquire_batch);
    } else {
      acquire_batch();
    }
    io.restart();
    io.poll();
  }
  const auto elapsed = SteadyClock::now() - start;
  if (admitted != count) {
    std::fprintf(stderr, "async: %lld refused\n", static_cast<long long>(count - admitted));
  }
  return nanos_per(elapsed, count);
}

std::int64_t heap_bytes() { return static_cast<std::int64_t>(mallinfo2().uordblks); }

struct WaitResult {
  std::size_t waiters = 0;
  std::size_t admitted = 0;
  double heap_per_waiter = 0;
  double rss_per_waiter = 0;
  Millis lateness_p50 = 0;
  Millis lateness_p99 = 0;
  Millis lateness_max = 0;
  double seconds = 0;
};

// Lateness of each admission after the `rate.limit` filling slots, from the bucket's log.
void measure_lateness(pyrate::AbstractBucket& bucket, const Rate& rate, WaitResult& result) {
  std::vector<Millis> stamps;
  for (std::int64_t i = bucket.count() - 1; i >= 0; --i)
    stamps.push_back(bucket.peek(i)->timestamp);
  std::vector<Millis> lateness;
  for (std::size_t k = static_cast<std::size_t>(rate.limit); k < stamps.size(); ++k) {
    const Millis freed = stamps[k - static_cast<std::size_t>(rate.limit)] + rate.interval + 1;
    lateness.push_back(stamps[k] - freed);
  }
  if (lateness.empty()) return;
  std::sort(lateness.begin(), lateness.end());
  result.lateness_p50 = lateness[lateness.size() / 2];
  result.lateness_p99 = lateness[std::min(lateness.size() - 1, lateness.size() * 99 / 100)];
  result.lateness_max = lateness.back();
}

std::shared_ptr<pyrate::InMemoryBucket> full_bucket(const Rate& rate) {
  auto bucket = std::make_shared<pyrate::InMemoryBucket>(std::vector<Rate>{rate});
  bucket->put(pyrate::RateItem{"fill", bucket->now(), rate.limit});
  return bucket;
}

WaitResult async_waiters(std::size_t waiters, const Rate& rate) {
  WaitResult result;
  result.waiters = waiters;
  boost::asio::io_context io(1);
  auto bucket = full_bucket(rate);
  pyrate::AsyncLimiterOptions options;
  options.buffer_ms = kBufferMs;
  pyrate::AsyncLimiter limiter(
      io.get_executor(), std::make_shared<pyrate::SingleBucketFactory>(bucket, false), options);
  const auto start = SteadyClock::now();
  malloc_trim(0);
  const std::int64_t heap_before = heap_bytes();
  const std::int64_t rss_before = pyrate::testing::resident_bytes();
  for (std::size_t i = 0; i < waiters; ++i) {
    limiter.async_acquire("waiter", pyrate::AcquireOptions{},
                          [&result](std::exception_ptr, pyrate::Decision decision) {
                            result.admitted += decision.admitted ? 1 : 0;
                          });
  }
  result.heap_per_waiter =
      static_cast<double>(heap_bytes() - heap_before) / static_cast<double>(waiters);
  result.rss_per_waiter = static_cast<double>(pyrate::testing::resident_bytes() - rss_before) /
                          static_cast<double>(waiters);
  io.run();
  result.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  measure_lateness(*bucket, rate, result);
  return result;
}

WaitResult sync_waiters(std::size_t waiters, const Rate& rate) {
  WaitResult result;
  result.waiters = waiters;
  auto bucket = full_bucket(rate);
  pyrate::Limiter limiter(std::make_shared<pyrate::SingleBucketFactory>(bucket, false), kBufferMs);
  std::atomic<std::size_t> started{0};
  std::atomic<std::size_t> admitted{0};
  const auto start = SteadyClock::now();
  malloc_trim(0);
  const std::int64_t heap_before = heap_bytes();
  const std::int64_t rss_before = pyrate::testing::resident_bytes();
  std::vector<std::thread> threads;
  threads.reserve(waiters);
  try {
    for (std::size_t i = 0; i < waiters; ++i) {
      threads.emplace_back([&] {
        started.fetch_add(1);
        if (limiter.try_acquire("waiter")) admitted.fetch_add(1);
      });
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "sync: started %zu threads of %zu: %s\n", threads.size(), waiters,
                 error.what());
  }
  while (started.load() < threads.size()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  result.waiters = threads.size();
  result.heap_per_waiter =
      static_cast<double>(heap_bytes() - heap_before) / static_cast<double>(threads.size());
  result.rss_per_waiter = static_cast<double>(pyrate::testing::resident_bytes() - rss_before) /
                          static_cast<double>(threads.size());
  for (auto& thread : threads) thread.join();
  result.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  result.admitted = admitted.load();
  measure_lateness(*bucket, rate, result);
  return result;
}

void print_waiters(const char* name, const WaitResult& r) {
  std::printf("%-34s %7zu %8zu %10.0f %10.0f %7lld %7lld %7lld %7.1f\n", name, r.waiters,
              r.admitted, r.heap_per_waiter, r.rss_per_waiter,
              static_cast<long long>(r.lateness_p50), static_cast<long long>(r.lateness_p99),
              static_cast<long long>(r.lateness_max), r.seconds);
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t waiters = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 10'000;

  // 1. Waiting, first, so that the memory measured is not memory an earlier part freed. The
  // bucket is full when the waiters start; 2,000 slots per second free up.
  const Rate rate(2000, 1000);
  std::printf("%zu waiters on a full bucket of %s, buffer_ms %lld:\n", waiters,
              pyrate::to_string(rate).c_str(), static_cast<long long>(kBufferMs));
  std::printf("%-34s %7s %8s %10s %10s %7s %7s %7s %7s\n", "", "waiters", "admitted", "heap B/w",
              "RSS B/w", "p50 ms", "p99 ms", "max ms", "run s");
  const WaitResult async_result = async_waiters(waiters, rate);
  print_waiters("AsyncLimiter, one io thread", async_result);
  const WaitResult sync_result = sync_waiters(waiters, rate);
  print_waiters("Limiter, one sleeping thread each", sync_result);
  std::printf("RSS per waiter, sync/async: %.1fx; p99 lateness, sync/async: %.1fx\n",
              sync_result.rss_per_waiter / std::max(1.0, async_result.rss_per_waiter),
              static_cast<double>(sync_result.lateness_p99) /
                  static_cast<double>(std::max<Millis>(1, async_result.lateness_p99)));

  // 2. Not waiting: alternate the limiters, three rounds each, and keep each one's best.
  constexpr std::int64_t kAcquires = 2'000'000;
  double sync_ns = 1e18;
  double in_handler_ns = 1e18;
  double outside_ns = 1e18;
  double one_by_one_ns = 1e18;
  for (int round = 0; round < 3; ++round) {
    sync_ns = std::min(sync_ns, sync_try_acquire_ns(kAcquires));
    in_handler_ns = std::min(in_handler_ns, async_acquire_ns(kAcquires, 1000, true));
    outside_ns = std::min(outside_ns, async_acquire_ns(kAcquires, 1000, false));
    one_by_one_ns = std::min(one_by_one_ns, async_acquire_ns(kAcquires / 4, 1, true));
  }
  std::printf("\nNot waiting (in-memory bucket with room), ns per acquire, best of 3:\n");
  std::printf("  %-62s %7.1f\n", "Limiter::try_acquire", sync_ns);
  const auto print_async = [sync_ns](const char* how, double ns) {
    std::printf("  %-62s %7.1f  %.2fx\n", how, ns, ns / sync_ns);
  };
  print_async("async_acquire + callback, 1000 from a handler, then poll()", in_handler_ns);
  print_async("async_acquire + callback, 1000 from outside io, then poll()", outside_ns);
  print_async("async_acquire + callback, 1 from a handler, then poll()", one_by_one_ns);
  return 0;
}
