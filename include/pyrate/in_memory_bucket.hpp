// A bucket held in this process's memory.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "pyrate/bucket.hpp"

namespace pyrate {

// A bucket whose slots live in memory and vanish with the process. Timestamps come from a
// MonotonicClock unless set_clock() replaces it.
//
// Costs: put and peek take O(log n) in the slots held (a binary search; nothing scans the
// log), leak O(removed). An item of any weight costs one entry, and consecutive items with
// the same name and timestamp share one. Thread-safe.
class InMemoryBucket final : public AbstractBucket {
 public:
  // Throws std::invalid_argument when `rates` is not a valid rate list once sorted.
  explicit InMemoryBucket(std::vector<Rate> rates);

  bool put(const RateItem& item) override;
  std::int64_t leak(std::optional<Millis> current_timestamp = std::nullopt) override;
  void flush() override;
  std::int64_t count() override;
  std::optional<RateItem> peek(std::int64_t index) override;
  void close() override;

 private:
  // Consecutive slots sharing a timestamp and a name. Slots are numbered in the order they
  // were put; a run holds the slots numbered from the previous run's `end` up to `end`.
  struct Run {
    Millis timestamp;
    std::int64_t end;
    std::shared_ptr<const std::string> name;
  };

  // Number of the first slot stamped at or after `timestamp`. Requires mutex_.
  std::int64_t first_slot_at_or_after(Millis timestamp) const;
  std::int64_t end_slot() const { return runs_.empty() ? first_slot_ : runs_.back().end; }

  std::mutex mutex_;
  std::deque<Run> runs_;
  std::int64_t first_slot_ = 0;  // number of the oldest slot held
};

}  // namespace pyrate
