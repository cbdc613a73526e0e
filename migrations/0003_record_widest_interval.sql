-- Schema version 3: the widest interval each bucket keeps.

-- Processes may open one bucket with different rate lists, each enforcing its own; leaking must
-- never remove a slot that one of those lists still counts. `widest_interval` is the widest
-- interval, in ms, of every rate list the bucket has been opened with, and every leak of the
-- bucket keeps the slots inside it. It only grows (flush empties a bucket whatever its lists).
ALTER TABLE buckets ADD COLUMN widest_interval INTEGER NOT NULL DEFAULT 0;

-- The lists already recorded: `rates` is sorted by interval, so its widest interval is the
-- number after the last '/'.
UPDATE buckets SET widest_interval = CAST(substr(rates, length(rtrim(rates, '0123456789')) + 1)
                                          AS INTEGER);
