// The Lua scripts of RedisBucket: each operation on a bucket is one of them, run atomically.
//
// A bucket's keys (see redis_bucket.hpp): KEYS[1] "entries", a sorted set with one member per
// recorded item, scored by its first slot number, the member being "END:TIMESTAMP:NAME" (one
// past its last slot number, its exact timestamp, its name); KEYS[2] "times", a sorted set with
// one member per item, scored by its timestamp, the member being its first slot number as 16
// hex digits (so that items of one timestamp sort by slot number); KEYS[3] "widest", the widest
// interval any rate list has used on the bucket; KEYS[4] "rates", the rate list the bucket was
// last checked with, as core::encode_rate_list writes it ("5/1000,100/60000"). Items are recorded
// in timestamp order and numbered on from the newest, so both sets list them in the same order and
// the slots of the window starting at T are END(newest) - first slot number of the first item
// stamped >= T.
#pragma once

#include <string>

namespace pyrate::redis {

// Decides on one item exactly as core::decide does (see core/sliding_window.hpp), with the item
// stamped no earlier than the newest slot, and records it when admitted and asked to; refreshes
// the keys' time to live, and records the rate list, when asked to record. KEYS: entries, times,
// widest, rates. ARGV: timestamp,
// weight, record ("1" or "0"), item name, widest interval of the caller's rates, then limit and
// interval of each rate in ascending interval. Returns {admitted, failing rate index or -1,
// retry_after, tightest rate index, remaining, reset_after}, as decimal strings.
const std::string& decide_script();

// The slots held. KEYS: entries. Returns a decimal string.
const std::string& count_script();

// The slots stamped at or after a timestamp. KEYS: entries, times. ARGV: timestamp. Returns a
// decimal string.
const std::string& count_since_script();

// The slot at an index from the newest. KEYS: entries. ARGV: index (>= 0). Returns {timestamp,
// name}, or nil past the oldest slot.
const std::string& peek_script();

// Removes the slots stamped before a timestamp minus the widest registered interval. KEYS:
// entries, times, widest. ARGV: timestamp, widest interval of the caller's rates. Returns how
// many slots it removed, as a decimal string.
const std::string& leak_script();

}  // namespace pyrate::redis
