// The bucket interface: a sliding-window log of unit slots checked against a list of rates.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "pyrate/clock.hpp"
#include "pyrate/decision.hpp"
#include "pyrate/export.hpp"
#include "pyrate/limiter_lock.hpp"
#include "pyrate/rate.hpp"

namespace pyrate {

// How far ahead of an item's timestamp the built-in buckets still take a slot's stamp as it is
// (see "Clock steps" below): longer than any lock or busy wait an item may meet between being
// stamped and being decided with the default options, so that ordinary lateness never moves a
// slot, and short next to the error of a clock that was wrong.
inline constexpr Millis kClockStepTolerance = 60'000;

// A bucket records admitted items as unit slots: an item of weight W holds W slots, all
// stamped with the item's timestamp, all-or-nothing. Slots are kept in non-decreasing
// timestamp order; an item older than the newest slot is checked, recorded and waited for as
// if it carried the newest slot's timestamp, so a clock that steps backwards never admits more
// than a rate allows.
//
// Clock steps (the built-in buckets). An item is never stamped later than its own timestamp
// plus kClockStepTolerance: a slot stamped further ahead than that (a clock that was wrong, a
// large backward step, another process's clock) counts, for the item and for every later
// decision, as stamped at that ceiling; a decision that records moves such slots back to it in
// the store. So:
// - a clock that steps backwards, or slots from a clock that ran ahead, never admit more than a
//   limit within any window of the bucket's current clock: a slot is only ever moved back,
//   which keeps it counted in the current window;
// - however far ahead a slot was stamped, the delay it causes is at most the widest interval
//   plus kClockStepTolerance from the first decision after it;
// - lateness below the tolerance (an item stamped, then delayed by a lock or a busy database
//   before it was decided) is clamped to the newest slot, as above, and moves nothing.
// leak() removes by the stamps as stored.
//
// Every method is safe to call from several threads at once (the Leaker calls leak() while
// callers put()).
class PYRATE_EXPORT AbstractBucket {
 public:
  // Sorts `rates` by interval, then validates them with validate_rate_list.
  // Throws std::invalid_argument, listing the rates, when they are invalid.
  explicit AbstractBucket(std::vector<Rate> rates);
  virtual ~AbstractBucket();

  AbstractBucket(const AbstractBucket&) = delete;
  AbstractBucket& operator=(const AbstractBucket&) = delete;

  // The rates, sorted by interval.
  const std::vector<Rate>& rates() const noexcept { return rates_; }

  // The rate that refused the last refused put(); nullopt after a successful put() of a
  // positive weight, after flush(), and before any put().
  std::optional<Rate> failing_rate() const;

  // Replaces the source of now(). The bucket shares ownership of `clock`, and keeps every clock
  // it was given until it is destroyed.
  // Throws std::invalid_argument for a null clock.
  void set_clock(std::shared_ptr<Clock> clock);

  // The current time of the bucket's clock, in milliseconds.
  virtual Millis now();

  // Records `item` if every rate still has room for its weight: for each rate, in ascending
  // interval, the slots stamped at or after `item.timestamp - rate.interval` are counted.
  // Returns false and sets failing_rate() to the first full rate otherwise; nothing is
  // recorded then. Weight 0 is admitted, records nothing and leaves failing_rate() alone.
  // The built-in buckets' put() is admit(item).admitted.
  // Throws std::invalid_argument for a negative weight, std::logic_error after close().
  virtual bool put(const RateItem& item) = 0;

  // put(), and the report of the same look at the bucket: whether `item` was recorded, the
  // first rate without room, the wait until it fits every rate, and the tightest rate's free
  // slots and reset (see Decision). Sets failing_rate() as put() does.
  // The built-in buckets decide in one atomic step (one lock hold, one SQLite transaction),
  // so that no other caller's put can come between the verdict and the numbers. This default,
  // for buckets written outside pyrate, calls put(), then waiting() and peek(), and is only
  // as atomic as those calls are together.
  // Throws what put() throws.
  virtual Decision admit(const RateItem& item);

  // Removes every slot stamped before `current_timestamp` (default: now()) minus the widest
  // interval and returns how many slots it removed. Returns 0 after close().
  virtual std::int64_t leak(std::optional<Millis> current_timestamp = std::nullopt) = 0;

  // Removes every slot and clears failing_rate(). Throws std::logic_error after close().
  virtual void flush() = 0;

  // The slots held, expired but not yet leaked ones included.
  // Throws std::logic_error after close().
  virtual std::int64_t count() = 0;

  // The slot at position `index` counting from the newest (0 = newest), as a RateItem with
  // the name and timestamp of the item that put it and weight 1; nullopt when `index` is
  // negative or not below count(). Throws std::logic_error after close().
  virtual std::optional<RateItem> peek(std::int64_t index) = 0;

  // Milliseconds until `item` could fit. The built-in buckets look at every rate: 0 when each
  // has room for the item; -1 when its weight exceeds a rate's limit, so it can never fit;
  // otherwise the largest, over the rates without room, of the time until the slot that must
  // expire for it to fit leaves that rate's window (peek(limit - weight).timestamp -
  // (timestamp - interval) + 1, counted in that window): admit(item).retry_after in the same
  // state. This default judges against failing_rate() alone: 0 when no rate is failing, -1
  // when the weight exceeds its limit, otherwise that formula for it.
  // Throws std::logic_error after close().
  virtual Millis waiting(const RateItem& item);

  // The lock that callers must hold around put() when the bucket is shared with other
  // processes; nullptr (the default) when the bucket is private to this process.
  virtual LimiterLock* limiter_lock();

  // True (the default) when a call may wait on storage, the network or another process, so
  // that an AsyncLimiter runs it on its blocking threads; false when every call returns at
  // once, so that it is called inline on an executor's thread.
  virtual bool may_block() const noexcept { return true; }

  // Releases the bucket's resources. Idempotent. Afterwards put, flush, count, peek and
  // waiting throw std::logic_error, and leak returns 0.
  virtual void close();

 protected:
  // Records the rate that refused a put. `rate` must be nullopt or one of rates();
  // throws std::invalid_argument otherwise.
  void set_failing_rate(std::optional<Rate> rate);
  // set_failing_rate(std::nullopt), for the hot path of put. It writes only when a rate is
  // failing, so that a bucket admitting from several threads does not make each of them take
  // the line back from the others to store what it already holds.
  void clear_failing_rate() noexcept {
    if (failing_rate_index_.load(std::memory_order_relaxed) != -1) {
      failing_rate_index_.store(-1, std::memory_order_release);
    }
  }

  // True once close() has run.
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  // Throws std::logic_error naming `operation` once close() has run.
  void throw_if_closed(const char* operation) const {
    if (closed()) throw_closed(operation);
  }

  // Throws std::invalid_argument when `item.weight` is negative.
  static void check_weight(const RateItem& item) {
    if (item.weight < 0) throw_negative_weight(item.weight);
  }

 private:
  [[noreturn]] static void throw_closed(const char* operation);
  [[noreturn]] static void throw_negative_weight(std::int64_t weight);

  std::vector<Rate> rates_;
  std::atomic<int> failing_rate_index_{-1};
  // now() reads clock_ without taking a reference; every clock ever set stays in clocks_
  // (made on the first set_clock; until then clock_ is a MonotonicClock shared by every
  // bucket), so a now() under way on a replaced clock never outlives it.
  struct ClockHistory;
  std::atomic<Clock*> clock_;
  std::unique_ptr<ClockHistory> clocks_;
  std::atomic<bool> closed_{false};
};

}  // namespace pyrate
