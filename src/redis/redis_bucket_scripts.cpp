#include "redis/redis_bucket_scripts.hpp"

namespace pyrate::redis {
namespace {

// What every script shares: number formatting, the exact order of timestamps, and reading the
// entries set. Lua numbers are doubles: exact for integers within +-2^53.
constexpr const char* kPrelude = R"lua(
local entries, times, widest_key = KEYS[1], KEYS[2], KEYS[3]

-- An integer-valued number as a decimal string, in full (tostring would round it).
local function num(x) return string.format('%.0f', x) end

-- Whether timestamp a is before timestamp b, for decimal strings as std::to_string writes them:
-- exact over the whole 64-bit range.
local function before(a, b)
  local a_negative, b_negative = a:sub(1, 1) == '-', b:sub(1, 1) == '-'
  if a_negative ~= b_negative then return a_negative end
  if #a ~= #b then return (#a < #b) ~= a_negative end
  if a == b then return false end
  return (a < b) ~= a_negative
end

-- The parts of an entries member: one past its last slot number, timestamp, name.
local function parse(member)
  local first = string.find(member, ':', 1, true)
  local second = string.find(member, ':', first + 1, true)
  return tonumber(string.sub(member, 1, first - 1)), string.sub(member, first + 1, second - 1),
         string.sub(member, second + 1)
end

-- One past the newest slot's number and its timestamp; 0 and nil when the bucket is empty.
local function newest()
  local last = redis.call('ZRANGE', entries, -1, -1)
  if not last[1] then return 0, nil end
  local slot_end, stamp = parse(last[1])
  return slot_end, stamp
end

-- The number of the oldest slot held; nil when the bucket is empty.
local function oldest_slot()
  local first = redis.call('ZRANGE', entries, 0, 0, 'WITHSCORES')
  if not first[1] then return nil end
  return tonumber(first[2])
end

-- The entry holding slot number `slot`, which must be held.
local function holding(slot)
  return redis.call('ZREVRANGEBYSCORE', entries, num(slot), '-inf', 'LIMIT', 0, 1)[1]
end

-- The widest interval registered on the bucket, registering `widest` (a decimal string).
local function registered_widest(widest, register)
  local stored = redis.call('GET', widest_key)
  if stored and tonumber(stored) >= tonumber(widest) then return tonumber(stored) end
  if register then redis.call('SET', widest_key, widest) end
  return tonumber(widest)
end
)lua";

// ARGV: the item's stamp, weight, record ('1' or '0'), name, the widest interval of its rates,
// its stamp ceiling (core::stamp_ceiling), then each rate's limit and interval.
constexpr const char* kDecideBody = R"lua(
local stamp, weight, record, name = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1', ARGV[4]
local ceiling = ARGV[6]

local slot_end, newest_stamp = newest()
-- The clock-step rule of bucket.hpp: slots stamped past the ceiling count as stamped there,
-- and a decision that records moves them back to it.
if newest_stamp and before(ceiling, newest_stamp) then
  if record then
    for _, start_hex in ipairs(redis.call('ZRANGEBYSCORE', times, '(' .. ceiling, '+inf')) do
      local start = num(tonumber(start_hex, 16))
      local entry = redis.call('ZRANGEBYSCORE', entries, start, start)[1]
      local entry_end, _, entry_name = parse(entry)
      redis.call('ZREM', entries, entry)
      redis.call('ZADD', entries, start, num(entry_end) .. ':' .. ceiling .. ':' .. entry_name)
      redis.call('ZADD', times, ceiling, start_hex)
    end
  end
  newest_stamp = ceiling
end
if newest_stamp and before(stamp, newest_stamp) then stamp = newest_stamp end
local t = tonumber(stamp)
local highest = tonumber(ceiling)

-- The slots of the window starting at `start`, and the oldest one's timestamp.
local function window(start)
  local first = redis.call('ZRANGEBYSCORE', times, num(start), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if not first[1] then return 0, 0 end
  return slot_end - tonumber(first[1], 16), math.min(tonumber(first[2]), highest)
end

-- The timestamp of the slot at `position` from the newest.
local function timestamp_at(position)
  local _, at = parse(holding(slot_end - 1 - position))
  return math.min(tonumber(at), highest)
end

-- core::decide, rate by rate in ascending interval.
local admitted, failing, retry_after = true, -1, 0
local tightest, fewest_free, tightest_slots, tightest_oldest = 0, 0, 0, 0
local rate_count = (#ARGV - 6) / 2
for i = 1, rate_count do
  local limit, interval = tonumber(ARGV[5 + 2 * i]), tonumber(ARGV[6 + 2 * i])
  local slots, oldest = window(t - interval)
  local free = limit - slots
  local free_or_zero = free < 0 and 0 or free
  if i == 1 or free_or_zero < fewest_free then
    tightest, fewest_free, tightest_slots, tightest_oldest = i, free_or_zero, slots, oldest
  end
  if weight ~= 0 and free < weight then
    if admitted then admitted, failing = false, i end
    if retry_after >= 0 then
      if weight > limit then
        retry_after = -1
      else
        -- In this order every partial result stays within the window: exact.
        local wait = (timestamp_at(limit - weight) - t) + interval + 1
        if wait > retry_after then retry_after = wait end
      end
    end
  end
end

local remaining = fewest_free
if admitted and weight > 0 then
  remaining = remaining - weight
  if tightest_slots == 0 then tightest_oldest = t end
  tightest_slots = tightest_slots + weight
end
local reset_after = 0
if tightest_slots > 0 then
  reset_after = (tightest_oldest - t) + tonumber(ARGV[6 + 2 * tightest]) + 1
end

if record then
  if admitted and weight > 0 then
    if slot_end + weight > 9007199254740992 then
      return redis.error_reply('ERR pyrate: the slot numbers would pass 2^53; ' ..
                               'they start again once the bucket is leaked empty')
    end
    redis.call('ZADD', entries, num(slot_end), num(slot_end + weight) .. ':' .. stamp .. ':' .. name)
    redis.call('ZADD', times, stamp, string.format('%016x', slot_end))
  end
  -- Expire when no window of the server's clock can count a slot any more.
  local widest = registered_widest(ARGV[5], true)
  local time = redis.call('TIME')
  local server_now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  local ahead = math.min(math.max(t - server_now, 0), widest)
  local ttl = num(math.min(widest + ahead + 1, 1e15))
  redis.call('PEXPIRE', entries, ttl)
  redis.call('PEXPIRE', times, ttl)
  redis.call('PEXPIRE', widest_key, ttl)
  -- The rate list, as core::encode_rate_list writes it, for tools that list the buckets.
  local listed = {}
  for i = 1, rate_count do listed[i] = ARGV[5 + 2 * i] .. '/' .. ARGV[6 + 2 * i] end
  redis.call('SET', KEYS[4], table.concat(listed, ','), 'PX', ttl)
end

local failing_index = failing < 0 and -1 or failing - 1
return {admitted and '1' or '0', num(failing_index), num(retry_after), num(tightest - 1),
        num(remaining), num(reset_after)}
)lua";

constexpr const char* kCountBody = R"lua(
local oldest = oldest_slot()
if not oldest then return '0' end
local slot_end = newest()
return num(slot_end - oldest)
)lua";

constexpr const char* kCountSinceBody = R"lua(
local first = redis.call('ZRANGEBYSCORE', times, ARGV[1], '+inf', 'LIMIT', 0, 1)[1]
if not first then return '0' end
local slot_end = newest()
return num(slot_end - tonumber(first, 16))
)lua";

constexpr const char* kPeekBody = R"lua(
local oldest = oldest_slot()
if not oldest then return false end
local slot_end = newest()
local slot = slot_end - 1 - tonumber(ARGV[1])
if slot < oldest then return false end
local _, stamp, name = parse(holding(slot))
return {stamp, name}
)lua";

constexpr const char* kLeakBody = R"lua(
local oldest = oldest_slot()
if not oldest then return '0' end
local cutoff = tonumber(ARGV[1]) - registered_widest(ARGV[2], false)
local kept = redis.call('ZRANGEBYSCORE', times, num(cutoff), '+inf', 'LIMIT', 0, 1)[1]
local first_kept
if kept then first_kept = tonumber(kept, 16) else first_kept = newest() end
local removed = first_kept - oldest
if removed > 0 then
  redis.call('ZREMRANGEBYSCORE', entries, '-inf', '(' .. num(first_kept))
  redis.call('ZREMRANGEBYSCORE', times, '-inf', '(' .. num(cutoff))
end
return num(removed)
)lua";

}  // namespace

const std::string& decide_script() {
  static const std::string script = std::string(kPrelude) + kDecideBody;
  return script;
}

const std::string& count_script() {
  static const std::string script = std::string(kPrelude) + kCountBody;
  return script;
}

const std::string& count_since_script() {
  static const std::string script = std::string(kPrelude) + kCountSinceBody;
  return script;
}

const std::string& peek_script() {
  static const std::string script = std::string(kPrelude) + kPeekBody;
  return script;
}

const std::string& leak_script() {
  static const std::string script = std::string(kPrelude) + kLeakBody;
  return script;
}

}  // namespace pyrate::redis
