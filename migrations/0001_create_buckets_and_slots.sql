-- Schema version 1: the buckets of a file and their slots.

-- One row per bucket. `name` is the bucket's key (any bytes); `rates` is the rate list the
-- bucket was last opened with, as comma-separated "limit/interval_ms" pairs sorted by interval.
CREATE TABLE buckets (
  id INTEGER PRIMARY KEY,
  name BLOB NOT NULL UNIQUE,
  rates TEXT NOT NULL
);

-- One row per admitted item: an item of weight W holds the W slots numbered start_seq to
-- start_seq + W - 1. Within a bucket the numbers run on without gaps in timestamp order, so
-- the slots stamped at or after a time T number (end of the newest row) - (start_seq of the
-- first row stamped at or after T): two index seeks, whatever the size of the window.
CREATE TABLE slots (
  bucket_id INTEGER NOT NULL REFERENCES buckets (id),
  start_seq INTEGER NOT NULL,
  timestamp INTEGER NOT NULL,
  weight INTEGER NOT NULL CHECK (weight > 0),
  name BLOB NOT NULL,
  PRIMARY KEY (bucket_id, start_seq)
) WITHOUT ROWID;

-- Finds the first slot of a window; being on a WITHOUT ROWID table it also holds start_seq.
CREATE INDEX slots_by_timestamp ON slots (bucket_id, timestamp);
