#include "memory/run_log.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "core/sliding_window.hpp"

namespace pyrate::memory {

// The log as core::decide sees it: each rate's window found from where the last decision
// found it.
class RunLog::Windows {
 public:
  explicit Windows(RunLog& log) : log_(log), end_(log.end_slot()) {}

  core::WindowCount window(std::size_t rate_index, Millis start) {
    std::int64_t& hint =
        rate_index == 0 ? log_.first_window_hint_ : log_.further_window_hints_[rate_index - 1];
    if (!log_.window_starts_at(hint, start)) hint = log_.first_run_at_or_after(start, hint);
    if (hint == log_.end_run()) return core::WindowCount{};
    return core::WindowCount{end_ - log_.first_slot_of_run(hint), log_.run(hint).timestamp};
  }

  Millis timestamp_at(std::int64_t position) {
    return log_.run_holding(end_ - 1 - position).timestamp;
  }

 private:
  RunLog& log_;
  const std::int64_t end_;
};

RunLog::RunLog(std::size_t rate_count)
    : further_window_hints_(rate_count > 1 ? std::make_unique<std::int64_t[]>(rate_count - 1)
                                           : nullptr) {}

Decision RunLog::decide(const std::vector<Rate>& rates, const RateItem& item, bool record) {
  const Millis ceiling = core::stamp_ceiling(item.timestamp);
  const Millis timestamp = core::decision_timestamp(
      item.timestamp, runs_.empty() ? std::nullopt : std::optional(runs_.back().timestamp));
  Windows windows(*this);
  core::CeilingView view(windows, ceiling);
  Decision decision = core::decide(rates, timestamp, item.weight, view);
  if (record) {
    move_back_after(ceiling);
    if (decision.admitted && item.weight > 0) this->record(item, timestamp);
  }
  return decision;
}

void RunLog::move_back_after(Millis ceiling) {
  for (std::size_t i = runs_.size(); i > 0 && runs_[i - 1].timestamp > ceiling; --i) {
    runs_[i - 1].timestamp = ceiling;
  }
}

void RunLog::record(const RateItem& item, Millis timestamp) {
  std::int64_t end = end_slot();
  if (end > std::numeric_limits<std::int64_t>::max() - item.weight) {
    // Slot numbers only need to grow within the slots held: start them again from 0.
    const std::int64_t shift = first_slot_;
    for (std::size_t i = 0; i < runs_.size(); ++i) runs_[i].end -= shift;
    first_slot_ = 0;
    end -= shift;
    if (end > std::numeric_limits<std::int64_t>::max() - item.weight) {
      throw std::overflow_error("the bucket would hold more than 2^63 - 1 slots: leak it first");
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
}

std::int64_t RunLog::first_run_at_or_after(Millis timestamp, std::int64_t hint) const {
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

const RunLog::Run& RunLog::run_holding(std::int64_t slot) const {
  // The first run whose end lies past the slot.
  std::size_t low = 0;
  std::size_t high = runs_.size() - 1;
  while (low < high) {
    const std::size_t middle = low + (high - low) / 2;
    if (runs_[middle].end <= slot) {
      low = middle + 1;
    } else {
      high = middle;
    }
  }
  return runs_[low];
}

std::int64_t RunLog::remove_before(Millis cutoff) {
  const std::int64_t before = first_slot_;
  while (!runs_.empty() && runs_.front().timestamp < cutoff) pop_oldest_run();
  return first_slot_ - before;
}

RunLog::Name* RunLog::hold_name(const std::string& name) {
  const auto held_in_names = [&]() -> Name* {
    if (!names_) return nullptr;
    const auto found = names_->find(name);
    return found == names_->end() ? nullptr : &*found;
  };
  Name* entry = first_name_ && first_name_->first == name ? &*first_name_ : held_in_names();
  if (entry == nullptr && !first_name_) entry = &first_name_.emplace(name, 0);
  if (entry == nullptr) {
    if (!names_) names_ = std::make_unique<std::unordered_map<std::string, std::int64_t>>();
    entry = &*names_->try_emplace(name, 0).first;
  }
  ++entry->second;
  return entry;
}

void RunLog::pop_oldest_run() {
  const Run& oldest = runs_.front();
  first_slot_ = oldest.end;
  if (--oldest.name->second == 0) {
    if (first_name_ && oldest.name == &*first_name_) {
      first_name_.reset();
    } else {
      names_->erase(names_->find(oldest.name->first));
    }
  }
  runs_.pop_front();
  ++first_run_;
}

void RunLog::clear(bool release_memory) {
  runs_.clear(release_memory);
  first_name_.reset();
  names_.reset();
  first_slot_ = 0;
  first_run_ = 0;
}

std::optional<RateItem> RunLog::peek(std::int64_t index) const {
  const std::int64_t end = end_slot();
  if (index < 0 || index >= end - first_slot_) return std::nullopt;
  const Run& holder = run_holding(end - 1 - index);
  return RateItem{holder.name->first, holder.timestamp, 1};
}

}  // namespace pyrate::memory
