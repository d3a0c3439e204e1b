//! The queries PostgreSQL and SQLite share: lookups, listing (filters,
//! keyset paging), counting, topic totals, a restore's lanes and lane
//! pages, and decoding a row.
//!
//! One implementation of [`Index`] for every [`SqlBackend`] (a pool, a
//! batch insert and a retraction, the two writes that keep the topic
//! statistics), written over [`Dialect`], which each backend implements
//! for its `sqlx` database type with the few places where the SQL differs:
//! how a UUID is bound and read back, how a value list is matched, which
//! errors are transient, the collation of byte order. Connecting,
//! migrating, the writes and compacting the statistics stay in the
//! backend's own file.

use super::{
    Activity, Buckets, Cursor, Index, IndexEntry, IndexError, IndexRow, Lane, LaneCursor, ListQuery, Page, RowFilter,
    RowText, TimestampType, TopicStats, clamp_limit, finish_page, lane_total, page_limit,
};
use crate::text::query::SearchQuery;
use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, QueryBuilder, Row, Type};
use std::collections::HashSet;
use uuid::Uuid;

/// What one SQL backend does its own way.
pub(super) trait Dialect: Database {
    /// The `COLLATE` clause that sorts text in byte order.
    const BYTE_ORDER: &'static str;

    /// Whether a database error code means retrying may succeed.
    fn transient_code(code: &str) -> bool;

    /// Appends `uuid` as a bind parameter, in the column's stored form.
    fn push_uuid(query: &mut QueryBuilder<Self>, uuid: Uuid);

    /// Appends `column` matching any of `uuids`.
    fn push_uuid_in(query: &mut QueryBuilder<Self>, column: &str, uuids: &[Uuid]);

    /// Appends `column` matching any of `values`.
    fn push_text_in(query: &mut QueryBuilder<Self>, column: &str, values: &[String]);

    /// Reads a UUID column (`None` for SQL NULL); an `Err` is the reason
    /// the stored value is not a UUID.
    fn read_uuid(row: &Self::Row, col: &'static str) -> Result<Option<Uuid>, String>;

    /// Appends the condition that a row's text entry matches `search`
    /// (never empty: [`push_search`] handles a query that matches nothing).
    fn push_text_match(query: &mut QueryBuilder<Self>, search: &SearchQuery);

    /// A statement selecting the UUIDs whose text matches `search`, at most
    /// `limit`, when a search's page is better read from them than by the
    /// text condition; `None` when the backend plans the condition well.
    fn text_hits(search: &SearchQuery, limit: i64) -> Option<QueryBuilder<Self>>;

    /// The statement that sets up the search statements after it in the
    /// same transaction (a time bound, how they are planned), if the
    /// backend needs one.
    const SEARCH_SETTINGS: Option<&'static str>;

    /// Sorts a search statement's error: a timeout is the caller's to narrow.
    fn search_error(err: sqlx::Error) -> IndexError {
        Self::error(err)
    }

    /// Sorts a driver error into transient or not.
    fn error(err: sqlx::Error) -> IndexError {
        super::classify(err, Self::transient_code)
    }
}

/// A SQL backend: its pool and its own writes, each of which adds its
/// topic-statistics deltas (`topic_counts`) in its own transaction. The
/// rest of [`Index`] is the shared queries, in the one implementation
/// below, whose bounds say that the backend's database is an sqlx driver
/// that encodes and decodes the column types `messages` uses.
#[async_trait]
pub(super) trait SqlBackend: Send + Sync + std::fmt::Debug {
    type Db: Dialect;
    fn pool(&self) -> &Pool<Self::Db>;
    async fn insert_batch(&self, rows: &[IndexRow]) -> Result<Vec<bool>, IndexError>;
    async fn set_retracted(&self, uuid: Uuid, retracted: bool) -> Result<bool, IndexError>;
    async fn set_texts(&self, texts: &[RowText]) -> Result<u64, IndexError>;
}

#[async_trait]
impl<B> Index for B
where
    B: SqlBackend,
    for<'c> &'c mut <B::Db as Database>::Connection: Executor<'c, Database = B::Db>,
    <B::Db as Database>::Arguments: IntoArguments<B::Db>,
    &'static str: ColumnIndex<<B::Db as Database>::Row>,
    for<'r> i64: Encode<'r, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'r> i32: Encode<'r, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'r> bool: Encode<'r, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'r> String: Encode<'r, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'r> Vec<u8>: Decode<'r, B::Db> + Type<B::Db>,
{
    async fn insert_batch(&self, rows: &[IndexRow]) -> Result<Vec<bool>, IndexError> {
        SqlBackend::insert_batch(self, rows).await
    }

    async fn get(&self, uuid: Uuid) -> Result<Option<IndexEntry>, IndexError> {
        let mut query = select();
        query.push(" WHERE uuid = ");
        B::Db::push_uuid(&mut query, uuid);
        let row = query.build().fetch_optional(self.pool()).await.map_err(B::Db::error)?;
        row.as_ref().map(decode_entry::<B::Db>).transpose()
    }

    async fn get_many(&self, uuids: &[Uuid]) -> Result<Vec<IndexEntry>, IndexError> {
        let unique: Vec<Uuid> = uuids.iter().copied().collect::<HashSet<_>>().into_iter().collect();
        let mut entries = Vec::with_capacity(unique.len());
        for chunk in unique.chunks(super::LOOKUP_CHUNK) {
            let mut query = select();
            query.push(" WHERE ");
            B::Db::push_uuid_in(&mut query, "uuid", chunk);
            let rows = query.build().fetch_all(self.pool()).await.map_err(B::Db::error)?;
            for row in &rows {
                entries.push(decode_entry::<B::Db>(row)?);
            }
        }
        Ok(entries)
    }

    async fn list(&self, list: &ListQuery) -> Result<Page, IndexError> {
        let limit = page_limit(list);
        let hits = search_hits::<B>(self.pool(), list.search.as_ref()).await?;
        let mut query = select();
        push_filters(&mut query, &RowFilter::of_listing(list));
        match hits {
            Some(uuids) if uuids.is_empty() => {
                query.push(" AND FALSE");
            }
            Some(uuids) => {
                query.push(" AND ");
                B::Db::push_uuid_in(&mut query, "uuid", &uuids);
            }
            None => push_search(&mut query, list.search.as_ref()),
        }
        push_keyset(&mut query, list.after, list.descending);
        query.push(" LIMIT ").push_bind(i64::from(limit) + 1);
        let rows = fetch_all::<B>(self.pool(), query, list.search.is_some()).await?;
        let entries = rows.iter().map(decode_entry::<B::Db>).collect::<Result<Vec<_>, _>>()?;
        Ok(finish_page(entries, limit))
    }

    async fn count(&self, list: &ListQuery) -> Result<u64, IndexError> {
        let unbounded = list.start_ms.is_none() && list.end_ms.is_none() && list.search.is_none();
        let query = if unbounded {
            // Every row of the topics: the statistics know, whatever the size.
            let counted = if list.include_retracted { "messages" } else { "messages - retracted" };
            let mut query = QueryBuilder::<B::Db>::new(format!(
                "SELECT CAST(COALESCE(SUM({counted}), 0) AS BIGINT) AS count FROM topic_counts WHERE TRUE"
            ));
            if !list.topics.is_empty() {
                query.push(" AND ");
                B::Db::push_text_in(&mut query, "topic", &list.topics);
            }
            query
        } else {
            let mut query = QueryBuilder::<B::Db>::new("SELECT COUNT(*) AS count FROM messages");
            push_filters(&mut query, &RowFilter::of_listing(list));
            push_search(&mut query, list.search.as_ref());
            query
        };
        let rows = fetch_all::<B>(self.pool(), query, list.search.is_some()).await?;
        let row = rows.first().ok_or_else(|| IndexError::Query(sqlx::Error::RowNotFound))?;
        let count: i64 = row.try_get("count").map_err(B::Db::error)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn topic_stats(&self) -> Result<Vec<TopicStats>, IndexError> {
        let mut query = QueryBuilder::<B::Db>::new(STATS_OF_COUNTS);
        query.push(format_args!(" GROUP BY topic HAVING SUM(messages) > 0 ORDER BY topic {}", B::Db::BYTE_ORDER));
        let rows = query.build().fetch_all(self.pool()).await.map_err(B::Db::error)?;
        rows.iter().map(stats_row::<B::Db>).collect::<Result<_, _>>().map_err(B::Db::error)
    }

    async fn topic_stats_since(&self, since_ms: i64) -> Result<Vec<TopicStats>, IndexError> {
        let mut query = QueryBuilder::<B::Db>::new(STATS_OF_MESSAGES);
        query.push(" WHERE \"timestamp\" >= ").push_bind(since_ms);
        query.push(format_args!(" GROUP BY topic ORDER BY topic {}", B::Db::BYTE_ORDER));
        let rows = query.build().fetch_all(self.pool()).await.map_err(B::Db::error)?;
        rows.iter().map(stats_row::<B::Db>).collect::<Result<_, _>>().map_err(B::Db::error)
    }

    async fn activity(&self, topics: &[String], buckets: &Buckets) -> Result<Vec<Activity>, IndexError> {
        if topics.is_empty() {
            return Ok(Vec::new());
        }
        // `"timestamp" - origin` is never negative inside the window, so
        // integer division (truncating on both backends) is the floor. The
        // bucket is grouped on outside a subquery: grouping on an alias of
        // an expression with parameters fails on PostgreSQL, and SQLite
        // took each row for a group of its own.
        let mut query =
            QueryBuilder::<B::Db>::new("SELECT topic, bucket, COUNT(*) AS count FROM (SELECT topic, (\"timestamp\" - ");
        query.push_bind(buckets.origin_ms()).push(") / ").push_bind(buckets.width_ms());
        query.push(" AS bucket FROM messages WHERE ");
        B::Db::push_text_in(&mut query, "topic", topics);
        query.push(" AND \"timestamp\" >= ").push_bind(buckets.start_ms());
        query.push(" AND \"timestamp\" < ").push_bind(buckets.end_ms());
        query.push(format_args!(") AS windowed GROUP BY topic, bucket ORDER BY topic {}, bucket", B::Db::BYTE_ORDER));
        let rows = query.build().fetch_all(self.pool()).await.map_err(B::Db::error)?;
        rows.iter()
            .map(|row| {
                let bucket: i64 = row.try_get("bucket")?;
                let bucket_start_ms = buckets.origin_ms() + bucket * buckets.width_ms();
                Ok(Activity { topic: row.try_get("topic")?, bucket_start_ms, count: row.try_get("count")? })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(B::Db::error)
    }

    async fn set_retracted(&self, uuid: Uuid, retracted: bool) -> Result<bool, IndexError> {
        SqlBackend::set_retracted(self, uuid, retracted).await
    }

    async fn lanes(&self, filter: &RowFilter) -> Result<Vec<Lane>, IndexError> {
        let mut query = QueryBuilder::<B::Db>::new(
            "SELECT topic, \"partition\", COUNT(*) AS count, CAST(SUM(size) AS BIGINT) AS size_bytes FROM messages",
        );
        push_filters(&mut query, filter);
        // `IS NULL` first: false sorts before true on both backends, which
        // otherwise disagree on where NULLs go.
        query.push(format_args!(
            " GROUP BY topic, \"partition\" ORDER BY topic {}, \"partition\" IS NULL, \"partition\"",
            B::Db::BYTE_ORDER
        ));
        let rows = query.build().fetch_all(self.pool()).await.map_err(B::Db::error)?;
        rows.iter().map(lane_row::<B::Db>).collect()
    }

    async fn lane_page(
        &self,
        filter: &RowFilter,
        topic: &str,
        partition: Option<i32>,
        after: Option<LaneCursor>,
        limit: u32,
    ) -> Result<Vec<IndexEntry>, IndexError> {
        let mut query = select();
        push_filters(&mut query, filter);
        query.push(" AND topic = ").push_bind(topic.to_owned());
        let seq = match partition {
            Some(partition) => {
                query.push(" AND \"partition\" = ").push_bind(partition);
                PARTITION_SEQ
            }
            None => {
                query.push(" AND \"partition\" IS NULL");
                "\"timestamp\""
            }
        };
        if let Some(after) = after {
            // The first condition is implied by the second; it is there for
            // SQLite, which bounds an index scan by a row comparison on
            // plain columns but not on an expression such as PARTITION_SEQ
            // (without it, every page would scan its lane from the start).
            query.push(format_args!(" AND {seq} >= ")).push_bind(after.seq);
            query.push(format_args!(" AND ({seq}, uuid) > (")).push_bind(after.seq).push(", ");
            B::Db::push_uuid(&mut query, after.uuid);
            query.push(")");
        }
        query.push(format_args!(" ORDER BY {seq}, uuid LIMIT ")).push_bind(i64::from(clamp_limit(limit)));
        let rows = query.build().fetch_all(self.pool()).await.map_err(B::Db::error)?;
        rows.iter().map(decode_entry::<B::Db>).collect()
    }

    async fn set_texts(&self, texts: &[RowText]) -> Result<u64, IndexError> {
        SqlBackend::set_texts(self, texts).await
    }

    async fn rows_without_text(
        &self,
        topics: &[String],
        after_id: i64,
        partial: bool,
        limit: u32,
    ) -> Result<Vec<IndexEntry>, IndexError> {
        if topics.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = select();
        query.push(" WHERE ");
        B::Db::push_text_in(&mut query, "topic", topics);
        query.push(" AND id > ").push_bind(after_id);
        query.push(if partial {
            " AND NOT COALESCE(text_fully_indexed, FALSE)"
        } else {
            " AND text_fully_indexed IS NULL"
        });
        query.push(" ORDER BY id LIMIT ").push_bind(i64::from(clamp_limit(limit)));
        let rows = query.build().fetch_all(self.pool()).await.map_err(B::Db::error)?;
        rows.iter().map(decode_entry::<B::Db>).collect()
    }

    async fn id_max(&self) -> Result<Option<i64>, IndexError> {
        let row = sqlx::query::<B::Db>("SELECT MAX(id) AS id_max FROM messages")
            .fetch_one(self.pool())
            .await
            .map_err(B::Db::error)?;
        row.try_get("id_max").map_err(B::Db::error)
    }
}

/// The statistics summed from their deltas (`topic_counts`), before the
/// `GROUP BY`. `CAST`: PostgreSQL sums bigints as numeric.
const STATS_OF_COUNTS: &str = "SELECT topic, CAST(SUM(messages) AS BIGINT) AS count, \
     CAST(SUM(size_bytes) AS BIGINT) AS size_bytes, MIN(earliest_ms) AS earliest_ms, MAX(latest_ms) AS latest_ms, \
     CAST(SUM(conflicts) AS BIGINT) AS conflicts, CAST(SUM(retracted) AS BIGINT) AS retracted FROM topic_counts";

/// The statistics counted from `messages` itself, before the `WHERE`.
const STATS_OF_MESSAGES: &str = "SELECT topic, COUNT(*) AS count, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS size_bytes, \
     MIN(\"timestamp\") AS earliest_ms, MAX(\"timestamp\") AS latest_ms, COUNT(claimed_uuid) AS conflicts, \
     CAST(SUM(CASE WHEN retracted THEN 1 ELSE 0 END) AS BIGINT) AS retracted FROM messages";

/// A partition lane's sequence: the offset, or the timestamp of a row
/// without one (as [`IndexEntry::lane_cursor`] has it). Spelled exactly as
/// in migration 0003's index, whose expression the planners must recognise
/// to page a lane by index. The partitionless lane's is `"timestamp"`.
const PARTITION_SEQ: &str = "COALESCE(kafka_offset, \"timestamp\")";

/// `SELECT <all columns> FROM messages`, ready for a WHERE clause.
fn select<DB: Database>() -> QueryBuilder<DB> {
    QueryBuilder::new(format!("SELECT {SELECT_COLUMNS} FROM messages"))
}

/// The WHERE clause of a selection: topics, half-open time range,
/// retraction, uploads, id bound.
fn push_filters<DB>(query: &mut QueryBuilder<DB>, filter: &RowFilter)
where
    DB: Dialect,
    for<'r> i64: Encode<'r, DB> + Type<DB>,
{
    query.push(" WHERE TRUE");
    if !filter.topics.is_empty() {
        query.push(" AND ");
        DB::push_text_in(query, "topic", &filter.topics);
    }
    if let Some(start) = filter.start_ms {
        query.push(" AND \"timestamp\" >= ").push_bind(start);
    }
    if let Some(end) = filter.end_ms {
        query.push(" AND \"timestamp\" < ").push_bind(end);
    }
    if !filter.include_retracted {
        query.push(" AND NOT retracted");
    }
    if !filter.include_uploads {
        query.push(" AND NOT direct_upload");
    }
    if let Some(id_max) = filter.id_max {
        query.push(" AND id <= ").push_bind(id_max);
    }
}

/// Appends the full-text condition, if any: nothing matches a query of
/// stop words only, as in PostgreSQL.
fn push_search<DB: Dialect>(query: &mut QueryBuilder<DB>, search: Option<&SearchQuery>) {
    match search {
        None => {}
        Some(search) if search.matches_nothing() => {
            query.push(" AND FALSE");
        }
        Some(search) => DB::push_text_match(query, search),
    }
}

/// Up to this many matches, a search's page is read from the list of them.
const SEARCH_HITS_MAX: i64 = 10_000;

/// A selective search's matching UUIDs, when the backend has them read
/// first ([`Dialect::text_hits`]); `None` for a search with more matches
/// than [`SEARCH_HITS_MAX`] (walking the time order finds a page of those
/// at once) and for no search. Why: PostgreSQL cannot tell how rare a word
/// is and walked the time index row by row for a word in 100 of 1 million
/// rows (3.5 s), where the GIN index lists its rows in milliseconds.
async fn search_hits<B>(pool: &Pool<B::Db>, search: Option<&SearchQuery>) -> Result<Option<Vec<Uuid>>, IndexError>
where
    B: SqlBackend,
    for<'c> &'c mut <B::Db as Database>::Connection: Executor<'c, Database = B::Db>,
    <B::Db as Database>::Arguments: IntoArguments<B::Db>,
{
    let Some(search) = search.filter(|s| !s.matches_nothing()) else { return Ok(None) };
    let Some(query) = B::Db::text_hits(search, SEARCH_HITS_MAX + 1) else { return Ok(None) };
    let rows = fetch_all::<B>(pool, query, true).await?;
    if rows.len() as i64 > SEARCH_HITS_MAX {
        return Ok(None);
    }
    let uuids = rows.iter().map(|row| B::Db::read_uuid(row, "uuid"));
    let uuids = uuids.collect::<Result<Vec<Option<Uuid>>, String>>();
    let uuids = uuids.map_err(|reason| IndexError::Query(sqlx::Error::Decode(reason.into())))?;
    Ok(Some(uuids.into_iter().flatten().collect()))
}

/// Runs a read; a search runs in a transaction bounded by the backend's
/// statement timeout, so no query costs more than that much database time.
async fn fetch_all<B>(
    pool: &Pool<B::Db>,
    query: QueryBuilder<B::Db>,
    search: bool,
) -> Result<Vec<<B::Db as Database>::Row>, IndexError>
where
    B: SqlBackend,
    for<'c> &'c mut <B::Db as Database>::Connection: Executor<'c, Database = B::Db>,
    <B::Db as Database>::Arguments: IntoArguments<B::Db>,
{
    let mut query = query;
    let Some(bound) = B::Db::SEARCH_SETTINGS.filter(|_| search) else {
        return query.build().fetch_all(pool).await.map_err(B::Db::error);
    };
    let mut tx = pool.begin().await.map_err(B::Db::error)?;
    sqlx::query::<B::Db>(bound).execute(&mut *tx).await.map_err(B::Db::error)?;
    let rows = query.build().fetch_all(&mut *tx).await.map_err(B::Db::search_error)?;
    tx.commit().await.map_err(B::Db::error)?;
    Ok(rows)
}

/// Appends the keyset condition and ordering for `("timestamp", id)`.
fn push_keyset<DB>(query: &mut QueryBuilder<DB>, after: Option<Cursor>, descending: bool)
where
    DB: Database,
    for<'r> i64: Encode<'r, DB> + Type<DB>,
{
    let (cmp, order) = if descending { ("<", "DESC") } else { (">", "ASC") };
    if let Some(after) = after {
        query
            .push(format_args!(" AND (\"timestamp\", id) {cmp} ("))
            .push_bind(after.timestamp)
            .push(", ")
            .push_bind(after.id)
            .push(")");
    }
    query.push(format_args!(" ORDER BY \"timestamp\" {order}, id {order}"));
}

fn stats_row<DB>(row: &DB::Row) -> Result<TopicStats, sqlx::Error>
where
    DB: Database,
    &'static str: ColumnIndex<DB::Row>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
{
    Ok(TopicStats {
        topic: row.try_get("topic")?,
        count: row.try_get("count")?,
        size_bytes: row.try_get("size_bytes")?,
        earliest_ms: row.try_get("earliest_ms")?,
        latest_ms: row.try_get("latest_ms")?,
        conflicts: row.try_get("conflicts")?,
        retracted: row.try_get("retracted")?,
    })
}

/// One row of the lanes query.
fn lane_row<DB>(row: &DB::Row) -> Result<Lane, IndexError>
where
    DB: Dialect,
    &'static str: ColumnIndex<DB::Row>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> i32: Decode<'r, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
{
    let topic: String = row.try_get("topic").map_err(DB::error)?;
    let partition: Option<i32> = row.try_get("partition").map_err(DB::error)?;
    let rows: i64 = row.try_get("count").map_err(DB::error)?;
    let size_bytes: i64 = row.try_get("size_bytes").map_err(DB::error)?;
    let rows = lane_total(&topic, "row count", rows)?;
    let size_bytes = lane_total(&topic, "total size", size_bytes)?;
    Ok(Lane { topic, partition, rows, size_bytes })
}

/// Columns as `SELECT`ed by both backends; [`decode_entry`] reads them by
/// name. `"timestamp"`, `"key"` and `"partition"` are keywords somewhere.
const SELECT_COLUMNS: &str = "id, uuid, topic, \"timestamp\", size, \"key\", bucket, crc32, \
     is_client_uuid, public, direct_upload, message_crc32, title, sender, media_type, \
     file_name, originator, retracted, \"partition\", kafka_offset, timestamp_type, \
     ingested_at, fingerprint, claimed_uuid, text_fully_indexed";

/// Decodes one row selected with [`SELECT_COLUMNS`]. Anything that does not
/// fit [`super::IndexRow`] is reported as [`IndexError::CorruptRow`] with the id.
fn decode_entry<DB>(row: &DB::Row) -> Result<IndexEntry, IndexError>
where
    DB: Dialect,
    &'static str: ColumnIndex<DB::Row>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> i32: Decode<'r, DB> + Type<DB>,
    for<'r> bool: Decode<'r, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> Vec<u8>: Decode<'r, DB> + Type<DB>,
{
    let id: i64 = row.try_get("id").map_err(IndexError::Query)?;
    let corrupt = |reason: String| IndexError::CorruptRow { id, reason };
    let uuid = |col| match DB::read_uuid(row, col) {
        Ok(value) => Ok(value),
        Err(reason) => Err(corrupt(format!("{col}: {reason}"))),
    };
    let crc = |col| {
        let value: i64 = field(row, id, col)?;
        u32::try_from(value).map_err(|_| corrupt(format!("{col} {value} is not a u32")))
    };
    let fingerprint: Vec<u8> = field(row, id, "fingerprint")?;
    let fingerprint = <[u8; 32]>::try_from(fingerprint.as_slice())
        .map_err(|_| corrupt(format!("fingerprint has {} bytes, not 32", fingerprint.len())))?;
    let timestamp_type: String = field(row, id, "timestamp_type")?;
    let timestamp_type = TimestampType::parse(&timestamp_type)
        .ok_or_else(|| corrupt(format!("unknown timestamp_type {timestamp_type:?}")))?;
    let row = super::IndexRow {
        uuid: uuid("uuid")?.ok_or_else(|| corrupt("uuid is NULL".into()))?,
        topic: field(row, id, "topic")?,
        timestamp: field(row, id, "timestamp")?,
        size: field(row, id, "size")?,
        key: field(row, id, "key")?,
        bucket: field(row, id, "bucket")?,
        crc32: crc("crc32")?,
        is_client_uuid: field(row, id, "is_client_uuid")?,
        public: field(row, id, "public")?,
        direct_upload: field(row, id, "direct_upload")?,
        message_crc32: crc("message_crc32")?,
        title: field(row, id, "title")?,
        sender: field(row, id, "sender")?,
        media_type: field(row, id, "media_type")?,
        file_name: field(row, id, "file_name")?,
        originator: field(row, id, "originator")?,
        retracted: field(row, id, "retracted")?,
        partition: field(row, id, "partition")?,
        kafka_offset: field(row, id, "kafka_offset")?,
        timestamp_type,
        ingested_at: field(row, id, "ingested_at")?,
        fingerprint,
        claimed_uuid: uuid("claimed_uuid")?,
        text_fully_indexed: field(row, id, "text_fully_indexed")?,
        text: None,
    };
    Ok(IndexEntry { id, row })
}

/// One column of row `id`; a value that does not decode as `T` (wrong type,
/// unexpected NULL) marks the row corrupt.
fn field<R, T>(row: &R, id: i64, col: &'static str) -> Result<T, IndexError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    for<'r> T: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(col).map_err(|e| IndexError::CorruptRow { id, reason: format!("{col}: {e}") })
}
