#include "pyrate/in_memory_bucket.hpp"

#include <algorithm>
#include <limits>
#include <mutex>

namespace pyrate {
namespace {

// `timestamp - interval`, clamped at the smallest Millis instead of overflowing.
Millis window_start(Millis timestamp, Millis interval) {
  constexpr Millis kMin = std::numeric_limits<Millis>::min();
  return timestamp < kMin + interval ? kMin : timestamp - interval;
}

}  // namespace

InMemoryBucket::InMemoryBucket(std::vector<Rate> rates)
    : AbstractBucket(std::move(rates)), window_hints_(this->rates().size(), 0) {}

std::int64_t InMemoryBucket::first_run_at_or_after(Millis timestamp, std::int64_t hint) const {
  const auto before = [&](std::int64_t number) { return run(number).timestamp < timestamp; };
  const std::int64_t begin = first_run_;
  const std::int64_t end = end_run();
  const std::int64_t start = std::clamp(hint, begin, end);
  std::int64_t low;  // the answer is in [low, high]
  std::int64_t high;
  std::int64_t step = 1;
  if (start < end && before(start)) {
    low = start + 1;
    while (low + step - 1 < end && before(low + step - 1)) {
      low += step;
      step *= 2;
    }
    high = std::min(low + step - 1, end);
  } else {
    high = start;
    while (high - step >= begin && !before(high - step)) {
      high -= step;
      step *= 2;
    }
    low = std::max(high - step + 1, begin);
  }
  while (low < high) {
    const std::int64_t middle = low + (high - low) / 2;
    if (before(middle)) {
      low = middle + 1;
    } else {
      high = middle;
    }
  }
  return low;
}

bool InMemoryBucket::put(const RateItem& item) {
  check_weight(item);
  std::lock_guard lock(mutex_);
  throw_if_closed("put");
  if (item.weight == 0) return true;

  const Millis timestamp =
      runs_.empty() ? item.timestamp : std::max(item.timestamp, runs_.back().timestamp);
  const std::int64_t end = end_slot();
  for (std::size_t i = 0; i < rates().size(); ++i) {
    const Rate& rate = rates()[i];
    const Millis start = window_start(timestamp, rate.interval);
    if (!window_starts_at(window_hints_[i], start)) {
      window_hints_[i] = first_run_at_or_after(start, window_hints_[i]);
    }
    const std::int64_t in_window = end - first_slot_of_run(window_hints_[i]);
    if (rate.limit - in_window < item.weight) {
      set_failing_rate(rate);
      return false;
    }
  }

  Run* const newest = runs_.empty() ? nullptr : &runs_.back();
  if (newest != nullptr && newest->name->first == item.name) {
    if (newest->timestamp == timestamp) {
      newest->end += item.weight;
    } else {
      ++newest->name->second;
      runs_.push_back(Run{timestamp, end + item.weight, newest->name});
    }
  } else {
    runs_.push_back(Run{timestamp, end + item.weight, hold_name(item.name)});
  }
  clear_failing_rate();
  return true;
}

std::int64_t InMemoryBucket::leak(std::optional<Millis> current_timestamp) {
  if (closed()) return 0;
  const Millis now_ms = current_timestamp ? *current_timestamp : now();
  const Millis cutoff = window_start(now_ms, rates().back().interval);
  std::lock_guard lock(mutex_);
  const std::int64_t before = first_slot_;
  while (!runs_.empty() && runs_.front().timestamp < cutoff) pop_oldest_run();
  return first_slot_ - before;
}

InMemoryBucket::Name* InMemoryBucket::hold_name(const std::string& name) {
  Name& entry = *names_.try_emplace(name, 0).first;
  ++entry.second;
  return &entry;
}

void InMemoryBucket::pop_oldest_run() {
  const Run& oldest = runs_.front();
  first_slot_ = oldest.end;
  if (--oldest.name->second == 0) names_.erase(names_.find(oldest.name->first));
  runs_.pop_front();
  ++first_run_;
}

void InMemoryBucket::flush() {
  std::lock_guard lock(mutex_);
  throw_if_closed("flush");
  runs_.clear();
  names_.clear();
  first_slot_ = 0;
  first_run_ = 0;
  set_failing_rate(std::nullopt);
}

std::int64_t InMemoryBucket::count() {
  std::lock_guard lock(mutex_);
  throw_if_closed("count");
  return end_slot() - first_slot_;
}

std::optional<RateItem> InMemoryBucket::peek(std::int64_t index) {
  std::lock_guard lock(mutex_);
  throw_if_closed("peek");
  const std::int64_t end = end_slot();
  if (index < 0 || index >= end - first_slot_) return std::nullopt;
  const std::int64_t slot = end - 1 - index;
  const auto run =
      std::partition_point(runs_.begin(), runs_.end(), [&](const Run& r) { return r.end <= slot; });
  return RateItem{run->name->first, run->timestamp, 1};
}

void InMemoryBucket::close() {
  std::lock_guard lock(mutex_);
  runs_.clear();
  runs_.shrink_to_fit();
  names_.clear();
  first_slot_ = 0;
  first_run_ = 0;
  AbstractBucket::close();
}

}  // namespace pyrate
