-- Exact per-topic statistics, cheap to read at any size: see
-- migrations/postgres/0004_topic_counts.sql for the design. SQLite has one
-- writer at a time, so the deltas never contend anyway; they are kept the
-- same way so that both backends answer alike. Migrations run inside
-- BEGIN IMMEDIATE (src/index/sqlite.rs), so no insert lands between the
-- backfill and the first delta.
CREATE TABLE topic_counts (
    topic        TEXT    NOT NULL,
    messages     INTEGER NOT NULL,
    size_bytes   INTEGER NOT NULL,
    earliest_ms  INTEGER NULL,
    latest_ms    INTEGER NULL,
    conflicts    INTEGER NOT NULL,
    retracted    INTEGER NOT NULL
) STRICT;

INSERT INTO topic_counts (topic, messages, size_bytes, earliest_ms, latest_ms, conflicts, retracted)
SELECT topic, count(*), COALESCE(sum(size), 0), min("timestamp"), max("timestamp"),
       count(claimed_uuid), sum(retracted)
FROM messages
GROUP BY topic;

DROP VIEW topics;
CREATE VIEW topics AS
SELECT topic,
       min(earliest_ms) AS e_timestamp,
       max(latest_ms)   AS l_timestamp,
       sum(messages)    AS n_messages
FROM topic_counts
GROUP BY topic;
