-- The indexes a restore pages its lanes by: see
-- migrations/postgres/0003_lane_indexes.sql for the lanes and why each
-- index is partial. The expression must read exactly as `PARTITION_SEQ` in
-- src/index/sql.rs: SQLite uses an index on an expression only for a query
-- that repeats it. uuid is lower-case hyphenated TEXT, whose BINARY order
-- is the UUID's byte order.
CREATE INDEX messages_topic_partition_offset_idx
    ON messages (topic, "partition", COALESCE(kafka_offset, "timestamp"), uuid)
    WHERE "partition" IS NOT NULL;

CREATE INDEX messages_topic_unpartitioned_timestamp_idx
    ON messages (topic, "timestamp", uuid)
    WHERE "partition" IS NULL;
