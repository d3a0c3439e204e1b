-- Upstream's `topics` as a view over `messages`: see
-- migrations/postgres/0002_topics_view.sql for why a view and what it counts.
CREATE VIEW topics AS
SELECT topic,
       min("timestamp") AS e_timestamp,
       max("timestamp") AS l_timestamp,
       count(*)         AS n_messages
FROM messages
GROUP BY topic;
