// A bucket held in this process's memory.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pyrate/bucket.hpp"
#include "pyrate/mutex.hpp"

namespace pyrate {

// A bucket whose slots live in memory and vanish with the process. Timestamps come from a
// MonotonicClock unless set_clock() replaces it.
//
// Costs: put takes O(log d), d being how far each rate's window moved since the last put (O(1)
// while the clock advances steadily, never worse than O(log n) in the slots held), peek
// O(log n), leak O(removed); nothing scans the log. An item of any weight costs one entry, and
// consecutive items with the same name and timestamp share one. Thread-safe.
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
  // A name held once per bucket, with the number of runs that carry it.
  using Name = std::pair<const std::string, std::int64_t>;

  // Consecutive slots sharing a timestamp and a name. Slots are numbered in the order they
  // were put; a run holds the slots numbered from the previous run's `end` up to `end`.
  struct Run {
    Millis timestamp;
    std::int64_t end;
    Name* name;  // an entry of names_
  };

  // The entry of names_ for `name`, counting one more run that carries it. Requires mutex_.
  Name* hold_name(const std::string& name);
  // Forgets the oldest run. Requires mutex_.
  void pop_oldest_run();

  // Runs are numbered in the order they were put too; first_run_ is the number of runs_.front().
  // Number of the first run stamped at or after `timestamp`, searched outwards from the run
  // numbered `hint` (galloping, then binary search). Requires mutex_.
  std::int64_t first_run_at_or_after(Millis timestamp, std::int64_t hint) const;
  // Whether the run numbered `number` is the first stamped at or after `start`: true for the
  // hint of a window that has not moved since the last put. Requires mutex_.
  bool window_starts_at(std::int64_t number, Millis start) const {
    return number >= first_run_ && number <= end_run() &&
           (number == end_run() || run(number).timestamp >= start) &&
           (number == first_run_ || run(number - 1).timestamp < start);
  }
  const Run& run(std::int64_t number) const {
    return runs_[static_cast<std::size_t>(number - first_run_)];
  }
  std::int64_t end_run() const { return first_run_ + static_cast<std::int64_t>(runs_.size()); }
  // Number of the first slot of the run numbered `number` (end_slot() past the last run).
  std::int64_t first_slot_of_run(std::int64_t number) const {
    return number == first_run_ ? first_slot_ : run(number - 1).end;
  }
  std::int64_t end_slot() const { return runs_.empty() ? first_slot_ : runs_.back().end; }

  Mutex mutex_;
  std::deque<Run> runs_;
  std::unordered_map<std::string, std::int64_t> names_;  // the names of the runs held
  std::int64_t first_slot_ = 0;                          // number of the oldest slot held
  std::int64_t first_run_ = 0;                           // number of the oldest run held
  // For each rate, the first run of its window at the last put: where the next search starts.
  std::vector<std::int64_t> window_hints_;
};

}  // namespace pyrate
