#include "pyrate/in_memory_bucket.hpp"

#include <mutex>

#include "core/sliding_window.hpp"
#include "memory/run_log.hpp"
#include "sync/mutex.hpp"

namespace pyrate {

// The lock and the log, written by every admission: on cache lines of their own, so that
// threads admitting into two buckets made one after the other do not contend for a line.
class alignas(64) InMemoryBucket::SlotLog {
 public:
  explicit SlotLog(std::size_t rate_count) : runs(rate_count) {}

  Mutex mutex;
  memory::RunLog runs;  // guarded by mutex
};

InMemoryBucket::InMemoryBucket(std::vector<Rate> rates)
    : AbstractBucket(std::move(rates)), log_(std::make_unique<SlotLog>(this->rates().size())) {}

InMemoryBucket::~InMemoryBucket() = default;

bool InMemoryBucket::put(const RateItem& item) { return admit(item).admitted; }

Decision InMemoryBucket::admit(const RateItem& item) {
  check_weight(item);
  std::lock_guard lock(log_->mutex);
  throw_if_closed("put");
  Decision decision = log_->runs.decide(rates(), item, true);
  if (item.weight > 0) {
    if (decision.admitted) {
      clear_failing_rate();
    } else {
      set_failing_rate(decision.failing_rate);
    }
  }
  return decision;
}

Millis InMemoryBucket::waiting(const RateItem& item) {
  check_weight(item);
  std::lock_guard lock(log_->mutex);
  throw_if_closed("waiting");
  return log_->runs.decide(rates(), item, false).retry_after;
}

std::int64_t InMemoryBucket::leak(std::optional<Millis> current_timestamp) {
  if (closed()) return 0;
  const Millis now_ms = current_timestamp ? *current_timestamp : now();
  const Millis cutoff = core::window_start(now_ms, rates().back().interval);
  std::lock_guard lock(log_->mutex);
  return log_->runs.remove_before(cutoff);
}

void InMemoryBucket::flush() {
  std::lock_guard lock(log_->mutex);
  throw_if_closed("flush");
  log_->runs.clear();
  set_failing_rate(std::nullopt);
}

std::int64_t InMemoryBucket::count() {
  std::lock_guard lock(log_->mutex);
  throw_if_closed("count");
  return log_->runs.count();
}

std::optional<RateItem> InMemoryBucket::peek(std::int64_t index) {
  std::lock_guard lock(log_->mutex);
  throw_if_closed("peek");
  return log_->runs.peek(index);
}

void InMemoryBucket::close() {
  std::lock_guard lock(log_->mutex);
  log_->runs.clear(true);
  AbstractBucket::close();
}

}  // namespace pyrate
