// The slots of one in-memory bucket, kept as runs in a deque.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "memory/circular_queue.hpp"
#include "pyrate/decision.hpp"
#include "pyrate/rate.hpp"

namespace pyrate::memory {

// A sliding-window log of unit slots stored as runs: consecutive slots sharing a timestamp and
// a name are one entry, whatever their number. Slots and runs are numbered in the order they
// were recorded, so the slots of a window are counted by finding its first run, without
// scanning; each name is held once, counted by the runs that carry it.
// Not thread-safe: its owner serialises every call.
class RunLog {
 public:
  // A log checked against lists of `rate_count` rates.
  explicit RunLog(std::size_t rate_count);

  // The decision on `item` (weight >= 0) against `rates` (sorted, valid, of the size given to
  // the constructor), made by core::decide with the item stamped by core::decision_timestamp
  // and slots past core::stamp_ceiling seen at it. With `record`, those slots are moved back to
  // the ceiling, and an admitted item's slots are recorded with its stamp.
  Decision decide(const std::vector<Rate>& rates, const RateItem& item, bool record);

  // Removes the slots stamped before `cutoff`; returns how many.
  std::int64_t remove_before(Millis cutoff);
  // Removes every slot; with `release_memory`, also gives the deque's memory back.
  void clear(bool release_memory = false);
  // The slots held.
  std::int64_t count() const { return end_slot() - first_slot_; }
  // The slot at `index` counting from the newest, as a weight-1 item; nullopt outside
  // [0, count()).
  std::optional<RateItem> peek(std::int64_t index) const;

 private:
  class Windows;

  // A name held once per log, with the number of runs that carry it.
  using Name = std::pair<const std::string, std::int64_t>;
  // The slots numbered from the previous run's `end` up to `end`.
  struct Run {
    Millis timestamp = 0;
    std::int64_t end = 0;
    Name* name = nullptr;  // first_name_ or an entry of names_
  };

  void record(const RateItem& item, Millis timestamp);
  // Restamps the slots stamped after `ceiling` with `ceiling`.
  void move_back_after(Millis ceiling);
  // The entry for `name`, counting one more run that carries it: first_name_ when it holds
  // `name` or holds none (and names_ does not hold `name`), else one of names_.
  Name* hold_name(const std::string& name);
  void pop_oldest_run();

  // Number of the first run stamped at or after `timestamp`, searched outwards from the run
  // numbered `hint` (galloping, then binary search).
  std::int64_t first_run_at_or_after(Millis timestamp, std::int64_t hint) const;
  // Whether the run numbered `number` is the first stamped at or after `start`: true for the
  // hint of a window that has not moved since the last decision.
  bool window_starts_at(std::int64_t number, Millis start) const {
    return number >= first_run_ && number <= end_run() &&
           (number == end_run() || run(number).timestamp >= start) &&
           (number == first_run_ || run(number - 1).timestamp < start);
  }
  // The run holding the slot numbered `slot`, which must be held.
  const Run& run_holding(std::int64_t slot) const;
  const Run& run(std::int64_t number) const {
    return runs_[static_cast<std::size_t>(number - first_run_)];
  }
  std::int64_t end_run() const { return first_run_ + static_cast<std::int64_t>(runs_.size()); }
  // Number of the first slot of the run numbered `number` (end_slot() past the last run).
  std::int64_t first_slot_of_run(std::int64_t number) const {
    return number == first_run_ ? first_slot_ : run(number - 1).end;
  }
  std::int64_t end_slot() const { return runs_.empty() ? first_slot_ : runs_.back().end; }

  CircularQueue<Run> runs_;
  // The names of the runs held. Most logs hold one name at a time (a per-name bucket's, a
  // single caller's): it lives in first_name_, and names_ is made for a second.
  std::optional<Name> first_name_;
  std::unique_ptr<std::unordered_map<std::string, std::int64_t>> names_;
  std::int64_t first_slot_ = 0;  // number of the oldest slot held
  std::int64_t first_run_ = 0;   // number of the oldest run held
  // For each rate, the first run of its window at the last decision: where the next search
  // starts. The first rate's is held here, so that a log of one rate allocates none.
  std::int64_t first_window_hint_ = 0;
  std::unique_ptr<std::int64_t[]> further_window_hints_;  // the other rates', 0 at first
};

}  // namespace pyrate::memory
