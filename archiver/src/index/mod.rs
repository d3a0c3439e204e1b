//! The index: one row per archived message, in PostgreSQL (production) or
//! SQLite (the embedded default).
//!
//! One trait, [`Index`], with one implementation per file (`postgres.rs`,
//! `sqlite.rs`, and `memory.rs` for tests, scenarios and the demo). The two
//! SQL backends share their read and update queries (`sql.rs`, written once
//! over a `Dialect` each implements); each keeps its own connecting,
//! migrating and batch insert. The schema keeps upstream's `messages`
//! columns so upstream's API could read it, plus the Kafka position and
//! identity facts upstream never kept. Uniqueness of `uuid` is enforced by
//! the database.

mod memory;
mod postgres;
mod sql;
mod sqlite;

pub use memory::MemoryIndex;
pub use postgres::PgIndex;
pub use sqlite::SqliteIndex;

use crate::telemetry::redact::{mask_in, mask_password};
use crate::text::query::SearchQuery;
use async_trait::async_trait;
use std::collections::HashSet;
use std::sync::Arc;
use uuid::Uuid;

/// How the message's timestamp was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    /// Producer's CreateTime.
    Create,
    /// Broker's LogAppendTime.
    LogAppend,
    /// Kafka had no usable timestamp; `timestamp` holds the ingest time.
    NotAvailable,
    /// Direct upload through the API; `timestamp` is the server clock.
    Upload,
}

impl TimestampType {
    /// The text stored in the `timestamp_type` column.
    pub fn as_str(self) -> &'static str {
        match self {
            TimestampType::Create => "create",
            TimestampType::LogAppend => "log_append",
            TimestampType::NotAvailable => "not_available",
            TimestampType::Upload => "upload",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Create, Self::LogAppend, Self::NotAvailable, Self::Upload].into_iter().find(|t| t.as_str() == text)
    }
}

/// One row of `messages`, as written. Column names follow upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRow {
    pub uuid: Uuid,
    pub topic: String,
    /// Kafka timestamp in ms, or the ingest time when Kafka had none.
    pub timestamp: i64,
    /// Length of the stored BSON object.
    pub size: i32,
    /// Object key in the store.
    pub key: String,
    pub bucket: String,
    /// CRC-32 of the stored BSON object.
    pub crc32: u32,
    pub is_client_uuid: bool,
    pub public: bool,
    pub direct_upload: bool,
    /// CRC-32 of the payload.
    pub message_crc32: u32,
    pub title: String,
    pub sender: String,
    pub media_type: String,
    pub file_name: String,
    pub originator: String,
    pub retracted: bool,
    /// Kafka partition and offset; `None` for direct uploads.
    pub partition: Option<i32>,
    pub kafka_offset: Option<i64>,
    pub timestamp_type: TimestampType,
    /// Wall-clock ms when the archiver wrote the row.
    pub ingested_at: i64,
    /// SHA-256 identity fingerprint (see `identity`).
    pub fingerprint: [u8; 32],
    /// The client UUID this message claimed when it was stored under its
    /// derived UUID because another message already held the claim.
    pub claimed_uuid: Option<Uuid>,
    /// Upstream's `text_fully_indexed`: `None` for a topic whose text is
    /// not indexed (and rows written before text indexing existed).
    pub text_fully_indexed: Option<bool>,
    /// The searchable text, written with the row in the same transaction
    /// when `text_fully_indexed` is set (`None` then stands for no text).
    /// The index keeps only its search form, so rows read back have `None`.
    pub text: Option<String>,
}

/// A row as read back, with the database's serial `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub id: i64,
    pub row: IndexRow,
}

/// Position for keyset paging: the last `(timestamp, id)` seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub timestamp: i64,
    pub id: i64,
}

/// A keyset-paged listing request. Times are ms, half-open `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Topics to include; empty means every topic.
    pub topics: Vec<String>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub descending: bool,
    pub include_retracted: bool,
    /// Rows per page; implementations cap it at [`PAGE_ROWS_MAX`].
    pub limit: u32,
    /// Continue after this position (exclusive).
    pub after: Option<Cursor>,
    /// Only rows whose text entry matches (full-text search).
    pub search: Option<SearchQuery>,
}

impl ListQuery {
    /// Every row of `topics` (every topic when empty), retracted ones
    /// included, oldest first, `limit` to a page: what audits and checks read.
    pub fn every_row(topics: Vec<String>, limit: u32) -> ListQuery {
        ListQuery {
            topics,
            start_ms: None,
            end_ms: None,
            descending: false,
            include_retracted: true,
            limit,
            after: None,
            search: None,
        }
    }
}

/// The text entry of an existing row, as `archiver reindex-text` writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowText {
    pub uuid: Uuid,
    pub text: String,
    pub fully_indexed: bool,
}

/// The text search configuration of PostgreSQL's vectors and queries.
pub const TEXT_SEARCH_CONFIG: &str = "english";

/// Longest a PostgreSQL search statement may run; longer is [`IndexError::SearchTimedOut`].
pub const SEARCH_TIMEOUT_MS: u64 = 10_000;

/// The rows a restore (or an audit) selects. Times are ms, half-open `[start, end)` on `timestamp`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RowFilter {
    /// Exact topic names; empty means every topic.
    pub topics: Vec<String>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub include_retracted: bool,
    /// Whether direct uploads (`direct_upload = true`) are selected.
    pub include_uploads: bool,
    /// Only rows with `id <= id_max` (a restore freezes its selection at start).
    pub id_max: Option<i64>,
}

impl RowFilter {
    /// Whether `entry` passes the filter, as the SQL backends decide it (the
    /// memory index, and a restore checking rows it looked up by UUID).
    pub fn admits(&self, entry: &IndexEntry) -> bool {
        let row = &entry.row;
        (self.topics.is_empty() || self.topics.contains(&row.topic))
            && self.start_ms.is_none_or(|start| row.timestamp >= start)
            && self.end_ms.is_none_or(|end| row.timestamp < end)
            && (self.include_retracted || !row.retracted)
            && (self.include_uploads || !row.direct_upload)
            && self.id_max.is_none_or(|id_max| entry.id <= id_max)
    }

    /// The rows a listing selects: every upload, no id bound.
    fn of_listing(list: &ListQuery) -> RowFilter {
        RowFilter {
            topics: list.topics.clone(),
            start_ms: list.start_ms,
            end_ms: list.end_ms,
            include_retracted: list.include_retracted,
            include_uploads: true,
            id_max: None,
        }
    }
}

/// The selected rows of one topic and one Kafka partition (`None`: rows
/// without a partition — direct uploads, reindexed objects), with totals.
///
/// A restore walks a selection lane by lane, so that each partition's
/// messages are replayed in their Kafka order and nothing but the lane
/// list (topics × partitions) is ever held whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lane {
    pub topic: String,
    pub partition: Option<i32>,
    pub rows: u64,
    pub size_bytes: u64,
}

/// Keyset position within a lane: `(kafka_offset, uuid)` in a partition's
/// lane, `(timestamp, uuid)` in the partitionless lane. Ordered as the lane
/// is (the UUID compares bytewise), so a restore can check its own progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LaneCursor {
    pub seq: i64,
    pub uuid: Uuid,
}

impl IndexEntry {
    /// This row's position in its lane, to pass as `after` to
    /// [`Index::lane_page`] for the page that follows it: `seq` is the
    /// Kafka offset when the row has a partition, else its timestamp.
    ///
    /// A row with a partition but no offset (the archiver never writes one;
    /// the schema allows it) takes its timestamp as `seq`, and `lane_page`
    /// sorts it there among the partition's offsets, so paging stays total.
    pub fn lane_cursor(&self) -> LaneCursor {
        let row = &self.row;
        let seq = match row.partition {
            Some(_) => row.kafka_offset.unwrap_or(row.timestamp),
            None => row.timestamp,
        };
        LaneCursor { seq, uuid: row.uuid }
    }
}

/// Largest page any listing returns, whatever was asked for.
pub const PAGE_ROWS_MAX: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub entries: Vec<IndexEntry>,
    /// Cursor for the next page; `None` when this page is the last.
    pub next: Option<Cursor>,
}

/// Most buckets an activity count answers per topic: what one chart shows.
pub const ACTIVITY_BUCKETS_MAX: i64 = 180;

/// A time window `[start_ms, end_ms)` cut into at most
/// [`ACTIVITY_BUCKETS_MAX`] buckets of `width_ms`, aligned on multiples of
/// the width since 1970 (so hours and days are UTC hours and days). The
/// first and last buckets may be cut by the window; nothing outside it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buckets {
    start_ms: i64,
    end_ms: i64,
    width_ms: i64,
}

impl Buckets {
    /// `None` for an empty window, a width below 1 ms, more than
    /// [`ACTIVITY_BUCKETS_MAX`] buckets, or a window whose arithmetic
    /// (`end_ms` minus the first bucket's start) would overflow.
    pub fn new(start_ms: i64, end_ms: i64, width_ms: i64) -> Option<Buckets> {
        if width_ms < 1 || start_ms >= end_ms {
            return None;
        }
        let first = start_ms.div_euclid(width_ms);
        let last = (end_ms - 1).div_euclid(width_ms);
        let origin = first.checked_mul(width_ms)?;
        end_ms.checked_sub(origin)?;
        (last - first < ACTIVITY_BUCKETS_MAX).then_some(Buckets { start_ms, end_ms, width_ms })
    }

    pub fn start_ms(&self) -> i64 {
        self.start_ms
    }

    pub fn end_ms(&self) -> i64 {
        self.end_ms
    }

    pub fn width_ms(&self) -> i64 {
        self.width_ms
    }

    /// The first bucket's start: the window's start rounded down to a
    /// multiple of the width.
    pub fn origin_ms(&self) -> i64 {
        self.start_ms.div_euclid(self.width_ms) * self.width_ms
    }

    /// How many buckets the window spans (1..=[`ACTIVITY_BUCKETS_MAX`]).
    pub fn len(&self) -> usize {
        ((self.end_ms - 1 - self.origin_ms()) / self.width_ms + 1) as usize
    }

    /// Never true: a window holds at least one bucket.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The start of bucket `i` (the first one's is [`Buckets::origin_ms`]).
    pub fn bucket_start_ms(&self, i: usize) -> i64 {
        self.origin_ms() + i as i64 * self.width_ms
    }

    /// The bucket `timestamp` falls in, `None` outside the window.
    pub fn index_of(&self, timestamp: i64) -> Option<usize> {
        let inside = (self.start_ms..self.end_ms).contains(&timestamp);
        inside.then(|| ((timestamp - self.origin_ms()) / self.width_ms) as usize)
    }
}

/// How many rows of `topic` fall in the bucket starting at `bucket_start_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub topic: String,
    pub bucket_start_ms: i64,
    pub count: i64,
}

/// Per-topic totals: every row counts, retracted ones included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicStats {
    pub topic: String,
    /// Messages (rows).
    pub count: i64,
    /// Bytes of their stored objects.
    pub size_bytes: i64,
    /// The smallest and largest `timestamp`.
    pub earliest_ms: i64,
    pub latest_ms: i64,
    /// Rows with a `claimed_uuid`: identity conflicts.
    pub conflicts: i64,
    /// Rows whose `retracted` flag is set.
    pub retracted: i64,
}

impl TopicStats {
    /// The totals of `rows`, one entry per topic, sorted by topic name
    /// (bytewise, as every backend sorts them): what a full count says.
    pub fn tally<'a>(rows: impl IntoIterator<Item = &'a IndexRow>) -> Vec<TopicStats> {
        let mut stats: std::collections::BTreeMap<&str, TopicStats> = std::collections::BTreeMap::new();
        for row in rows {
            let s = stats.entry(&row.topic).or_insert_with(|| TopicStats {
                topic: row.topic.clone(),
                count: 0,
                size_bytes: 0,
                earliest_ms: row.timestamp,
                latest_ms: row.timestamp,
                conflicts: 0,
                retracted: 0,
            });
            s.count += 1;
            s.size_bytes += i64::from(row.size);
            s.earliest_ms = s.earliest_ms.min(row.timestamp);
            s.latest_ms = s.latest_ms.max(row.timestamp);
            s.conflicts += i64::from(row.claimed_uuid.is_some());
            s.retracted += i64::from(row.retracted);
        }
        stats.into_values().collect()
    }
}

/// How often a SQL index compacts its statistics: on its first write
/// (insert or retraction) and then every this many writes. Between two
/// compactions each process adds at most this many delta rows per topic,
/// so reading the statistics sums a few rows per topic whatever the size
/// of the archive.
const COMPACT_EVERY: u64 = 32;

/// Counts one index's writes and says when a compaction of the statistics
/// is due (see [`COMPACT_EVERY`]).
#[derive(Debug, Default)]
struct CompactionClock {
    writes: std::sync::atomic::AtomicU64,
}

impl CompactionClock {
    /// Counts a write; `true` on the first and then every [`COMPACT_EVERY`]th.
    fn tick(&self) -> bool {
        self.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed).is_multiple_of(COMPACT_EVERY)
    }
}

/// Logs a compaction that failed: the statistics stay exact either way
/// (a compaction is one transaction), only their table stays larger until
/// the next one.
fn compaction_failed(err: &IndexError) {
    tracing::warn!(error = %err, "compacting the topic statistics failed; they stay exact, the next write tries again");
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("invalid index URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("index migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("index unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("index query failed: {0}")]
    Query(#[source] sqlx::Error),
    #[error("index holds a malformed row (id {id}): {reason}")]
    CorruptRow { id: i64, reason: String },
    #[error("the search ran longer than {SEARCH_TIMEOUT_MS} ms; narrow it: more words, a time window, fewer topics")]
    SearchTimedOut,
    #[error("cannot create the index's directory {}: {source}", path.display())]
    CreateDirectory { path: std::path::PathBuf, source: std::io::Error },
}

/// Runs a batch insert in a task of its own, so that a caller dropping its
/// future (a request deadline, an aborted task, a test's simulated crash)
/// cannot cut the transaction off midway: sqlx then hands the connection
/// back still inside it, and the next insert on it waits or fails (a
/// single-connection SQLite pool hung). The insert finishes either way.
async fn detached<T: Send + 'static>(
    work: impl Future<Output = Result<T, IndexError>> + Send + 'static,
) -> Result<T, IndexError> {
    tokio::spawn(work).await.map_err(|e| {
        tracing::error!(error = %e, "index insert task failed");
        IndexError::Unavailable(sqlx::Error::WorkerCrashed)
    })?
}

impl IndexError {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, IndexError::Unavailable(_))
    }
}

/// The seam between the archiver and the database.
#[async_trait]
pub trait Index: Send + Sync + std::fmt::Debug {
    /// Inserts rows in one transaction; `result[i]` tells whether `rows[i]`
    /// was new (`false`: a row with its UUID already existed and is kept).
    async fn insert_batch(&self, rows: &[IndexRow]) -> Result<Vec<bool>, IndexError>;
    async fn get(&self, uuid: Uuid) -> Result<Option<IndexEntry>, IndexError>;
    /// The entries that exist among `uuids`, in no particular order.
    async fn get_many(&self, uuids: &[Uuid]) -> Result<Vec<IndexEntry>, IndexError>;
    async fn list(&self, query: &ListQuery) -> Result<Page, IndexError>;
    /// Totals per topic, sorted by topic name (bytewise): exact, and
    /// cheap at any size (SQL backends sum a few delta rows per topic,
    /// kept with every insert and retraction in the same transaction).
    async fn topic_stats(&self) -> Result<Vec<TopicStats>, IndexError>;
    /// The totals of the rows whose `timestamp` is at least `since_ms`,
    /// per topic, sorted as [`Index::topic_stats`]: a range scan on the
    /// timestamp index, so it costs the rows in the window.
    async fn topic_stats_since(&self, since_ms: i64) -> Result<Vec<TopicStats>, IndexError>;
    /// Sets the retraction flag; returns whether the message exists. The
    /// statistics change only when the flag does.
    async fn set_retracted(&self, uuid: Uuid, retracted: bool) -> Result<bool, IndexError>;
    /// The lanes of `filter`'s rows, sorted by topic (bytewise), then
    /// partition ascending with the partitionless lane last. One small
    /// row per lane: what a restore plans with before it reads any row.
    async fn lanes(&self, filter: &RowFilter) -> Result<Vec<Lane>, IndexError>;
    /// Up to `limit` (clamped to 1..=[`PAGE_ROWS_MAX`]) rows of one lane
    /// after `after` (exclusive), in lane order: (kafka_offset, uuid)
    /// ascending for a partition, (timestamp, uuid) ascending for the
    /// partitionless lane. UUIDs compare bytewise on every backend, so the
    /// order is total and the same everywhere; a page with fewer rows than
    /// the clamped limit is the lane's last. Continue with the last entry's
    /// [`IndexEntry::lane_cursor`] (which also says where a partitioned row
    /// without an offset sorts).
    async fn lane_page(
        &self,
        filter: &RowFilter,
        topic: &str,
        partition: Option<i32>,
        after: Option<LaneCursor>,
        limit: u32,
    ) -> Result<Vec<IndexEntry>, IndexError>;
    /// The largest row id, `None` when the index is empty. A restore reads
    /// it once and selects `id <= id_max`, so rows archived while it runs
    /// (ids only grow) neither join nor shift its selection.
    async fn id_max(&self) -> Result<Option<i64>, IndexError>;
    /// Rows per bucket of `buckets` for each of `topics` (retracted rows
    /// included), sorted by topic (bytewise), then bucket; buckets without
    /// rows are left out. No topics count nothing — never every topic, so a
    /// caller that filtered out every topic it may not read cannot leak one.
    /// The SQL backends answer with one range scan of the (topic, timestamp)
    /// index: it costs the rows in the window and returns at most
    /// `topics` × [`ACTIVITY_BUCKETS_MAX`] rows. This default, for other
    /// implementations, walks `list` one [`PAGE_ROWS_MAX`] page at a time.
    async fn activity(&self, topics: &[String], buckets: &Buckets) -> Result<Vec<Activity>, IndexError> {
        if topics.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = ListQuery {
            start_ms: Some(buckets.start_ms()),
            end_ms: Some(buckets.end_ms()),
            ..ListQuery::every_row(topics.to_vec(), PAGE_ROWS_MAX)
        };
        // `String` orders bytewise, as the SQL backends are told to.
        let mut counts = std::collections::BTreeMap::<(String, usize), i64>::new();
        loop {
            let page = self.list(&query).await?;
            for entry in &page.entries {
                if let Some(i) = buckets.index_of(entry.row.timestamp) {
                    *counts.entry((entry.row.topic.clone(), i)).or_default() += 1;
                }
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        let activity = counts.into_iter().map(|((topic, i), count)| Activity {
            topic,
            bucket_start_ms: buckets.bucket_start_ms(i),
            count,
        });
        Ok(activity.collect())
    }
    /// Writes the text entries of existing rows (`archiver reindex-text`):
    /// each row's `text_fully_indexed` and its entry, replaced, all in one
    /// transaction. UUIDs without a row are skipped; returns how many were written.
    async fn set_texts(&self, texts: &[RowText]) -> Result<u64, IndexError>;
    /// Up to `limit` (clamped to 1..=[`PAGE_ROWS_MAX`]) rows of `topics`
    /// with an id above `after_id`, by id, that have no text entry — or,
    /// with `partial`, only a partial one (`text_fully_indexed` false).
    async fn rows_without_text(
        &self,
        topics: &[String],
        after_id: i64,
        partial: bool,
        limit: u32,
    ) -> Result<Vec<IndexEntry>, IndexError>;
    /// How many rows `query` selects (its `limit` and `after` are ignored).
    /// PostgreSQL and SQLite answer a query without time bounds from the
    /// topic statistics, else with one `COUNT(*)`; this default, for other
    /// implementations, walks `list` one [`PAGE_ROWS_MAX`] page at a time.
    async fn count(&self, query: &ListQuery) -> Result<u64, IndexError> {
        let mut query = ListQuery { limit: PAGE_ROWS_MAX, after: None, ..query.clone() };
        let mut total = 0u64;
        loop {
            let page = self.list(&query).await?;
            total += page.entries.len() as u64;
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(total),
            }
        }
    }
}

/// Opens the index a URL names: `postgres://…`/`postgresql://…`, or
/// `sqlite://PATH` (created if missing) / `sqlite::memory:`. Migrations are
/// applied before this returns.
pub async fn open(url: &str) -> Result<Arc<dyn Index>, IndexError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgIndex::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteIndex::connect(url).await?))
    } else {
        Err(invalid_url(url, "expected postgres://…, postgresql://…, sqlite://PATH or sqlite::memory:"))
    }
}

fn invalid_url(url: &str, reason: impl std::fmt::Display) -> IndexError {
    IndexError::InvalidUrl { url: mask_password(url), reason: mask_in(&reason.to_string(), url) }
}

/// The migrations a database records as applied: version and checksum.
const APPLIED_MIGRATIONS: &str = "SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version";

/// Whether `applied` (what [`APPLIED_MIGRATIONS`] read; empty if it failed)
/// is exactly `migrator`'s list: then there is nothing to do, and opening
/// takes no lock to find that out (every process start used to take
/// PostgreSQL's advisory lock and run DDL, SQLite's write lock). Anything
/// else — a migration to apply, a changed checksum, a failed or unknown
/// version — goes to sqlx's locked run, which applies or reports it.
fn up_to_date(migrator: &sqlx::migrate::Migrator, applied: &[(i64, Vec<u8>)]) -> bool {
    let embedded = migrator.iter().filter(|m| !m.migration_type.is_down_migration());
    embedded.map(|m| (m.version, m.checksum.as_ref())).eq(applied.iter().map(|(v, c)| (*v, c.as_slice())))
}

/// Sorts a driver error into transient (`Unavailable`, worth retrying) or
/// not (`Query`). `transient_code` recognises the backend's own transient
/// database error codes (lock contention, server shutting down, …).
fn classify(err: sqlx::Error, transient_code: fn(&str) -> bool) -> IndexError {
    use sqlx::Error as E;
    let transient = match &err {
        // The connection broke or could not be had; a new one may work.
        E::Io(_) | E::Tls(_) | E::Protocol(_) => true,
        E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => true,
        E::Database(db) => db.code().is_some_and(|code| transient_code(&code)),
        _ => false,
    };
    if transient { IndexError::Unavailable(err) } else { IndexError::Query(err) }
}

/// Columns each backend writes, in the order its `push_values` binds them.
const INSERT_COLUMNS: &str = "uuid, topic, \"timestamp\", size, \"key\", bucket, crc32, \
     is_client_uuid, public, direct_upload, message_crc32, title, sender, media_type, \
     file_name, originator, retracted, \"partition\", kafka_offset, timestamp_type, \
     ingested_at, fingerprint, claimed_uuid, text_fully_indexed";

/// Number of names in [`INSERT_COLUMNS`]: bind parameters per inserted row.
const INSERT_COLUMN_COUNT: usize = 24;

/// How many UUIDs one `get_many` statement looks up; keeps every statement
/// far below both backends' parameter limits.
const LOOKUP_CHUNK: usize = 1000;

/// The rows of a batch that reach the database: the first occurrence of each
/// UUID, as indices into `rows` in input order. Later occurrences of a UUID
/// are reported as not new without being sent, so one statement never holds
/// the same key twice.
fn first_occurrences(rows: &[IndexRow]) -> Vec<usize> {
    let mut seen = HashSet::with_capacity(rows.len());
    (0..rows.len()).filter(|&i| seen.insert(rows[i].uuid)).collect()
}

/// The per-row result of a batch: `true` for a first occurrence whose UUID
/// the database reported as inserted.
fn batch_outcome(rows: &[IndexRow], firsts: &[usize], inserted: &HashSet<Uuid>) -> Vec<bool> {
    let mut outcome = vec![false; rows.len()];
    for &i in firsts {
        outcome[i] = inserted.contains(&rows[i].uuid);
    }
    outcome
}

/// The page size actually served: at least one row (a zero-row page could not
/// tell whether more exist), at most [`PAGE_ROWS_MAX`].
fn page_limit(query: &ListQuery) -> u32 {
    clamp_limit(query.limit)
}

fn clamp_limit(limit: u32) -> u32 {
    limit.clamp(1, PAGE_ROWS_MAX)
}

/// A lane's total as read from the database: a count, or a sum of sizes,
/// which only a row with a negative size (never written) could make negative.
fn lane_total(topic: &str, what: &str, value: i64) -> Result<u64, IndexError> {
    u64::try_from(value).map_err(|_| {
        IndexError::Query(sqlx::Error::Decode(format!("{what} of topic {topic:?} is negative: {value}").into()))
    })
}

/// Turns `limit + 1` fetched entries into a page: the extra row only proves
/// that another page exists.
fn finish_page(mut entries: Vec<IndexEntry>, limit: u32) -> Page {
    let limit = limit as usize;
    let more = entries.len() > limit;
    entries.truncate(limit);
    let next = entries.last().filter(|_| more).map(|last| Cursor { timestamp: last.row.timestamp, id: last.id });
    Page { entries, next }
}

/// A u32 CRC in a `bigint`/INTEGER column (upstream's representation).
fn crc_to_db(crc: u32) -> i64 {
    i64::from(crc)
}
