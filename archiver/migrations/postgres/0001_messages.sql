-- The archive index: one row per archived message.
--
-- Columns `id` .. `retracted` are upstream archive-core's `messages` table
-- (upstream.md §4.1) with the same names, types and ORDER: upstream maps
-- `SELECT *` rows positionally, so new columns only ever go after them.
-- The columns after `retracted` are ours: the Kafka position and the identity
-- facts upstream never kept.
CREATE TABLE messages (
    id              BIGSERIAL PRIMARY KEY,
    topic           text    NOT NULL,
    "timestamp"     bigint  NOT NULL,
    uuid            uuid    NOT NULL,
    size            integer NOT NULL,
    key             text    NOT NULL,
    bucket          text    NOT NULL,
    crc32           bigint  NOT NULL,
    is_client_uuid  boolean NOT NULL,
    public          boolean NOT NULL,
    direct_upload   boolean NOT NULL,
    message_crc32   bigint  NOT NULL,
    title           text    NOT NULL DEFAULT '',
    sender          text    NOT NULL DEFAULT '',
    media_type      text    NOT NULL DEFAULT '',
    file_name       text    NOT NULL DEFAULT '',
    originator      text    NOT NULL DEFAULT '',
    retracted       boolean NOT NULL DEFAULT false,
    -- ours
    "partition"     integer NULL,
    kafka_offset    bigint  NULL,
    timestamp_type  text    NOT NULL,
    ingested_at     bigint  NOT NULL,
    fingerprint     bytea   NOT NULL,
    claimed_uuid    uuid    NULL,
    -- Same name as upstream's constraint (migration 0003), so tools that
    -- know upstream's schema find it.
    CONSTRAINT messages_uuid_idx UNIQUE (uuid),
    CONSTRAINT messages_fingerprint_len CHECK (octet_length(fingerprint) = 32),
    -- CRC-32s are u32 kept in bigint, as upstream does.
    CONSTRAINT messages_crc32_range CHECK (crc32 BETWEEN 0 AND 4294967295),
    CONSTRAINT messages_message_crc32_range CHECK (message_crc32 BETWEEN 0 AND 4294967295),
    CONSTRAINT messages_timestamp_type_known
        CHECK (timestamp_type IN ('create', 'log_append', 'not_available', 'upload'))
);

-- Upstream's indexes (its migration 0001), same names.
CREATE INDEX messages_key_idx ON messages (key);
CREATE INDEX messages_timestamp_id_idx ON messages ("timestamp", id) INCLUDE (topic, public);
CREATE INDEX messages_timestamp_idx ON messages ("timestamp");
CREATE INDEX messages_topic_idx ON messages (topic);

-- Keyset paging within topics: WHERE topic = ANY(..) ORDER BY "timestamp", id.
CREATE INDEX messages_topic_timestamp_id_idx ON messages (topic, "timestamp", id);

-- Identity conflicts (a message stored under its derived UUID because another
-- held its claimed `_id`) stay queryable by the claimed UUID. Partial: only
-- conflicts carry a value.
CREATE INDEX messages_claimed_uuid_idx ON messages (claimed_uuid)
    WHERE claimed_uuid IS NOT NULL;
