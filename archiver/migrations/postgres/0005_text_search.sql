-- Full-text search: upstream's `search_query` (upstream.md §4.1 `message_ts`,
-- §9.2). `message_ts` has upstream's name and columns, so upstream's API
-- could search this index; the text search configuration is named
-- (`english`, the default of a default install and of RDS, which upstream
-- relies on) so that vectors and queries always agree whatever the
-- server's `default_text_search_config`.
--
-- A row and its text entry are written by one statement
-- (src/index/postgres.rs `INSERT_UNNEST`), so neither exists without the
-- other. `text_fully_indexed` is also kept on the row itself (NULL: the
-- topic's text is not indexed, or the row predates this migration and
-- `archiver reindex-text` has not reached it).
ALTER TABLE messages ADD COLUMN text_fully_indexed boolean NULL;

CREATE TABLE message_ts (
    uuid               uuid     NOT NULL REFERENCES messages (uuid) ON DELETE CASCADE,
    text_data          tsvector NOT NULL,
    text_fully_indexed boolean  NOT NULL,
    -- Ours (upstream has no key here): one entry per row, which
    -- `reindex-text` replaces, and the lookup a search joins on.
    CONSTRAINT message_ts_uuid_key UNIQUE (uuid)
);

CREATE INDEX message_ts_idx ON message_ts USING GIN (text_data);
