-- A restore walks its selection lane by lane (`Index::lanes`,
-- `Index::lane_page`): one topic's rows of one Kafka partition in offset
-- order, then the topic's rows without a partition (direct uploads,
-- reindexed objects) in timestamp order, each page keyset-paged on
-- (sequence, uuid). These indexes serve those pages in
-- their order, so a page costs its own rows whatever the lane's length.
-- Indexes only: the table keeps upstream's shape.
--
-- A partition lane's sequence is the offset, or the timestamp of a row with
-- a partition and no offset (the archiver writes none; the schema allows
-- it). The expression is spelled exactly as `PARTITION_SEQ` in
-- src/index/sql.rs: the planner uses the index only for a query that
-- repeats it. Each index is partial, so no row is indexed twice.
CREATE INDEX messages_topic_partition_offset_idx
    ON messages (topic, "partition", (COALESCE(kafka_offset, "timestamp")), uuid)
    WHERE "partition" IS NOT NULL;

CREATE INDEX messages_topic_unpartitioned_timestamp_idx
    ON messages (topic, "timestamp", uuid)
    WHERE "partition" IS NULL;
