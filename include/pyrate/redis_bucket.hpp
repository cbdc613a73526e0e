// A bucket kept on a Redis server, so that processes on many hosts share one exact limit.
// Not included by pyrate.hpp: include it on its own, and link hiredis (pkg-config pyrate does).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pyrate/bucket.hpp"
#include "pyrate/export.hpp"
#include "pyrate/per_name_bucket_factory.hpp"
#include "pyrate/rate.hpp"
#include "pyrate/stored_bucket.hpp"

namespace pyrate {

namespace redis {
class BucketServer;
}

struct PYRATE_EXPORT RedisOptions {
  // The server: "redis://[[user]:password@]host[:port][/db]" (port 6379 and database 0 by
  // default; user and password percent-decoded and sent with AUTH, the database selected with
  // SELECT) or "unix://[[user]:password@]/path/to/redis.sock[?db=N]". Default
  // "redis://127.0.0.1:6379". Error messages name it without the user and password.
  std::string url = "redis://127.0.0.1:6379";
  // The bucket's key on the server; many buckets share one server. Any bytes. Default
  // "rate_bucket".
  std::string bucket = "rate_bucket";
  // Prepended to every key the bucket uses. Default "pyrate:".
  std::string key_prefix = "pyrate:";
  // How long opening a connection may take; 0 means no limit. Default 1 s.
  std::chrono::milliseconds connect_timeout{1000};
  // How long one command may wait for the server's answer (and to be sent); 0 means no limit.
  // Default 1 s.
  std::chrono::milliseconds command_timeout{1000};
};

// A bucket whose slots live on a Redis server (5.0 or later): every process, on any host, that
// opens the same server and bucket shares its limits, and they hold while the server keeps its
// data (across restarts with appendonly and appendfsync always).
//
// Storage. The bucket's keys are key_prefix + "{" + bucket + "}" + ":entries", ":times",
// ":widest" and ":rates", so that they share a hash tag and one cluster slot. An item of any weight
// is one entry: ":entries" is a sorted set scored by the item's first slot number whose member
// holds one past its last slot number, its timestamp and its name; ":times" indexes the same
// entries by timestamp. Slot numbers run on from entry to entry, so a window's slot count is the
// newest entry's end minus the first slot number of the window's first entry: one seek, whatever
// the window holds. ":widest" records the widest interval any rate list has used on the bucket;
// leak() never removes a slot that it still counts. ":rates" records the rate list of the last
// put() or admit() ("5/1000,100/60000", limit/interval in ms), so that tools such as
// `pyrate status` (see list_redis_buckets) work on a bucket without being told its rates.
//
// Atomicity and cost. admit(), put() and waiting() are one Lua script each (EVALSHA, and EVAL
// when the server lost its script cache: after a restart, a failover or SCRIPT FLUSH) that
// checks every rate and records the item in the same step, and returns every field of the
// Decision: one round trip, O(log n) in the entries held, a refusal adding one seek per full
// rate. count(), peek() and leak() are one script each too (leak also O(removed)); flush() is
// one DEL.
//
// Clocks. The default clock is the server's (TIME: one round trip per now()), so that hosts
// whose clocks disagree share one exact limit. set_clock() replaces it (for tests, or a clock
// of the caller's choice). Either way, the script records an item with the later of its
// timestamp and the bucket's newest slot's, so the recorded timestamps never decrease and no
// window of recorded timestamps holds more slots than its rate allows, whatever the clocks say.
// What clocks that disagree by up to s ms (set_clock in some processes) cost is where the
// windows lie in time: every timestamp stays within s of the server's time when the item was
// stamped (within s plus the round trip of when it was recorded), so a window of `interval`
// in real time holds at most the slots of ceil((interval + 2s + 1) / (interval + 1)) windows.
// Numbers. The scripts compute in Lua numbers, doubles, which hold every integer up to 2^53 - 1
// exactly: rate limits and intervals must not exceed it (the constructor throws
// std::invalid_argument), so that every count, wait and reset is exact; a larger weight, which
// never fits, is refused whatever its size (retry_after -1). Timestamps are compared exactly within
// +-2^53 ms (285,000 years around 1970), at double precision beyond. Slot numbers must stay at most
// 2^53: an admission that would pass it throws StorageError and records nothing (they start again
// from 0 once the bucket is leaked empty or expires).
//
// Expiry. Each put() or admit() (admitted or refused) refreshes the keys' time to live (all
// four of them) to the
// widest registered interval, plus how far the newest slot's timestamp runs ahead of the server's
// clock (at most one more widest interval), plus 1 ms: a bucket left alone that long holds no slot
// that any window of the server's clock still counts, and vanishes from the server.
//
// Connections. Each bucket keeps a pool of up to 4 connections, opened on first need and
// reused; a call borrows one for its round trip, waiting while all 4 are busy, so calls from
// several threads run in parallel. The buckets of one per_name_redis_factory share one pool,
// whatever the number of names. A connection that broke, or whose server went away (checked
// before each command), is opened again, with AUTH, SELECT and the command timeout, before its
// next command: after a server restart the bucket works again by itself. A bucket must not be
// used in a child process after fork(); make a new one there.
//
// Errors. A server that cannot be reached or does not answer in time: StorageUnavailableError.
// Any other failure (an error reply, a wrong password, a missing database): StorageError. Both
// name the URL without its user and password, the operation and the server's or hiredis's
// message. A call that fails admits nothing; the item may have been recorded when the server
// went away after running the script but before answering (over-counting, never
// under-counting).
//
// Thread-safe: every method may be called from several threads at once.
class PYRATE_EXPORT RedisBucket final : public AbstractBucket {
 public:
  // Connects (one connection, AUTH and SELECT as the URL says) and loads the scripts, so that a
  // wrong URL, password or database fails here. Timestamps come from the server's clock.
  // Throws std::invalid_argument for an invalid rate list, a limit or interval above 2^53 - 1,
  // a malformed URL or a negative timeout (the message never holds the password);
  // StorageUnavailableError when the server cannot be reached; StorageError when it refuses the
  // connection's setup.
  explicit RedisBucket(std::vector<Rate> rates, RedisOptions options = {});
  // The bucket `bucket` under `key_prefix` on `server`, whose connections and loaded scripts
  // other buckets share (see per_name_redis_factory, which makes these). Talks to no server.
  // Throws std::invalid_argument for an invalid rate list.
  PYRATE_NO_EXPORT RedisBucket(std::vector<Rate> rates, std::shared_ptr<redis::BucketServer> server,
                               std::string bucket, const std::string& key_prefix);
  ~RedisBucket() override;

  // The URL as error messages name it: without user and password.
  const std::string& url() const;
  // The bucket's key on the server.
  const std::string& bucket_name() const;

  // The slots stamped at or after `timestamp`: one script. Throws std::logic_error after
  // close(), StorageUnavailableError or StorageError as the class comment says.
  std::int64_t count_since(Millis timestamp);

  // Each throws StorageUnavailableError or StorageError as the class comment says.
  bool put(const RateItem& item) override;
  Decision admit(const RateItem& item) override;
  Millis waiting(const RateItem& item) override;
  std::int64_t leak(std::optional<Millis> current_timestamp = std::nullopt) override;
  void flush() override;
  std::int64_t count() override;
  std::optional<RateItem> peek(std::int64_t index) override;
  // Lets the connections go: they close once no other bucket shares them (per-name buckets
  // share them with their factory) and no call under way uses them. Idempotent; never
  // throws. The server's clock, when it is the bucket's, throws std::logic_error from now()
  // afterwards.
  void close() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A factory whose every name gets its own RedisBucket of `rates` on the server
// `options.url`, stored under the bucket key `options.bucket + "/" + name` (so `pyrate status
// --db URL` lists it and `pyrate acquire --db URL --bucket PREFIX/NAME` shares its limit), with
// `options.key_prefix` and the timeouts of `options`. Every name shares one pool of at most 4
// connections and one copy of the loaded scripts: making a name's bucket talks to no server.
// A name whose bucket left memory (it held no slot inside its widest interval after the
// factory's leak) is made again from what the server holds, so nothing is forgotten; the
// server's keys of an idle name expire by themselves. The connections close when the factory
// and every bucket it made are gone.
// Throws std::invalid_argument for an invalid rate list and, at once, what the RedisBucket
// constructor throws for the server.
PYRATE_EXPORT std::shared_ptr<PerNameBucketFactory> per_name_redis_factory(std::vector<Rate> rates,
                                                                           RedisOptions options);

// The buckets on the server `options.url` under `options.key_prefix`, ordered by name
// (bytewise), each with the rate list of its last put() or admit(): those whose keys have not
// expired. Walks the keys with SCAN (never KEYS), so that the server keeps serving others
// meanwhile; a bucket made or expired during the walk may be listed or not. `options.bucket`
// is not used. Throws std::invalid_argument for a malformed URL or a negative timeout;
// StorageUnavailableError or StorageError as RedisBucket does.
PYRATE_EXPORT std::vector<StoredBucket> list_redis_buckets(const RedisOptions& options);

}  // namespace pyrate
