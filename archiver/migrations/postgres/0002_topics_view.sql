-- Upstream's `topics` (archive-core migration 0002: topic, e_timestamp,
-- l_timestamp, n_messages), which upstream's API reads to plan listings of
-- sparse topics (`get_message_records` joins it for `GET /topic/{topic}`).
--
-- A view rather than upstream's table: upstream keeps its table by a
-- per-row trigger that updates the topic's one row, which serialises every
-- concurrent insert on a topic. The view costs a scan at query time instead
-- and is always exact. Like upstream's trigger it counts every row,
-- retracted ones included (retraction is an UPDATE the trigger ignores).
CREATE VIEW topics AS
SELECT topic,
       min("timestamp") AS e_timestamp,
       max("timestamp") AS l_timestamp,
       count(*)         AS n_messages
FROM messages
GROUP BY topic;
