-- The archive index for the embedded default: the same logical schema as
-- migrations/postgres/0001_messages.sql, in SQLite's terms.
--
-- * uuid / claimed_uuid: TEXT, lower-case hyphenated (Uuid::hyphenated).
-- * booleans: INTEGER 0/1. STRICT tables accept no BOOLEAN type name.
-- * STRICT makes SQLite refuse values of the wrong storage class, so a row
--   is either well-typed or not written at all.
CREATE TABLE messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    topic           TEXT    NOT NULL,
    "timestamp"     INTEGER NOT NULL,
    uuid            TEXT    NOT NULL,
    size            INTEGER NOT NULL,
    "key"           TEXT    NOT NULL,
    bucket          TEXT    NOT NULL,
    crc32           INTEGER NOT NULL,
    is_client_uuid  INTEGER NOT NULL,
    public          INTEGER NOT NULL,
    direct_upload   INTEGER NOT NULL,
    message_crc32   INTEGER NOT NULL,
    title           TEXT    NOT NULL DEFAULT '',
    sender          TEXT    NOT NULL DEFAULT '',
    media_type      TEXT    NOT NULL DEFAULT '',
    file_name       TEXT    NOT NULL DEFAULT '',
    originator      TEXT    NOT NULL DEFAULT '',
    retracted       INTEGER NOT NULL DEFAULT 0,
    -- ours
    "partition"     INTEGER NULL,
    kafka_offset    INTEGER NULL,
    timestamp_type  TEXT    NOT NULL,
    ingested_at     INTEGER NOT NULL,
    fingerprint     BLOB    NOT NULL,
    claimed_uuid    TEXT    NULL,
    CONSTRAINT messages_uuid_idx UNIQUE (uuid),
    CONSTRAINT messages_uuid_form CHECK (length(uuid) = 36 AND uuid = lower(uuid)),
    CONSTRAINT messages_claimed_uuid_form
        CHECK (claimed_uuid IS NULL OR (length(claimed_uuid) = 36 AND claimed_uuid = lower(claimed_uuid))),
    CONSTRAINT messages_fingerprint_len CHECK (length(fingerprint) = 32),
    CONSTRAINT messages_crc32_range CHECK (crc32 BETWEEN 0 AND 4294967295),
    CONSTRAINT messages_message_crc32_range CHECK (message_crc32 BETWEEN 0 AND 4294967295),
    CONSTRAINT messages_booleans
        CHECK (is_client_uuid IN (0, 1) AND public IN (0, 1)
               AND direct_upload IN (0, 1) AND retracted IN (0, 1)),
    CONSTRAINT messages_timestamp_type_known
        CHECK (timestamp_type IN ('create', 'log_append', 'not_available', 'upload'))
) STRICT;

-- Same names as PostgreSQL where the index exists there. SQLite appends the
-- rowid (= id) to every index, so ("timestamp") already serves
-- ("timestamp", id) keyset paging, and ("topic") is a prefix of the topic
-- paging index; those two PostgreSQL indexes have no twin here.
CREATE INDEX messages_key_idx ON messages ("key");
CREATE INDEX messages_timestamp_id_idx ON messages ("timestamp", id);
CREATE INDEX messages_topic_timestamp_id_idx ON messages (topic, "timestamp", id);
CREATE INDEX messages_claimed_uuid_idx ON messages (claimed_uuid)
    WHERE claimed_uuid IS NOT NULL;
