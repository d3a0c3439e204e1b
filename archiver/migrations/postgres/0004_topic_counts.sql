-- Exact per-topic statistics that stay cheap to read at any size
-- (`Index::topic_stats`, `archiver status`, `GET /topics`, an unbounded
-- `GET /messages/count`, upstream's `topics`).
--
-- An append-only table of deltas, summed when read. Every batch insert
-- adds, in the same statement, one row per topic for the rows it really
-- inserted (ON CONFLICT DO NOTHING ... RETURNING says which); a retraction
-- adds +1 or -1 `retracted` in the same statement as the UPDATE that
-- changed the flag. There is no unique key, so concurrent writers never
-- wait for each other here: upstream's per-row trigger on one row per
-- topic serialised every concurrent insert on a topic. The index compacts
-- the table now and then (src/index/postgres.rs `COMPACT`: a topic's deltas
-- deleted and their sum inserted, in one statement), so it holds a few
-- rows per topic.
--
-- `earliest_ms`/`latest_ms` are NULL in a delta that adds no message (a
-- retraction); MIN and MAX skip them. Rows of `messages` are never
-- deleted; a tool that ever deletes one must add the negative delta and
-- recompute the topic's earliest/latest.
CREATE TABLE topic_counts (
    topic        text   NOT NULL,
    messages     bigint NOT NULL,
    size_bytes   bigint NOT NULL,
    earliest_ms  bigint NULL,
    latest_ms    bigint NULL,
    -- rows with a claimed_uuid: stored under the derived UUID because
    -- another message held the client's `_id`
    conflicts    bigint NOT NULL,
    retracted    bigint NOT NULL
);

-- The rows already archived. Inserts wait for the backfill (SHARE blocks
-- writers, not readers), so no row is counted twice or missed by an
-- archiver of this version; archivers of an older version must be
-- stopped for the upgrade, as their inserts add no deltas.
LOCK TABLE messages IN SHARE MODE;

INSERT INTO topic_counts (topic, messages, size_bytes, earliest_ms, latest_ms, conflicts, retracted)
SELECT topic, count(*), COALESCE(sum(size), 0), min("timestamp"), max("timestamp"),
       count(claimed_uuid), count(*) FILTER (WHERE retracted)
FROM messages
GROUP BY topic;

-- Upstream's `topics` (migration 0002) over the deltas: same columns and
-- types, every row counted (retracted ones included), no scan of `messages`.
CREATE OR REPLACE VIEW topics AS
SELECT topic,
       min(earliest_ms)          AS e_timestamp,
       max(latest_ms)            AS l_timestamp,
       sum(messages)::bigint     AS n_messages
FROM topic_counts
GROUP BY topic;
