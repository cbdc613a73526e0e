#include "async/bucket_queue.hpp"

#include <boost/system/error_code.hpp>

#include "async/acquire_errors.hpp"
#include "async/queue_map.hpp"

namespace pyrate {

BucketQueue::BucketQueue(boost::asio::any_io_executor executor, CheckedBucket bucket,
                         Millis buffer_ms, std::shared_ptr<QueueMap> home,
                         const AbstractBucket* key)
    : bucket_(std::move(bucket)),
      buffer_ms_(buffer_ms),
      home_(std::move(home)),
      key_(key),
      timer_(std::move(executor)) {}

BucketQueue::~BucketQueue() = default;

bool BucketQueue::start(Acquire acquire) {
  std::lock_guard lock(mutex_);
  if (left_home_) return false;
  if (closed_) {
    acquire->complete(closed_error());
    return true;
  }
  if (acquire->finished()) return true;
  if (!acquire->options().blocking || never_fits(*bucket_.rates, acquire->options().weight)) {
    check_directly(std::move(acquire));
    return true;
  }
  drop_finished_heads();
  if (waiting_.empty() && !checking_) {
    if (bucket_.inline_bucket) {
      check_first_inline(std::move(acquire));
    } else {
      waiting_.push_back(std::move(acquire));
      check_heads();
    }
    return true;
  }
  // Queued behind the head, it waits at least as long as the head does.
  if (acquire->deadline && head_wake_ && *acquire->deadline < *head_wake_) {
    acquire->complete(nullptr, Decision{});
    return true;
  }
  acquire->queued = true;
  if (acquire->deadline) deadlines_.push(Deadline{*acquire->deadline, acquire});
  waiting_.push_back(std::move(acquire));
  rearm();
  return true;
}

namespace {

BucketQueue::Acquire make_acquire(const async_detail::AcquireMaker& maker, RateItem item,
                                  const AcquireOptions& options,
                                  std::optional<SteadyClock::time_point> deadline) {
  BucketQueue::Acquire acquire = maker.make(maker.context, item.name, options);
  acquire->item = std::move(item);
  acquire->deadline = deadline;
  return acquire;
}

}  // namespace

std::optional<Decision> BucketQueue::start_or_decide(
    RateItem item, const AcquireOptions& options, std::optional<SteadyClock::time_point> deadline,
    async_detail::AcquireMaker maker) {
  std::unique_lock lock(mutex_);
  drop_finished_heads();
  const bool at_once = bucket_.inline_bucket && !left_home_ && !closed_ &&
                       (!options.blocking || (waiting_.empty() && !checking_) ||
                        never_fits(*bucket_.rates, options.weight));
  if (!at_once) {
    lock.unlock();
    start(make_acquire(maker, std::move(item), options, deadline));
    return std::nullopt;
  }
  Decision decision;
  std::exception_ptr error;
  try {
    decision = bucket_.inline_bucket->admit(item);
  } catch (...) {
    error = std::current_exception();
  }
  if (error) {
    make_acquire(maker, std::move(item), options, deadline)->complete(std::move(error));
    return std::nullopt;
  }
  const auto wake = next_check(options, deadline, decision, buffer_ms_);
  if (!wake) return decision;
  Acquire acquire = make_acquire(maker, std::move(item), options, deadline);
  acquire->checks = 1;
  waiting_.push_back(std::move(acquire));
  head_wake_ = *wake;
  rearm();
  return std::nullopt;
}

void BucketQueue::adopt_head(Acquire acquire, SteadyClock::time_point wake) {
  std::lock_guard lock(mutex_);
  waiting_.push_back(std::move(acquire));
  head_wake_ = wake;
  rearm();
}

void BucketQueue::abort_all() {
  std::vector<Acquire> aborted;
  bool leave = false;
  {
    std::lock_guard lock(mutex_);
    aborted = take_all();
    leave = should_leave_home();
  }
  for (const Acquire& acquire : aborted) acquire->complete(aborted_error());
  if (leave) leave_home();
}

void BucketQueue::close() {
  std::vector<Acquire> aborted;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    aborted = take_all();
  }
  for (const Acquire& acquire : aborted) acquire->complete(aborted_error());
}

std::vector<BucketQueue::Acquire> BucketQueue::take_all() {
  std::vector<Acquire> taken(waiting_.begin(), waiting_.end());
  taken.insert(taken.end(), direct_.begin(), direct_.end());
  waiting_.clear();
  direct_.clear();
  deadlines_ = {};
  head_wake_.reset();
  rearm();
  return taken;
}

void BucketQueue::check_directly(Acquire acquire) {
  if (bucket_.inline_bucket) {
    if (const auto decision = check_inline_or_fail(*bucket_.inline_bucket, *acquire)) {
      acquire->complete(nullptr, *decision);
    }
    return;
  }
  direct_.insert(acquire);
  auto done = [self = shared_from_this(), acquire](std::exception_ptr error, Decision decision) {
    self->on_direct_checked(acquire, std::move(error), decision);
  };
  bucket_.deferred->start(std::move(acquire), std::move(done));
}

// The first check of an acquire that nothing waits before, in-memory: it joins the queue, as
// its head, only when it must wait.
void BucketQueue::check_first_inline(Acquire acquire) {
  const std::optional<Decision> decision = check_inline_or_fail(*bucket_.inline_bucket, *acquire);
  if (!decision) return;
  const auto wake = next_check(*acquire, *decision, buffer_ms_);
  if (!wake) {
    acquire->complete(nullptr, *decision);
    return;
  }
  waiting_.push_back(std::move(acquire));
  head_wake_ = *wake;
  rearm();
}

void BucketQueue::check_heads() {
  while (true) {
    drop_finished_heads();
    if (waiting_.empty()) {
      head_wake_.reset();
      rearm();
      return;
    }
    const Acquire head = waiting_.front();
    // An acquire that reaches the head after its deadline is refused unchecked.
    if (head->checks == 0 && head->deadline && SteadyClock::now() >= *head->deadline) {
      head->complete(nullptr, Decision{});
      waiting_.pop_front();
      continue;
    }
    if (!bucket_.inline_bucket) {
      checking_ = true;
      head_wake_.reset();
      auto done = [self = shared_from_this(), head](std::exception_ptr error, Decision decision) {
        self->on_head_checked(head, std::move(error), decision);
      };
      bucket_.deferred->start(head, std::move(done));
      rearm();
      return;
    }
    const std::optional<Decision> decision = check_inline_or_fail(*bucket_.inline_bucket, *head);
    if (!decision) {
      waiting_.pop_front();
      continue;
    }
    if (!settle_head(*decision)) {
      rearm();
      return;
    }
  }
}

// Completes the head and pops it (true), or sets when it is checked next (false).
bool BucketQueue::settle_head(const Decision& decision) {
  const Acquire& head = waiting_.front();
  const auto wake = next_check(*head, decision, buffer_ms_);
  if (wake) {
    head_wake_ = *wake;
    return false;
  }
  head->complete(nullptr, decision);
  waiting_.pop_front();
  return true;
}

void BucketQueue::on_head_checked(const Acquire& head, std::exception_ptr error,
                                  const Decision& decision) {
  bool leave = false;
  {
    std::lock_guard lock(mutex_);
    checking_ = false;
    if (closed_) return;
    // Unless abort_all() took it meanwhile, the head is still at the front.
    if (!waiting_.empty() && waiting_.front() == head) {
      if (error) {
        head->complete(std::move(error));
        waiting_.pop_front();
      } else if (!settle_head(decision)) {
        rearm();
        return;
      }
    }
    check_heads();
    leave = should_leave_home();
  }
  if (leave) leave_home();
}

void BucketQueue::on_direct_checked(const Acquire& acquire, std::exception_ptr error,
                                    const Decision& decision) {
  bool leave = false;
  {
    std::lock_guard lock(mutex_);
    direct_.erase(acquire);
    leave = should_leave_home();
  }
  acquire->complete(std::move(error), decision);
  if (leave) leave_home();
}

void BucketQueue::on_timer(std::uint64_t generation) {
  bool leave = false;
  {
    std::lock_guard lock(mutex_);
    if (generation != generation_ || closed_) return;
    armed_for_.reset();
    const auto now = SteadyClock::now();
    expire_overdue(now);
    if (!checking_ && head_wake_ && *head_wake_ <= now) {
      head_wake_.reset();
      check_heads();
    } else {
      rearm();
    }
    leave = should_leave_home();
  }
  if (leave) leave_home();
}

// Refuses the acquires behind the head whose deadline has come.
void BucketQueue::expire_overdue(SteadyClock::time_point now) {
  drop_finished_heads();
  while (!deadlines_.empty() && deadlines_.top().at <= now) {
    const Acquire acquire = deadlines_.top().acquire.lock();
    deadlines_.pop();
    const bool is_head = !waiting_.empty() && waiting_.front() == acquire;
    if (acquire && !is_head) acquire->complete(nullptr, Decision{});
  }
}

void BucketQueue::drop_finished_heads() {
  while (!waiting_.empty() && waiting_.front()->finished()) waiting_.pop_front();
}

// Sets the timer for the head's next check or the earliest deadline behind it, whichever
// comes first; cancels it when there is neither.
void BucketQueue::rearm() {
  std::optional<SteadyClock::time_point> due;
  if (!checking_ && head_wake_) due = head_wake_;
  while (!deadlines_.empty() && deadlines_.top().passed()) deadlines_.pop();
  if (!deadlines_.empty() && (!due || deadlines_.top().at < *due)) due = deadlines_.top().at;
  if (due == armed_for_) return;
  ++generation_;
  armed_for_ = due;
  if (!due) {
    timer_.cancel();
    return;
  }
  timer_.expires_at(*due);
  timer_.async_wait(
      [self = weak_from_this(), generation = generation_](const boost::system::error_code& error) {
        if (error) return;
        if (const auto queue = self.lock()) queue->on_timer(generation);
      });
}

bool BucketQueue::should_leave_home() {
  drop_finished_heads();
  if (!home_ || left_home_ || closed_ || !waiting_.empty() || checking_ || !direct_.empty()) {
    return false;
  }
  left_home_ = true;
  return true;
}

void BucketQueue::leave_home() { home_->erase(key_, this); }

}  // namespace pyrate
