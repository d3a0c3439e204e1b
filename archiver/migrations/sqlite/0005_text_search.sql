-- Full-text search for the embedded default: an FTS5 table over the
-- lexemes of each row's text (src/text/lexemes.rs: PostgreSQL's `english`
-- configuration approximated), keyed by the row's id. Contentless: only
-- the search index is kept, as PostgreSQL keeps only the tsvector;
-- `contentless_delete` lets `archiver reindex-text` replace an entry.
-- The lexemes are letters and digits only, lower-case, so the tokenizer
-- splits them as written; diacritics are kept, as PostgreSQL keeps them.
--
-- A row and its text entry are written in one transaction
-- (src/index/sqlite.rs `insert_batch`).
ALTER TABLE messages ADD COLUMN text_fully_indexed INTEGER NULL CHECK (text_fully_indexed IN (0, 1));

CREATE VIRTUAL TABLE message_text USING fts5(
    lexemes,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 0'
);
