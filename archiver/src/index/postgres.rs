//! [`Index`] on PostgreSQL: the production backend.
//!
//! Concurrency is the database's job: `messages_uuid_idx` makes a UUID unique
//! and `INSERT … ON CONFLICT (uuid) DO NOTHING` turns a race between writers
//! into one winner, with no error for the loser. Each write adds its
//! topic-statistics deltas in the same statement (a data-modifying `WITH`),
//! counting exactly what it changed.

use super::sql::{Dialect, SqlBackend};
use super::{IndexError, IndexRow, RowText};
use crate::text::query::SearchQuery;
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Connection, PgConnection, PgPool, Pool, Postgres, QueryBuilder, Row};
use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::LazyLock;
use std::time::Duration;
use uuid::Uuid;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per process. The archiver writes in batches, so a few
/// connections suffice; the bound keeps many replicas under `max_connections`.
const POOL_MAX: u32 = 8;

/// How long a call waits for a connection before reporting the database
/// unavailable (transient), instead of hanging while it is down.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The PostgreSQL index. Cheap to share: it holds a pool.
pub struct PgIndex {
    pool: PgPool,
    /// The URL with its password masked, for `Debug`.
    url: String,
    /// When to compact the statistics (shared with detached writes).
    compaction: Arc<super::CompactionClock>,
}

impl std::fmt::Debug for PgIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgIndex").field("url", &self.url).finish_non_exhaustive()
    }
}

impl PgIndex {
    /// Applies pending migrations, then opens a bounded pool. Fails fast,
    /// with the cause, when the server is unreachable. Migrations take an
    /// advisory lock, so processes starting together are safe.
    pub async fn connect(url: &str) -> Result<Self, IndexError> {
        // An insert's commit must be on disk before the offsets that depend
        // on it are committed to Kafka, whatever the server's default (a
        // server with `synchronous_commit = off` lost acknowledged rows in
        // an immediate stop): every session of the archiver commits
        // synchronously.
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| super::invalid_url(url, e))?
            .options([("synchronous_commit", "on")]);
        let pool = PgPoolOptions::new()
            .max_connections(POOL_MAX)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options.clone());
        // The pool's first connection is set up while migrating, so a
        // process that opens the index to ask one question (`archiver
        // status`) waits for one connection set-up, not two. Its failure
        // is left to the first query: the migration reports the cause.
        let warm_up = async {
            drop(pool.acquire().await);
            Ok(())
        };
        tokio::try_join!(migrate(&options), warm_up)?;
        Ok(Self { pool, url: crate::telemetry::redact::mask_password(url), compaction: Default::default() })
    }
}

/// Migrates over one direct connection. Besides migrating, this is the
/// fail-fast probe: an unreachable server is reported at once with its real
/// cause, where a pool would retry until its acquire timeout and then say
/// only "timed out".
async fn migrate(options: &PgConnectOptions) -> Result<(), IndexError> {
    let connecting = PgConnection::connect_with(options);
    let mut conn = match tokio::time::timeout(ACQUIRE_TIMEOUT, connecting).await {
        Ok(conn) => conn.map_err(pg_error)?,
        Err(_) => return Err(IndexError::Unavailable(connect_timed_out())),
    };
    let applied = sqlx::query_as(super::APPLIED_MIGRATIONS).fetch_all(&mut conn).await.unwrap_or_default();
    if !super::up_to_date(&MIGRATOR, &applied) {
        MIGRATOR.run(&mut conn).await?;
    }
    // Best effort: the server drops the session anyway when the socket goes.
    let _ = conn.close().await;
    Ok(())
}

fn connect_timed_out() -> sqlx::Error {
    let message = format!("no connection within {ACQUIRE_TIMEOUT:?}");
    sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, message))
}

fn pg_error(err: sqlx::Error) -> IndexError {
    Postgres::error(err)
}

impl Dialect for Postgres {
    // Byte order whatever the database's locale, so both backends sort alike.
    const BYTE_ORDER: &'static str = "COLLATE \"C\"";

    /// SQLSTATEs worth retrying: connection exceptions (08), insufficient
    /// resources (53), operator intervention such as a restart (57P0x),
    /// serialization failure and deadlock (40001, 40P01).
    fn transient_code(code: &str) -> bool {
        code.starts_with("08")
            || code.starts_with("53")
            || code.starts_with("57P0")
            || code == "40001"
            || code == "40P01"
    }

    fn push_uuid(query: &mut QueryBuilder<Postgres>, uuid: Uuid) {
        query.push_bind(uuid);
    }

    fn push_uuid_in(query: &mut QueryBuilder<Postgres>, column: &str, uuids: &[Uuid]) {
        query.push(format_args!("{column} = ANY(")).push_bind(uuids).push(")");
    }

    fn push_text_in(query: &mut QueryBuilder<Postgres>, column: &str, values: &[String]) {
        query.push(format_args!("{column} = ANY(")).push_bind(values).push(")");
    }

    fn read_uuid(row: &PgRow, col: &'static str) -> Result<Option<Uuid>, String> {
        row.try_get(col).map_err(|e| e.to_string())
    }

    /// Upstream's search: the query as written, by `websearch_to_tsquery`,
    /// against the row's vector (the GIN index `message_ts_idx`).
    fn push_text_match(query: &mut QueryBuilder<Postgres>, search: &SearchQuery) {
        query.push(format_args!(
            " AND uuid IN (SELECT uuid FROM message_ts WHERE text_data @@ websearch_to_tsquery('{}', ",
            super::TEXT_SEARCH_CONFIG
        ));
        query.push_bind(search.raw().to_owned()).push("))");
    }

    fn text_hits(search: &SearchQuery, limit: i64) -> Option<QueryBuilder<Postgres>> {
        let mut query = QueryBuilder::new(format!(
            "SELECT uuid FROM message_ts WHERE text_data @@ websearch_to_tsquery('{}', ",
            super::TEXT_SEARCH_CONFIG
        ));
        query.push_bind(search.raw().to_owned()).push(") LIMIT ").push_bind(limit);
        Some(query)
    }

    /// At most `SEARCH_TIMEOUT_MS` per statement; and a plan for each
    /// query's own words: after five runs a prepared statement may get a
    /// generic plan, blind to how rare the words are, which walked the
    /// whole timestamp index for a rare word (0.5 s at 100 000 rows, where
    /// the GIN index answers in milliseconds).
    const SEARCH_SETTINGS: Option<&'static str> = Some(
        "SELECT set_config('statement_timeout', '10000', true), set_config('plan_cache_mode', 'force_custom_plan', true)",
    );

    /// 57014 (query_canceled) is the statement timeout.
    fn search_error(err: sqlx::Error) -> IndexError {
        match err.as_database_error().and_then(|db| db.code()) {
            Some(code) if code == "57014" => IndexError::SearchTimedOut,
            _ => pg_error(err),
        }
    }
}

#[async_trait]
impl SqlBackend for PgIndex {
    type Db = Postgres;

    fn pool(&self) -> &Pool<Postgres> {
        &self.pool
    }

    async fn insert_batch(&self, rows: &[IndexRow]) -> Result<Vec<bool>, IndexError> {
        let (pool, rows, compaction) = (self.pool.clone(), rows.to_vec(), Arc::clone(&self.compaction));
        super::detached(async move {
            let new = insert_batch(&pool, &rows).await?;
            compact_if_due(&pool, &compaction).await;
            Ok(new)
        })
        .await
    }

    async fn set_retracted(&self, uuid: Uuid, retracted: bool) -> Result<bool, IndexError> {
        let exists = sqlx::query_scalar(SET_RETRACTED)
            .bind(uuid)
            .bind(retracted)
            .fetch_one(&self.pool)
            .await
            .map_err(pg_error)?;
        compact_if_due(&self.pool, &self.compaction).await;
        Ok(exists)
    }

    async fn set_texts(&self, texts: &[RowText]) -> Result<u64, IndexError> {
        let (pool, texts) = (self.pool.clone(), texts.to_vec());
        super::detached(async move {
            let uuids: Vec<Uuid> = texts.iter().map(|t| t.uuid).collect();
            let bodies: Vec<&str> = texts.iter().map(|t| t.text.as_str()).collect();
            let full: Vec<bool> = texts.iter().map(|t| t.fully_indexed).collect();
            let written: i64 = sqlx::query_scalar(SET_TEXTS.as_str())
                .bind(uuids)
                .bind(bodies)
                .bind(full)
                .fetch_one(&pool)
                .await
                .map_err(pg_error)?;
            Ok(u64::try_from(written).unwrap_or(0))
        })
        .await
    }
}

/// Sets each existing row's flag and replaces its text entry, in one
/// statement (so both change together); returns the rows written.
static SET_TEXTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH input AS (SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::boolean[]) AS i(uuid, body, full_text)), \
         flagged AS (\
            UPDATE messages m SET text_fully_indexed = input.full_text FROM input WHERE m.uuid = input.uuid \
            RETURNING m.uuid), \
         written AS (\
            INSERT INTO message_ts (uuid, text_data, text_fully_indexed) \
            SELECT input.uuid, to_tsvector('{config}', input.body), input.full_text FROM input JOIN flagged USING (uuid) \
            ON CONFLICT (uuid) DO UPDATE SET text_data = EXCLUDED.text_data, \
                text_fully_indexed = EXCLUDED.text_fully_indexed \
            RETURNING uuid) \
         SELECT COUNT(*) FROM written",
        config = super::TEXT_SEARCH_CONFIG
    )
});

/// Sets the flag only where it differs, and adds ±1 `retracted` for the
/// row it changed, in one statement. Under READ COMMITTED a second writer
/// of the same flag waits for the first, then finds the flag already set
/// (the `WHERE` is checked again on the updated row) and changes nothing,
/// so each change is counted once. Existence is read from the statement's
/// snapshot, in which the `UPDATE` looked for the row.
const SET_RETRACTED: &str = "WITH changed AS (\
        UPDATE messages SET retracted = $2 WHERE uuid = $1 AND retracted <> $2 RETURNING topic), \
     counted AS (\
        INSERT INTO topic_counts (topic, messages, size_bytes, earliest_ms, latest_ms, conflicts, retracted) \
        SELECT topic, 0, 0, NULL, NULL, 0, CASE WHEN $2 THEN 1 ELSE -1 END FROM changed) \
     SELECT EXISTS (SELECT 1 FROM messages WHERE uuid = $1)";

/// Replaces the deltas of every topic that has more than one by their sum,
/// in one statement. Safe beside concurrent writers and compactions under
/// READ COMMITTED: the `DELETE` removes only deltas committed before it
/// started (a delta added meanwhile stays, and counts), a delta another
/// compaction deleted first is skipped (its sum is that one's to insert),
/// and exactly the deleted deltas are summed. Readers see the deltas
/// before or after, never between.
const COMPACT: &str = "WITH gone AS (\
        DELETE FROM topic_counts WHERE topic IN (\
            SELECT topic FROM topic_counts GROUP BY topic HAVING COUNT(*) > 1) \
        RETURNING topic, messages, size_bytes, earliest_ms, latest_ms, conflicts, retracted) \
     INSERT INTO topic_counts (topic, messages, size_bytes, earliest_ms, latest_ms, conflicts, retracted) \
     SELECT topic, SUM(messages), SUM(size_bytes), MIN(earliest_ms), MAX(latest_ms), SUM(conflicts), SUM(retracted) \
     FROM gone GROUP BY topic";

/// Compacts the statistics when `clock` says it is time; a failure (say,
/// a deadlock with another process's compaction) only leaves more rows.
async fn compact_if_due(pool: &PgPool, clock: &super::CompactionClock) {
    if clock.tick()
        && let Err(err) = sqlx::query(COMPACT).execute(pool).await.map_err(pg_error)
    {
        super::compaction_failed(&err);
    }
}

/// Reserves ids, then inserts the first occurrence of each UUID in one statement.
async fn insert_batch(pool: &PgPool, rows: &[IndexRow]) -> Result<Vec<bool>, IndexError> {
    let firsts = super::first_occurrences(rows);
    if firsts.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = pool.acquire().await.map_err(pg_error)?;
    let ids = reserve_ids(&mut conn, firsts.len()).await?;
    // Ids follow input order, but rows are written in UUID order: two
    // batches sharing UUIDs then wait on each other in the same order and
    // cannot deadlock. One statement is atomic: no transaction needed.
    let mut planned: Vec<(i64, &IndexRow)> = ids.into_iter().zip(firsts.iter().map(|&i| &rows[i])).collect();
    planned.sort_by_key(|(_, row)| row.uuid);
    let inserted: HashSet<Uuid> = insert_rows(&mut conn, &planned).await?.into_iter().collect();
    Ok(super::batch_outcome(rows, &firsts, &inserted))
}

/// Draws `n` ids from the `id` sequence, ascending, so that a batch's ids
/// follow its input order even though its rows are written in UUID order.
async fn reserve_ids(conn: &mut PgConnection, n: usize) -> Result<Vec<i64>, IndexError> {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    let mut ids: Vec<i64> =
        sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('messages', 'id')) FROM generate_series(1, $1)")
            .bind(n)
            .fetch_all(conn)
            .await
            .map_err(pg_error)?;
    ids.sort_unstable();
    Ok(ids)
}

/// One `INSERT … SELECT FROM UNNEST(<one array per column>)`; returns the
/// UUIDs that were new. The same statement adds one `topic_counts` delta
/// per topic for the rows it inserted, so the statistics commit (or not)
/// with the rows. The statement text is the same for every batch size,
/// so each connection prepares it once: a `VALUES` list per batch size had
/// each connection cache a statement per size seen (about 150 in a
/// 100 000-message run), and memory grew with the backlog. Arrays also lift
/// the 65 535-parameter limit of a statement.
async fn insert_rows(conn: &mut PgConnection, planned: &[(i64, &IndexRow)]) -> Result<Vec<Uuid>, IndexError> {
    fn column<'a, T>(planned: &[(i64, &'a IndexRow)], f: impl Fn(&'a IndexRow) -> T) -> Vec<T> {
        planned.iter().map(|(_, row)| f(row)).collect()
    }
    let ids: Vec<i64> = planned.iter().map(|(id, _)| *id).collect();
    sqlx::query_scalar(INSERT_UNNEST.as_str())
        .bind(ids)
        .bind(column(planned, |r| r.uuid))
        .bind(column(planned, |r| r.topic.as_str()))
        .bind(column(planned, |r| r.timestamp))
        .bind(column(planned, |r| r.size))
        .bind(column(planned, |r| r.key.as_str()))
        .bind(column(planned, |r| r.bucket.as_str()))
        .bind(column(planned, |r| super::crc_to_db(r.crc32)))
        .bind(column(planned, |r| r.is_client_uuid))
        .bind(column(planned, |r| r.public))
        .bind(column(planned, |r| r.direct_upload))
        .bind(column(planned, |r| super::crc_to_db(r.message_crc32)))
        .bind(column(planned, |r| r.title.as_str()))
        .bind(column(planned, |r| r.sender.as_str()))
        .bind(column(planned, |r| r.media_type.as_str()))
        .bind(column(planned, |r| r.file_name.as_str()))
        .bind(column(planned, |r| r.originator.as_str()))
        .bind(column(planned, |r| r.retracted))
        .bind(column(planned, |r| r.partition))
        .bind(column(planned, |r| r.kafka_offset))
        .bind(column(planned, |r| r.timestamp_type.as_str()))
        .bind(column(planned, |r| r.ingested_at))
        .bind(column(planned, |r| r.fingerprint.to_vec()))
        .bind(column(planned, |r| r.claimed_uuid))
        .bind(column(planned, |r| r.text_fully_indexed))
        .bind(column(planned, |r| r.text.as_deref().unwrap_or_default()))
        .fetch_all(conn)
        .await
        .map_err(pg_error)
}

/// The array types follow `INSERT_COLUMNS`, preceded by `id` and followed
/// by the text. The text entries of the rows really inserted (those of a
/// text-indexed topic) are written by the same statement: a row never
/// exists without its entry, nor an entry without its row.
static INSERT_UNNEST: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH input AS (\
            SELECT * FROM UNNEST($1::bigint[], $2::uuid[], $3::text[], \
            $4::bigint[], $5::integer[], $6::text[], $7::text[], $8::bigint[], $9::boolean[], $10::boolean[], \
            $11::boolean[], $12::bigint[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], \
            $18::boolean[], $19::integer[], $20::bigint[], $21::text[], $22::bigint[], $23::bytea[], $24::uuid[], \
            $25::boolean[], $26::text[]) AS i(id, {columns}, body)), \
         inserted AS (\
            INSERT INTO messages (id, {columns}) SELECT id, {columns} FROM input \
            ON CONFLICT (uuid) DO NOTHING \
            RETURNING uuid, topic, \"timestamp\", size, claimed_uuid, retracted), \
         texts AS (\
            INSERT INTO message_ts (uuid, text_data, text_fully_indexed) \
            SELECT input.uuid, to_tsvector('{config}', input.body), input.text_fully_indexed \
            FROM input JOIN inserted USING (uuid) WHERE input.text_fully_indexed IS NOT NULL), \
         counted AS (\
            INSERT INTO topic_counts (topic, messages, size_bytes, earliest_ms, latest_ms, conflicts, retracted) \
            SELECT topic, COUNT(*), SUM(size), MIN(\"timestamp\"), MAX(\"timestamp\"), COUNT(claimed_uuid), \
                   COUNT(*) FILTER (WHERE retracted) \
            FROM inserted GROUP BY topic) \
         SELECT uuid FROM inserted",
        columns = super::INSERT_COLUMNS,
        config = super::TEXT_SEARCH_CONFIG
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_statement_timeout_is_search_timeout_ms() {
        let settings = Postgres::SEARCH_SETTINGS.unwrap_or_default();
        assert!(
            settings.contains(&format!("'statement_timeout', '{}'", super::super::SEARCH_TIMEOUT_MS)),
            "{settings}"
        );
    }
}
