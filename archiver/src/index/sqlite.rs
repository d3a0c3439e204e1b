//! [`Index`] on SQLite: the embedded default, one file (or memory).
//!
//! SQLite has one writer at a time. Writes open with `BEGIN IMMEDIATE`, so a
//! writer queues for the lock (up to the busy timeout) when its transaction
//! starts, rather than failing half-way through. UUIDs are stored as
//! lower-case hyphenated TEXT so the file stays readable with the `sqlite3`
//! shell. Each write adds its topic-statistics deltas in its own
//! transaction, counting exactly what it changed.

use super::sql::{Dialect, SqlBackend};
use super::{IndexError, IndexRow, RowText, TopicStats};
use crate::text::lexemes::indexed_form;
use crate::text::query::SearchQuery;
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{Pool, QueryBuilder, Row, Sqlite, SqlitePool};
use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Connections for a database file: readers run in parallel under WAL, and
/// writers queue on SQLite's lock anyway.
const FILE_POOL_MAX: u32 = 4;

/// How long a statement waits for another connection's (or process's) write
/// lock before failing with SQLITE_BUSY, reported as transient.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause between attempts to connect to a file another connection is
/// switching to WAL.
const BUSY_RETRY_PAUSE: Duration = Duration::from_millis(20);

/// Slightly above [`BUSY_TIMEOUT`], so lock waits report as SQLITE_BUSY.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(15);

/// SQLite accepts at most 32766 bind parameters per statement.
const INSERT_CHUNK: usize = 32766 / super::INSERT_COLUMN_COUNT;

/// The SQLite index. Cheap to share: it holds a pool.
pub struct SqliteIndex {
    pool: SqlitePool,
    url: String,
    /// When to compact the statistics (shared with detached writes).
    compaction: Arc<super::CompactionClock>,
}

impl std::fmt::Debug for SqliteIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteIndex").field("url", &self.url).finish_non_exhaustive()
    }
}

impl SqliteIndex {
    /// Opens `sqlite://PATH` (created if missing, its directory too; WAL;
    /// full sync so a committed row survives power loss) or
    /// `sqlite::memory:` (a private database that lives as long as this
    /// index), then migrates.
    pub async fn connect(url: &str) -> Result<Self, IndexError> {
        let options =
            SqliteConnectOptions::from_str(url).map_err(|e| super::invalid_url(url, e))?.busy_timeout(BUSY_TIMEOUT);
        let pool = if is_in_memory(url) {
            memory_pool(options).await?
        } else if database_part(url).is_empty() {
            return Err(super::invalid_url(url, "no database path"));
        } else {
            create_directory(options.get_filename()).await?;
            file_pool(options).await?
        };
        migrate(&pool).await?;
        Ok(Self { pool, url: crate::telemetry::redact::mask_password(url), compaction: Default::default() })
    }
}

/// Creates the directory `file` goes in, as the filesystem store creates its
/// root: the embedded default (`sqlite://./archive/index.db`) must work in
/// a fresh directory, and SQLite creates only the file.
async fn create_directory(file: &std::path::Path) -> Result<(), IndexError> {
    let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) else { return Ok(()) };
    tokio::fs::create_dir_all(dir).await.map_err(|source| IndexError::CreateDirectory { path: dir.to_owned(), source })
}

/// The path (or `:memory:`) between the scheme and any `?` parameters.
fn database_part(url: &str) -> &str {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"));
    let rest = rest.unwrap_or(url);
    rest.split('?').next().unwrap_or_default()
}

fn is_in_memory(url: &str) -> bool {
    let params = url.split_once('?').map_or("", |(_, p)| p);
    database_part(url) == ":memory:" || params.split('&').any(|p| p == "mode=memory")
}

/// One connection that never expires: an in-memory database exists only
/// while a connection holds it, and every query must see the same one.
async fn memory_pool(options: SqliteConnectOptions) -> Result<SqlitePool, IndexError> {
    SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(sqlite_error)
}

/// A pool on a database file, retrying while the file is busy.
///
/// The first connections to a new file switch it to WAL, which needs an
/// exclusive lock. Two connections doing that at once (two processes
/// starting together, say `run` and `serve`) make SQLite fail one with
/// SQLITE_BUSY at once, without waiting out the busy timeout, to avoid a
/// deadlock. Waiting a moment and connecting again resolves it.
async fn file_pool(options: SqliteConnectOptions) -> Result<SqlitePool, IndexError> {
    let options = options.create_if_missing(true).journal_mode(SqliteJournalMode::Wal);
    let started = Instant::now();
    loop {
        let pool = SqlitePoolOptions::new()
            .max_connections(FILE_POOL_MAX)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await;
        match pool {
            Err(err) if is_busy(&err) && started.elapsed() < BUSY_TIMEOUT => {
                tokio::time::sleep(BUSY_RETRY_PAUSE).await;
            }
            pool => return pool.map_err(sqlite_error),
        }
    }
}

/// Whether `err` is SQLITE_BUSY (any extended form).
fn is_busy(err: &sqlx::Error) -> bool {
    let code = err.as_database_error().and_then(|db| db.code());
    code.is_some_and(|code| code.parse::<i32>().is_ok_and(|c| c & 0xff == 5))
}

/// Applies migrations while holding the write lock, so two processes opening
/// a fresh file at once (say `run` and `serve`) apply each migration once:
/// the second waits, then finds nothing to do. sqlx's own SQLite migration
/// lock is a no-op.
async fn migrate(pool: &SqlitePool) -> Result<(), IndexError> {
    let applied = sqlx::query_as(super::APPLIED_MIGRATIONS).fetch_all(pool).await.unwrap_or_default();
    if super::up_to_date(&MIGRATOR, &applied) {
        return Ok(());
    }
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(sqlite_error)?;
    MIGRATOR.run(&mut *tx).await?;
    tx.commit().await.map_err(sqlite_error)
}

fn sqlite_error(err: sqlx::Error) -> IndexError {
    Sqlite::error(err)
}

/// The stored form of a UUID.
fn uuid_text(uuid: Uuid) -> String {
    uuid.hyphenated().to_string()
}

impl Dialect for Sqlite {
    // The default BINARY collation is byte order, as PostgreSQL's "C".
    const BYTE_ORDER: &'static str = "COLLATE BINARY";

    /// Primary result codes worth retrying: SQLITE_BUSY (5), SQLITE_LOCKED
    /// (6), SQLITE_IOERR (10), SQLITE_FULL (13). sqlx reports extended
    /// codes, whose low byte is the primary code.
    fn transient_code(code: &str) -> bool {
        code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13))
    }

    fn push_uuid(query: &mut QueryBuilder<Sqlite>, uuid: Uuid) {
        query.push_bind(uuid_text(uuid));
    }

    fn push_uuid_in(query: &mut QueryBuilder<Sqlite>, column: &str, uuids: &[Uuid]) {
        push_in(query, column, uuids.iter().map(|u| uuid_text(*u)));
    }

    fn push_text_in(query: &mut QueryBuilder<Sqlite>, column: &str, values: &[String]) {
        push_in(query, column, values.iter().cloned());
    }

    fn read_uuid(row: &SqliteRow, col: &'static str) -> Result<Option<Uuid>, String> {
        let text: Option<String> = row.try_get(col).map_err(|e| e.to_string())?;
        text.map(|t| Uuid::parse_str(&t).map_err(|e| format!("{t:?}: {e}"))).transpose()
    }

    /// FTS5 over the rows' lexemes, with an expression built from the
    /// query's lexemes only (never the text the user wrote).
    fn push_text_match(query: &mut QueryBuilder<Sqlite>, search: &SearchQuery) {
        query.push(" AND id IN (SELECT rowid FROM message_text WHERE message_text MATCH ");
        query.push_bind(search.fts5()).push(")");
    }

    /// SQLite has no statement timeout; FTS5 answers from its index.
    /// FTS5 drives the statement from its own index already.
    fn text_hits(_: &SearchQuery, _: i64) -> Option<QueryBuilder<Sqlite>> {
        None
    }

    const SEARCH_SETTINGS: Option<&'static str> = None;
}

/// Appends `column IN (?, ?, …)` bound to `values`: SQLite has no arrays.
fn push_in(query: &mut QueryBuilder<Sqlite>, column: &str, values: impl Iterator<Item = String>) {
    query.push(format_args!("{column} IN ("));
    let mut list = query.separated(", ");
    for value in values {
        list.push_bind(value);
    }
    query.push(")");
}

#[async_trait]
impl SqlBackend for SqliteIndex {
    type Db = Sqlite;

    fn pool(&self) -> &Pool<Sqlite> {
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
        let (pool, compaction) = (self.pool.clone(), Arc::clone(&self.compaction));
        super::detached(async move {
            let exists = set_retracted(&pool, uuid, retracted).await?;
            compact_if_due(&pool, &compaction).await;
            Ok(exists)
        })
        .await
    }

    async fn set_texts(&self, texts: &[RowText]) -> Result<u64, IndexError> {
        let (pool, texts) = (self.pool.clone(), texts.to_vec());
        super::detached(async move { set_texts(&pool, &texts).await }).await
    }
}

/// Sets each existing row's flag and replaces its FTS5 entry, in one write transaction.
async fn set_texts(pool: &SqlitePool, texts: &[RowText]) -> Result<u64, IndexError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(sqlite_error)?;
    let mut written = 0;
    for text in texts {
        let id: Option<i64> =
            sqlx::query_scalar("UPDATE messages SET text_fully_indexed = ? WHERE uuid = ? RETURNING id")
                .bind(text.fully_indexed)
                .bind(uuid_text(text.uuid))
                .fetch_optional(&mut *tx)
                .await
                .map_err(sqlite_error)?;
        let Some(id) = id else { continue };
        for statement in
            ["DELETE FROM message_text WHERE rowid = ?", "INSERT INTO message_text (rowid, lexemes) VALUES (?, ?)"]
        {
            sqlx::query(statement)
                .bind(id)
                .bind(indexed_form(&text.text))
                .execute(&mut *tx)
                .await
                .map_err(sqlite_error)?;
        }
        written += 1;
    }
    tx.commit().await.map_err(sqlite_error)?;
    Ok(written)
}

/// Sets the flag only where it differs and adds ±1 `retracted` for the row
/// it changed, in one write transaction.
async fn set_retracted(pool: &SqlitePool, uuid: Uuid, retracted: bool) -> Result<bool, IndexError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(sqlite_error)?;
    let changed: Option<String> =
        sqlx::query_scalar("UPDATE messages SET retracted = ?1 WHERE uuid = ?2 AND retracted <> ?1 RETURNING topic")
            .bind(retracted)
            .bind(uuid_text(uuid))
            .fetch_optional(&mut *tx)
            .await
            .map_err(sqlite_error)?;
    let exists = match changed {
        Some(topic) => {
            sqlx::query(
                "INSERT INTO topic_counts (topic, messages, size_bytes, earliest_ms, latest_ms, conflicts, retracted) \
                 VALUES (?, 0, 0, NULL, NULL, 0, ?)",
            )
            .bind(topic)
            .bind(if retracted { 1_i64 } else { -1 })
            .execute(&mut *tx)
            .await
            .map_err(sqlite_error)?;
            true
        }
        None => sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM messages WHERE uuid = ?)")
            .bind(uuid_text(uuid))
            .fetch_one(&mut *tx)
            .await
            .map_err(sqlite_error)?,
    };
    tx.commit().await.map_err(sqlite_error)?;
    Ok(exists)
}

/// Replaces the deltas of every topic that has more than one by their sum,
/// in one write transaction (SQLite has one writer at a time, so nothing
/// changes in between). The sums are inserted first, under new rowids,
/// then the deltas up to the largest rowid before them are deleted.
async fn compact(pool: &SqlitePool) -> Result<(), IndexError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(sqlite_error)?;
    let last: Option<i64> =
        sqlx::query_scalar("SELECT MAX(rowid) FROM topic_counts").fetch_one(&mut *tx).await.map_err(sqlite_error)?;
    let Some(last) = last else { return Ok(()) };
    for statement in [COMPACT_INSERT_SUMS, COMPACT_DELETE_DELTAS] {
        sqlx::query(statement).bind(last).execute(&mut *tx).await.map_err(sqlite_error)?;
    }
    tx.commit().await.map_err(sqlite_error)
}

/// The sums of the deltas up to rowid `?1` of the topics with more than one.
const COMPACT_INSERT_SUMS: &str = "INSERT INTO topic_counts (topic, messages, size_bytes, earliest_ms, latest_ms, conflicts, retracted) \
     SELECT topic, SUM(messages), SUM(size_bytes), MIN(earliest_ms), MAX(latest_ms), SUM(conflicts), SUM(retracted) \
     FROM topic_counts WHERE rowid <= ?1 AND topic IN (\
         SELECT topic FROM topic_counts WHERE rowid <= ?1 GROUP BY topic HAVING COUNT(*) > 1) \
     GROUP BY topic";

/// The deltas [`COMPACT_INSERT_SUMS`] summed (the sums have larger rowids).
const COMPACT_DELETE_DELTAS: &str = "DELETE FROM topic_counts WHERE rowid <= ?1 AND topic IN (\
         SELECT topic FROM topic_counts WHERE rowid <= ?1 GROUP BY topic HAVING COUNT(*) > 1)";

/// Compacts the statistics when `clock` says it is time; a failure (say,
/// the write lock not had in time) only leaves more rows.
async fn compact_if_due(pool: &SqlitePool, clock: &super::CompactionClock) {
    if clock.tick()
        && let Err(err) = compact(pool).await
    {
        super::compaction_failed(&err);
    }
}

/// One transaction: rows in input order, each UUID's first occurrence only,
/// their text entries, and one `topic_counts` delta per topic for the rows
/// that were new.
async fn insert_batch(pool: &SqlitePool, rows: &[IndexRow]) -> Result<Vec<bool>, IndexError> {
    let firsts = super::first_occurrences(rows);
    if firsts.is_empty() {
        return Ok(Vec::new());
    }
    let planned: Vec<&IndexRow> = firsts.iter().map(|&i| &rows[i]).collect();
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(sqlite_error)?;
    let mut returned = HashSet::with_capacity(planned.len());
    for chunk in planned.chunks(INSERT_CHUNK) {
        let inserted = insert_chunk(&mut tx, chunk).await?;
        insert_texts(&mut tx, chunk, &inserted).await?;
        returned.extend(inserted.into_iter().map(|(_, uuid)| uuid));
    }
    let new_rows: Vec<&IndexRow> =
        planned.iter().copied().filter(|row| returned.contains(&uuid_text(row.uuid))).collect();
    let deltas = TopicStats::tally(new_rows.iter().copied());
    for chunk in deltas.chunks(DELTA_CHUNK) {
        insert_deltas(&mut tx, chunk).await?;
    }
    tx.commit().await.map_err(sqlite_error)?;
    let inserted: HashSet<Uuid> = new_rows.iter().map(|row| row.uuid).collect();
    Ok(super::batch_outcome(rows, &firsts, &inserted))
}

/// Deltas per statement, far below the parameter limit (7 per delta).
const DELTA_CHUNK: usize = 1000;

/// Adds `deltas` (the totals of newly inserted rows) to `topic_counts`.
async fn insert_deltas(tx: &mut sqlx::Transaction<'static, Sqlite>, deltas: &[TopicStats]) -> Result<(), IndexError> {
    let mut query = QueryBuilder::<Sqlite>::new(
        "INSERT INTO topic_counts (topic, messages, size_bytes, earliest_ms, latest_ms, conflicts, retracted) ",
    );
    query.push_values(deltas, |mut b, d| {
        b.push_bind(d.topic.as_str())
            .push_bind(d.count)
            .push_bind(d.size_bytes)
            .push_bind(d.earliest_ms)
            .push_bind(d.latest_ms)
            .push_bind(d.conflicts)
            .push_bind(d.retracted);
    });
    query.build().execute(&mut **tx).await.map_err(sqlite_error)?;
    Ok(())
}

/// The FTS5 entries of the rows of `chunk` that were inserted (`inserted`:
/// their ids and stored UUIDs) and belong to a text-indexed topic, in the
/// insert's transaction.
async fn insert_texts(
    tx: &mut sqlx::Transaction<'static, Sqlite>,
    chunk: &[&IndexRow],
    inserted: &[(i64, String)],
) -> Result<(), IndexError> {
    let ids: std::collections::HashMap<&str, i64> = inserted.iter().map(|(id, uuid)| (uuid.as_str(), *id)).collect();
    let entries: Vec<(i64, String)> = chunk
        .iter()
        .filter(|row| row.text_fully_indexed.is_some())
        .filter_map(|row| {
            Some((*ids.get(uuid_text(row.uuid).as_str())?, indexed_form(row.text.as_deref().unwrap_or_default())))
        })
        .collect();
    for part in entries.chunks(TEXT_CHUNK) {
        let mut query = QueryBuilder::<Sqlite>::new("INSERT INTO message_text (rowid, lexemes) ");
        query.push_values(part, |mut b, (id, lexemes)| {
            b.push_bind(*id).push_bind(lexemes.as_str());
        });
        query.build().execute(&mut **tx).await.map_err(sqlite_error)?;
    }
    Ok(())
}

/// FTS5 entries per statement, far below the parameter limit (2 per entry).
const TEXT_CHUNK: usize = 1000;

/// One multi-row `INSERT … ON CONFLICT DO NOTHING`, rows in input order so
/// ids follow it; returns the ids and UUIDs (as stored) of the new rows.
async fn insert_chunk(
    tx: &mut sqlx::Transaction<'static, Sqlite>,
    chunk: &[&IndexRow],
) -> Result<Vec<(i64, String)>, IndexError> {
    let mut query = QueryBuilder::<Sqlite>::new(format!("INSERT INTO messages ({}) ", super::INSERT_COLUMNS));
    query.push_values(chunk, |mut b, row| {
        b.push_bind(uuid_text(row.uuid))
            .push_bind(row.topic.as_str())
            .push_bind(row.timestamp)
            .push_bind(row.size)
            .push_bind(row.key.as_str())
            .push_bind(row.bucket.as_str())
            .push_bind(super::crc_to_db(row.crc32))
            .push_bind(row.is_client_uuid)
            .push_bind(row.public)
            .push_bind(row.direct_upload)
            .push_bind(super::crc_to_db(row.message_crc32))
            .push_bind(row.title.as_str())
            .push_bind(row.sender.as_str())
            .push_bind(row.media_type.as_str())
            .push_bind(row.file_name.as_str())
            .push_bind(row.originator.as_str())
            .push_bind(row.retracted)
            .push_bind(row.partition)
            .push_bind(row.kafka_offset)
            .push_bind(row.timestamp_type.as_str())
            .push_bind(row.ingested_at)
            .push_bind(row.fingerprint.as_slice())
            .push_bind(row.claimed_uuid.map(uuid_text))
            .push_bind(row.text_fully_indexed);
    });
    query.push(" ON CONFLICT (uuid) DO NOTHING RETURNING id, uuid");
    query.build_query_as().fetch_all(&mut **tx).await.map_err(sqlite_error)
}
