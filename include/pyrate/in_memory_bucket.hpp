// A bucket held in this process's memory.
#pragma once

#include <memory>
#include <optional>

#include "pyrate/bucket.hpp"
#include "pyrate/export.hpp"

namespace pyrate {

// A bucket whose slots live in memory and vanish with the process. Timestamps come from a
// MonotonicClock unless set_clock() replaces it.
//
// Costs: admit and put take O(log d), d being how far each rate's window moved since the last
// admission (O(1) while the clock advances steadily, never worse than O(log n) in the slots
// held); a refusal adds O(log n) per full rate for its wait; peek takes O(log n), leak
// O(removed); nothing scans the log. An item of any weight costs one entry, and consecutive
// items with the same name and timestamp share one. Thread-safe: every call takes the
// bucket's own lock once.
//
// Limits: put() and admit() throw std::overflow_error, recording nothing, when the bucket would
// hold more than 2^63 - 1 slots (leaking makes room; slot numbers start again as it does).
// Decisions at the edges of Millis saturate: no wait or reset is ever negative but the -1 of a
// weight that can never fit.
class PYRATE_EXPORT InMemoryBucket final : public AbstractBucket {
 public:
  // Throws std::invalid_argument when `rates` is not a valid rate list once sorted.
  explicit InMemoryBucket(std::vector<Rate> rates);
  ~InMemoryBucket() override;

  bool put(const RateItem& item) override;
  Decision admit(const RateItem& item) override;
  std::int64_t leak(std::optional<Millis> current_timestamp = std::nullopt) override;
  void flush() override;
  std::int64_t count() override;
  std::optional<RateItem> peek(std::int64_t index) override;
  Millis waiting(const RateItem& item) override;
  void close() override;
  // False: every call returns at once.
  bool may_block() const noexcept override { return false; }

 private:
  class SlotLog;
  std::unique_ptr<SlotLog> log_;
};

}  // namespace pyrate
