// The acquires of one bucket, in the order they started.
#pragma once

#include <utility>
//
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <pyrate/async_limiter.hpp>
#include <queue>
#include <unordered_set>
#include <vector>

#include "async/bucket_checks.hpp"
#include "async/wait_rule.hpp"

namespace pyrate {

class QueueMap;

// The blocking acquires of one bucket wait here in the order they started (FIFO). Only the
// head is checked; while the bucket refuses it, it waits on the queue's one timer, which
// also wakes for the earliest deadline of the acquires behind it. Once the head completes the
// next one is checked at once. Non-blocking acquires and weights that can never fit are
// checked at once, beside the queue.
//
// Thread-safe: one mutex guards the state; it is held for bookkeeping and inline checks, never
// across a deferred check or a handler. Timer waits hold the queue weakly.
class BucketQueue : public std::enable_shared_from_this<BucketQueue> {
 public:
  using Acquire = std::shared_ptr<async_detail::PendingAcquire>;

  // A queue for `bucket` whose timer runs on `executor`. A queue with a `home` leaves it, as
  // `key`, once nothing waits in it; one without stays.
  BucketQueue(boost::asio::any_io_executor executor, CheckedBucket bucket, Millis buffer_ms,
              std::shared_ptr<QueueMap> home = nullptr, const AbstractBucket* key = nullptr);
  ~BucketQueue();

  BucketQueue(const BucketQueue&) = delete;
  BucketQueue& operator=(const BucketQueue&) = delete;

  // Starts `acquire`, whose item is stamped: checks it at once, or queues it behind the
  // acquires already waiting. Returns false, doing nothing, once the queue has left its home.
  // Completes `acquire` with closed_error() after close().
  bool start(Acquire acquire);

  // For an in-memory bucket: checks `item`, stamped, at once when start() would, and returns
  // the decision when it is final. Otherwise makes the acquire with `maker` (the head, waiting,
  // when the check refused it; started as by start() when there was no check) and returns
  // nullopt.
  std::optional<Decision> start_or_decide(RateItem item, const AcquireOptions& options,
                                          std::optional<SteadyClock::time_point> deadline,
                                          async_detail::AcquireMaker maker);

  // Makes `acquire`, which a check already refused, the head of this new queue, checked
  // again at `wake`.
  void adopt_head(Acquire acquire, SteadyClock::time_point wake);

  // Completes every acquire of the queue with aborted_error(); the queue stays usable.
  void abort_all();

  // abort_all(), then completes every acquire started later with closed_error(). Idempotent.
  void close();

 private:
  // Held weakly, so that an acquire that completed is freed before its deadline comes.
  struct Deadline {
    SteadyClock::time_point at;
    std::weak_ptr<async_detail::PendingAcquire> acquire;
    bool passed() const {
      const Acquire held = acquire.lock();
      return !held || held->finished();
    }
    bool operator>(const Deadline& other) const { return at > other.at; }
  };

  // With the mutex held:
  void check_directly(Acquire acquire);
  void check_first_inline(Acquire acquire);
  void check_heads();
  bool settle_head(const Decision& decision);
  void expire_overdue(SteadyClock::time_point now);
  void drop_finished_heads();
  void rearm();
  std::vector<Acquire> take_all();
  bool should_leave_home();

  // Without it:
  void on_head_checked(const Acquire& head, std::exception_ptr error, const Decision& decision);
  void on_direct_checked(const Acquire& acquire, std::exception_ptr error,
                         const Decision& decision);
  void on_timer(std::uint64_t generation);
  void leave_home();

  CheckedBucket bucket_;
  const Millis buffer_ms_;
  const std::shared_ptr<QueueMap> home_;
  const AbstractBucket* const key_;

  std::mutex mutex_;
  std::deque<Acquire> waiting_;  // front: the head; completed ones are dropped on reaching it
  std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> deadlines_;
  std::unordered_set<Acquire> direct_;                // checks under way beside the queue
  bool checking_ = false;                             // a deferred check of the head is under way
  std::optional<SteadyClock::time_point> head_wake_;  // when the head is checked next
  boost::asio::steady_timer timer_;
  std::optional<SteadyClock::time_point> armed_for_;
  std::uint64_t generation_ = 0;  // of the timer wait that counts; older ones are ignored
  bool closed_ = false;
  bool left_home_ = false;
};

}  // namespace pyrate
