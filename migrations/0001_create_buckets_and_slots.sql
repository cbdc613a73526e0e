-- Schema version 1: the buckets of a file and their slots.

-- One row per bucket. `name` is the bucket's key (any bytes); `rates` is the rate list the
-- bucket was last opened with, as comma-separated "limit/interval_ms" pairs sorted by interval.
CREATE TABLE buckets (
  id INTEGER PRIMARY KEY,
  name BLOB NOT NULL UNIQUE,
  rates TEXT NOT NULL
);

-- One row per admitted item: an item of weight W holds the W slots numbered start_seq to
-- start_seq + W - 1. Within a bucket the numbers run on without gaps, and timestamps never
-- decrease as they grow, so the slots stamped at or after a time T number (end of the newest
-- row) - (start_seq of the first row stamped at or after T): two seeks, whatever the size of
-- the window.
--
-- The primary key is the index by time: rows are stored in (bucket, timestamp) order, so an
-- admission writes one b-tree, and leaking a bucket's oldest rows deletes a contiguous range.
CREATE TABLE slots (
  bucket_id INTEGER NOT NULL REFERENCES buckets (id),
  timestamp INTEGER NOT NULL,
  start_seq INTEGER NOT NULL,
  weight INTEGER NOT NULL CHECK (weight > 0),
  name BLOB NOT NULL,
  PRIMARY KEY (bucket_id, timestamp, start_seq)
) WITHOUT ROWID;
