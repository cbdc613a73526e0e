-- Schema version 2: slots found by their number.

-- The slot at position i from the newest is the slot numbered (end of the newest row) - 1 - i:
-- its row is the last one of the bucket whose start_seq is not above that number, one seek in
-- this index. A refused admission finds the slot whose expiry lets it in this way, and peek()
-- the slot it shows, instead of binary-searching timestamps.
CREATE INDEX slots_by_number ON slots (bucket_id, start_seq);
