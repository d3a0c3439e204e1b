//! Conformance suite for `archiver::index`.
//!
//! Every case in [`conformance!`] runs against SQLite (a fresh file in a
//! temp dir) and against a real PostgreSQL (a fresh database, created from
//! the admin URL in `ARCHIVER_TEST_PG_URL` and dropped afterwards), so both
//! backends are held to one behaviour; the cases that do not reach behind
//! the index with SQL run against the in-memory index too. Tests can run in parallel: nothing is
//! shared between them but the PostgreSQL server.

use crate::support::{self, admin_exec, with_database};
use archiver::index::{
    self, ACTIVITY_BUCKETS_MAX, Activity, Buckets, Cursor, Index, IndexEntry, IndexError, IndexRow, Lane, LaneCursor,
    ListQuery, PAGE_ROWS_MAX, RowFilter, TimestampType, TopicStats,
};
use futures::FutureExt;
use sqlx::{AssertSqlSafe, Connection, Row};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

// ---------------------------------------------------------------- harness --

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
    Memory,
}

/// What a case gets: an opened, empty index, and the URL it came from (to
/// reopen it, or to reach behind it with a raw connection).
struct Db {
    index: Arc<dyn Index>,
    url: String,
    backend: Backend,
}

/// A fresh, empty database that [`Scratch::remove`] deletes again.
struct Scratch {
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    /// Nothing outside the process.
    Nothing,
    /// Deleted on drop.
    TempDir {
        _dir: tempfile::TempDir,
    },
    PgDatabase {
        admin: String,
        name: String,
    },
}

impl Scratch {
    async fn create(backend: Backend) -> Scratch {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("index.db").display());
                Scratch { url, cleanup: Cleanup::TempDir { _dir: dir } }
            }
            Backend::Postgres => {
                let admin = support::service("ARCHIVER_TEST_PG_URL");
                let name = format!("index_{}", Uuid::new_v4().simple());
                admin_exec(&admin, format!("CREATE DATABASE \"{name}\"")).await;
                let url = with_database(&admin, &name);
                Scratch { url, cleanup: Cleanup::PgDatabase { admin, name } }
            }
            Backend::Memory => Scratch { url: "memory".into(), cleanup: Cleanup::Nothing },
        }
    }

    async fn remove(self) {
        if let Cleanup::PgDatabase { admin, name } = self.cleanup {
            admin_exec(&admin, format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
        }
    }
}

/// Runs `case` on a freshly opened, empty index of `backend`, then removes
/// the database even if the case panicked.
async fn check<F, Fut>(backend: Backend, case: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = ()>,
{
    check_fresh(backend, |url| async move {
        let index: Arc<dyn Index> = match backend {
            Backend::Memory => Arc::new(index::MemoryIndex::new()),
            _ => index::open(&url).await.unwrap_or_else(|e| panic!("open {url}: {e}")),
        };
        case(Db { index, url, backend }).await;
    })
    .await;
}

/// Runs `case` with the URL of an empty database nobody has opened yet.
async fn check_fresh<F, Fut>(backend: Backend, case: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let scratch = Scratch::create(backend).await;
    let outcome = AssertUnwindSafe(case(scratch.url.clone())).catch_unwind().await;
    scratch.remove().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Declares each case once per backend: `index::sqlite::<case>`,
/// `index::postgres::<case>` and (for `opened` cases) `index::memory::<case>`.
/// `opened` and `sql_opened` cases get a [`Db`]; `sql_opened` ones reach
/// behind the index with SQL. `fresh` cases get the URL of a database that
/// has never been opened.
macro_rules! conformance {
    (
        opened: [$($case:ident),* $(,)?],
        sql_opened: [$($sql:ident),* $(,)?],
        fresh: [$($fresh:ident),* $(,)?] $(,)?
    ) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $case() {
                    super::check(super::Backend::Memory, super::$case).await;
                }
            )*
        }
        conformance!(@sql sqlite Sqlite [$($case,)* $($sql,)*] [$($fresh,)*]);
        conformance!(@sql postgres Postgres [$($case,)* $($sql,)*] [$($fresh,)*]);
    };
    (@sql $module:ident $backend:ident [$($case:ident,)*] [$($fresh:ident,)*]) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::check(super::Backend::$backend, super::$case).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $fresh() {
                    super::check_fresh(super::Backend::$backend, super::$fresh).await;
                }
            )*
        }
    };
}

conformance! {
    opened: [
        insert_then_get_returns_every_column,
        get_of_missing_uuid_is_none,
        batch_reports_new_existing_and_in_batch_duplicates,
        empty_batch_is_a_no_op,
        large_batch_is_chunked,
        ids_follow_input_order_within_a_batch,
        get_many_returns_the_existing_entries_once,
        list_filters_by_topics,
        list_time_range_is_half_open,
        list_orders_ascending_and_descending_with_ties_by_id,
        list_pages_through_every_row_exactly_once,
        list_excludes_retracted_unless_asked,
        list_caps_the_limit,
        topic_stats_are_sorted_totals,
        topic_stats_stay_exact_through_duplicates_and_retractions,
        topic_stats_since_count_the_rows_of_the_window,
        count_without_time_bounds_agrees_with_listing,
        activity_counts_the_rows_of_each_bucket,
        activity_buckets_negative_and_edge_timestamps,
        concurrent_writers_keep_the_topic_stats_exact,
        set_retracted_reports_whether_the_uuid_exists,
        concurrent_inserters_of_one_uuid_store_one_row,
        overlapping_batches_in_opposite_orders_all_succeed,
        lanes_are_sorted_and_totalled,
        lane_page_orders_each_lane,
        lane_pages_of_two_return_every_row_once,
        lane_page_honours_the_filter,
        lane_page_caps_the_limit,
        id_max_is_the_largest_id,
    ],
    sql_opened: [
        failed_batch_writes_nothing,
        reopening_applies_no_migration,
        malformed_rows_are_reported_as_corrupt,
        regression_upstreams_topic_listing_queries_read_topics,
        lanes_sort_topics_bytewise_under_a_locale_collation,
        compaction_keeps_the_stats_and_few_delta_rows,
        migration_backfills_the_stats_of_existing_rows,
    ],
    fresh: [
        concurrent_first_opens_migrate_once,
    ],
}

// ----------------------------------------------------------------- helpers --

const BASE_MS: i64 = 1_700_000_000_000;

/// A row with a distinct, non-default value in every column, varied by `n`
/// (booleans follow the bits of `n`, CRCs are ≥ 2^31, the title is not
/// ASCII). Tests adjust it with struct update syntax.
fn row(n: u32) -> IndexRow {
    let uuid = Uuid::new_v4();
    let types = [TimestampType::Create, TimestampType::LogAppend, TimestampType::NotAvailable, TimestampType::Upload];
    IndexRow {
        uuid,
        topic: "sys.default".into(),
        timestamp: BASE_MS + i64::from(n),
        size: 1000 + n as i32,
        key: format!("sys.default/2023/11/14/{uuid}.bson"),
        bucket: format!("bucket-{n}"),
        crc32: 0x8000_0000 + n,
        is_client_uuid: n & 1 != 0,
        public: n & 2 != 0,
        direct_upload: n & 4 != 0,
        message_crc32: u32::MAX - n,
        title: format!("GRB 231114A — Ωμέγα ✨ «{n}»"),
        sender: format!("sender-{n}"),
        media_type: "application/json".into(),
        file_name: format!("notice-{n}.json"),
        originator: format!("originator-{n}"),
        retracted: false,
        partition: Some(n as i32 % 7 + 1),
        kafka_offset: Some(10_000_000_000 + i64::from(n)),
        timestamp_type: types[n as usize % types.len()],
        ingested_at: BASE_MS + 86_400_000 + i64::from(n),
        fingerprint: std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ n as u8),
        claimed_uuid: (n % 2 == 1).then(Uuid::new_v4),
        text_fully_indexed: None,
        text: None,
    }
}

/// `count` rows on `topic` with timestamps `ts(i)`.
fn rows_on(topic: &str, count: u32, ts: impl Fn(u32) -> i64) -> Vec<IndexRow> {
    (0..count).map(|i| IndexRow { topic: topic.into(), timestamp: ts(i), ..row(i) }).collect()
}

async fn insert(index: &dyn Index, rows: &[IndexRow]) -> Vec<bool> {
    index.insert_batch(rows).await.unwrap_or_else(|e| panic!("insert_batch of {} rows: {e}", rows.len()))
}

async fn insert_new(index: &dyn Index, rows: &[IndexRow]) {
    let new = insert(index, rows).await;
    assert!(new.iter().all(|&n| n), "every row was expected to be new: {new:?}");
}

async fn get(index: &dyn Index, uuid: Uuid) -> IndexEntry {
    index
        .get(uuid)
        .await
        .unwrap_or_else(|e| panic!("get {uuid}: {e}"))
        .unwrap_or_else(|| panic!("get {uuid}: no such row"))
}

fn query() -> ListQuery {
    ListQuery {
        search: None,
        topics: Vec::new(),
        start_ms: None,
        end_ms: None,
        descending: false,
        include_retracted: false,
        limit: PAGE_ROWS_MAX,
        after: None,
    }
}

/// The UUIDs of one page of `q`.
async fn list_uuids(index: &dyn Index, q: &ListQuery) -> Vec<Uuid> {
    let page = index.list(q).await.unwrap_or_else(|e| panic!("list {q:?}: {e}"));
    page.entries.iter().map(|e| e.row.uuid).collect()
}

/// Follows cursors from `q` to the end; returns every UUID seen and the page
/// sizes.
async fn list_all(index: &dyn Index, q: &ListQuery) -> (Vec<Uuid>, Vec<usize>) {
    let mut q = q.clone();
    let (mut uuids, mut sizes) = (Vec::new(), Vec::new());
    for _ in 0..10_000 {
        let page = index.list(&q).await.unwrap_or_else(|e| panic!("list {q:?}: {e}"));
        sizes.push(page.entries.len());
        uuids.extend(page.entries.iter().map(|e| e.row.uuid));
        match page.next {
            Some(next) => q.after = Some(next),
            None => return (uuids, sizes),
        }
    }
    panic!("paging did not end after 10000 pages: {sizes:?}");
}

fn uuids(rows: &[IndexRow]) -> Vec<Uuid> {
    rows.iter().map(|r| r.uuid).collect()
}

async fn total_rows(index: &dyn Index) -> i64 {
    let stats = index.topic_stats().await.expect("topic_stats");
    stats.iter().map(|s| s.count).sum()
}

/// Runs `sql` (one `?`/`$1` parameter: a UUID) on a raw connection to `db`,
/// with integrity checks off, to plant a row the index would never write.
async fn tamper(db: &Db, set: &str, uuid: Uuid) {
    match db.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.expect("raw sqlite");
            sqlx::query("PRAGMA ignore_check_constraints = ON").execute(&mut conn).await.expect("pragma");
            let sql = format!("UPDATE messages SET {set} WHERE uuid = ?");
            sqlx::query(AssertSqlSafe(sql))
                .bind(uuid.hyphenated().to_string())
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("tamper {set}: {e}"));
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("raw pg");
            let sql = format!("UPDATE messages SET {set} WHERE uuid = $1");
            sqlx::query(AssertSqlSafe(sql))
                .bind(uuid)
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("tamper {set}: {e}"));
        }
        Backend::Memory => unreachable!("tampering needs SQL: list the case under sql_opened"),
    }
}

/// `(count, max version)` of sqlx's migration bookkeeping in `db`.
async fn applied_migrations(db: &Db) -> (i64, i64) {
    let sql = "SELECT COUNT(*), MAX(version) FROM _sqlx_migrations WHERE success";
    match db.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.expect("raw sqlite");
            sqlx::query_as(sql).fetch_one(&mut conn).await.expect("read _sqlx_migrations")
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("raw pg");
            sqlx::query_as(sql).fetch_one(&mut conn).await.expect("read _sqlx_migrations")
        }
        Backend::Memory => unreachable!("the memory index has no migrations: list the case under sql_opened"),
    }
}

// ------------------------------------------------------------------- cases --

async fn insert_then_get_returns_every_column(db: Db) {
    let mut rows: Vec<IndexRow> = (0..8).map(row).collect();
    rows.push(IndexRow {
        partition: None,
        kafka_offset: None,
        direct_upload: true,
        timestamp_type: TimestampType::Upload,
        claimed_uuid: None,
        ..row(8)
    });
    rows.push(IndexRow {
        timestamp: 0,
        crc32: u32::MAX,
        message_crc32: 0,
        title: String::new(),
        sender: String::new(),
        retracted: true,
        fingerprint: [0xff; 32],
        claimed_uuid: Some(Uuid::max()),
        partition: Some(0),
        kafka_offset: Some(0),
        ..row(9)
    });
    rows.push(IndexRow { timestamp: -1, size: i32::MAX, fingerprint: [0; 32], ..row(10) });
    insert_new(&*db.index, &rows).await;
    let mut ids = HashSet::new();
    for want in &rows {
        let got = get(&*db.index, want.uuid).await;
        assert_eq!(&got.row, want, "row read back differs from row written");
        assert!(got.id > 0 && ids.insert(got.id), "ids must be positive and distinct");
    }
    let many = db.index.get_many(&uuids(&rows)).await.expect("get_many");
    for entry in many {
        assert_eq!(entry, get(&*db.index, entry.row.uuid).await, "get_many and get disagree");
    }
}

async fn get_of_missing_uuid_is_none(db: Db) {
    insert_new(&*db.index, &[row(1)]).await;
    let missing = db.index.get(Uuid::new_v4()).await.expect("get");
    assert_eq!(missing, None, "an unknown UUID must read as None");
}

async fn batch_reports_new_existing_and_in_batch_duplicates(db: Db) {
    let (a, b, c) = (row(1), row(2), row(3));
    insert_new(&*db.index, std::slice::from_ref(&a)).await;
    let a_again = IndexRow { key: "other/key".into(), size: 7, ..a.clone() };
    let b_again = IndexRow { title: "second copy".into(), ..b.clone() };
    let batch = [b.clone(), a_again, c.clone(), b_again];
    let new = insert(&*db.index, &batch).await;
    assert_eq!(new, [true, false, true, false], "[new b, existing a, new c, b again in the same batch]");
    assert_eq!(get(&*db.index, a.uuid).await.row, a, "the existing row must be kept unchanged");
    assert_eq!(get(&*db.index, b.uuid).await.row, b, "within a batch the first copy wins");
    assert_eq!(get(&*db.index, c.uuid).await.row, c);
    assert_eq!(total_rows(&*db.index).await, 3, "three distinct UUIDs, three rows");
}

async fn empty_batch_is_a_no_op(db: Db) {
    assert_eq!(insert(&*db.index, &[]).await, Vec::<bool>::new());
    assert_eq!(total_rows(&*db.index).await, 0);
}

async fn large_batch_is_chunked(db: Db) {
    // More rows than one statement may bind on either backend (SQLite:
    // 32766 / 23 = 1424, PostgreSQL: 65535 / 24 = 2730).
    let mut rows = rows_on("bulk", 3000, |i| BASE_MS + i64::from(i));
    rows.push(IndexRow { key: "late duplicate".into(), ..rows[0].clone() });
    let new = insert(&*db.index, &rows).await;
    assert_eq!(new.iter().filter(|&&n| n).count(), 3000, "3000 distinct UUIDs are new");
    assert!(!new[3000], "a duplicate in a later chunk reports not new");
    assert_eq!(total_rows(&*db.index).await, 3000);
    let again = insert(&*db.index, &rows).await;
    assert!(again.iter().all(|&n| !n), "re-inserting reports every row as existing");
    assert_eq!(get(&*db.index, rows[0].uuid).await.row, rows[0]);
}

async fn failed_batch_writes_nothing(db: Db) {
    // A trigger rejects one topic, so the database fails the batch's last
    // chunk (its last row by input order and by UUID order) after the first
    // chunk went through.
    poison_topic(&db, "poison").await;
    let mut rows = rows_on("bulk", 3000, |i| BASE_MS + i64::from(i));
    rows.push(IndexRow { uuid: Uuid::max(), topic: "poison".into(), ..row(3000) });
    match db.index.insert_batch(&rows).await {
        Err(err @ IndexError::Query(_)) => assert!(!err.is_transient()),
        other => panic!("expected a Query error from the trigger, got {other:?}"),
    }
    assert_eq!(total_rows(&*db.index).await, 0, "a failed batch leaves no row behind");
    insert_new(&*db.index, &rows[..3000]).await;
}

/// Installs a trigger in `db` that makes inserting a row on `topic` fail.
async fn poison_topic(db: &Db, topic: &str) {
    match db.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.expect("raw sqlite");
            let sql = format!(
                "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.topic = '{topic}' \
                 BEGIN SELECT RAISE(ABORT, 'poisoned topic'); END"
            );
            sqlx::query(AssertSqlSafe(sql)).execute(&mut conn).await.expect("create trigger");
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("raw pg");
            let function = format!(
                "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.topic = '{topic}' THEN RAISE EXCEPTION 'poisoned topic'; END IF; \
                 RETURN NEW; END $$"
            );
            let trigger = "CREATE TRIGGER poison BEFORE INSERT ON messages \
                           FOR EACH ROW EXECUTE FUNCTION poison()";
            for sql in [function, trigger.to_string()] {
                sqlx::query(AssertSqlSafe(sql)).execute(&mut conn).await.expect("create trigger");
            }
        }
        Backend::Memory => unreachable!("triggers need SQL: list the case under sql_opened"),
    }
}

async fn ids_follow_input_order_within_a_batch(db: Db) {
    // Same timestamp, so listing order is id order; UUIDs sorted descending
    // so input order differs from UUID order.
    let mut rows = rows_on("ties", 50, |_| BASE_MS);
    rows.sort_by_key(|r| std::cmp::Reverse(r.uuid));
    insert_new(&*db.index, &rows).await;
    let listed = list_uuids(&*db.index, &query()).await;
    assert_eq!(listed, uuids(&rows), "rows with equal timestamps list in insertion order");
}

async fn get_many_returns_the_existing_entries_once(db: Db) {
    let rows = rows_on("many", 2500, |i| BASE_MS + i64::from(i));
    insert_new(&*db.index, &rows).await;
    let mut asked: Vec<Uuid> = uuids(&rows);
    asked.extend((0..300).map(|_| Uuid::new_v4()));
    asked.extend(uuids(&rows[..10]));
    asked.reverse();
    let got = db.index.get_many(&asked).await.expect("get_many");
    assert_eq!(got.len(), 2500, "each existing UUID once; unknown ones skipped");
    let by_uuid: HashMap<Uuid, &IndexEntry> = got.iter().map(|e| (e.row.uuid, e)).collect();
    for row in &rows {
        assert_eq!(by_uuid.get(&row.uuid).map(|e| &e.row), Some(row), "get_many row");
    }
    assert_eq!(db.index.get_many(&[]).await.expect("get_many []"), Vec::new());
}

async fn list_filters_by_topics(db: Db) {
    let a = rows_on("a", 2, |i| BASE_MS + i64::from(i));
    let b = rows_on("b", 1, |_| BASE_MS + 10);
    let c = rows_on("c", 1, |_| BASE_MS + 20);
    for rows in [&a, &b, &c] {
        insert_new(&*db.index, rows).await;
    }
    let on = |topics: &[&str]| ListQuery { topics: topics.iter().map(|t| t.to_string()).collect(), ..query() };
    let all: Vec<Uuid> = [&a[..], &b, &c].concat().iter().map(|r| r.uuid).collect();
    assert_eq!(list_uuids(&*db.index, &on(&["a"])).await, uuids(&a), "topic a");
    let a_and_c = [uuids(&a), uuids(&c)].concat();
    assert_eq!(list_uuids(&*db.index, &on(&["c", "a"])).await, a_and_c, "topics a, c");
    assert_eq!(list_uuids(&*db.index, &on(&["a", "a"])).await, uuids(&a), "repeated topic");
    assert_eq!(list_uuids(&*db.index, &on(&[])).await, all, "no topic filter = all");
    assert_eq!(list_uuids(&*db.index, &on(&["zzz"])).await, Vec::<Uuid>::new(), "unknown topic");
}

async fn list_time_range_is_half_open(db: Db) {
    let stamps = [100, 199, 200, 299, 300];
    let rows: Vec<IndexRow> = stamps.iter().zip(0..).map(|(&ts, n)| IndexRow { timestamp: ts, ..row(n) }).collect();
    insert_new(&*db.index, &rows).await;
    let range = |start: Option<i64>, end: Option<i64>| ListQuery { start_ms: start, end_ms: end, ..query() };
    let stamps_of = |got: Vec<Uuid>| -> Vec<i64> {
        got.iter().map(|u| rows.iter().find(|r| r.uuid == *u).map_or(-1, |r| r.timestamp)).collect()
    };
    let cases = [
        (Some(200), Some(300), vec![200, 299]),
        (None, Some(200), vec![100, 199]),
        (Some(300), None, vec![300]),
        (Some(200), Some(200), vec![]),
        (Some(300), Some(100), vec![]),
        (None, None, stamps.to_vec()),
    ];
    for (start, end, want) in cases {
        let got = stamps_of(list_uuids(&*db.index, &range(start, end)).await);
        assert_eq!(got, want, "[{start:?}, {end:?}) must include start, exclude end");
    }
}

async fn list_orders_ascending_and_descending_with_ties_by_id(db: Db) {
    // Inserted out of timestamp order, one at a time so ids grow, with ties.
    let stamps = [30, 10, 20, 10, 30, 20];
    let rows: Vec<IndexRow> = stamps.iter().zip(0..).map(|(&ts, n)| IndexRow { timestamp: ts, ..row(n) }).collect();
    for r in &rows {
        insert_new(&*db.index, std::slice::from_ref(r)).await;
    }
    let mut entries: Vec<IndexEntry> = Vec::new();
    for r in &rows {
        entries.push(get(&*db.index, r.uuid).await);
    }
    entries.sort_by_key(|e| (e.row.timestamp, e.id));
    let ascending: Vec<Uuid> = entries.iter().map(|e| e.row.uuid).collect();
    let descending: Vec<Uuid> = ascending.iter().rev().copied().collect();
    assert_eq!(list_uuids(&*db.index, &query()).await, ascending, "(timestamp, id) ascending");
    let desc = ListQuery { descending: true, ..query() };
    assert_eq!(list_uuids(&*db.index, &desc).await, descending, "(timestamp, id) descending");
}

async fn list_pages_through_every_row_exactly_once(db: Db) {
    // 25 rows, three per timestamp, so ties straddle page boundaries.
    let rows = rows_on("pages", 25, |i| BASE_MS + i64::from(i / 3));
    insert_new(&*db.index, &rows).await;
    let ascending = uuids(&rows);
    let descending: Vec<Uuid> = ascending.iter().rev().copied().collect();
    let cases = [
        (false, 10, ascending.clone(), vec![10, 10, 5]),
        (true, 10, descending.clone(), vec![10, 10, 5]),
        // A last page that is exactly full still ends the listing.
        (false, 5, ascending, vec![5; 5]),
        (true, 25, descending, vec![25]),
    ];
    for (descending, limit, want, want_sizes) in cases {
        let q = ListQuery { descending, limit, ..query() };
        let (got, sizes) = list_all(&*db.index, &q).await;
        assert_eq!(sizes, want_sizes, "page sizes, descending={descending} limit={limit}");
        assert_eq!(got, want, "every row once, in order, descending={descending} limit={limit}");
    }
    // A cursor is a position, not a row: it still works once the row it
    // names is no longer listed.
    let q = ListQuery { limit: 3, ..query() };
    let after = db.index.list(&q).await.expect("list").next.expect("more pages");
    assert!(db.index.set_retracted(rows[2].uuid, true).await.expect("retract"));
    let resumed = ListQuery { after: Some(after), ..q.clone() };
    assert_eq!(list_uuids(&*db.index, &resumed).await, uuids(&rows[3..6]), "resumes after a hidden row");
    let past_end = ListQuery { after: Some(Cursor { timestamp: i64::MAX, id: i64::MAX }), ..q };
    assert_eq!(list_uuids(&*db.index, &past_end).await, Vec::<Uuid>::new(), "nothing after the end");
}

async fn list_excludes_retracted_unless_asked(db: Db) {
    let born_retracted = IndexRow { retracted: true, ..row(1) };
    let rows = vec![row(0), born_retracted, row(2), row(3)];
    insert_new(&*db.index, &rows).await;
    assert!(db.index.set_retracted(rows[3].uuid, true).await.expect("retract"));
    let visible = list_uuids(&*db.index, &query()).await;
    assert_eq!(visible, [rows[0].uuid, rows[2].uuid], "retracted rows are not listed by default");
    let everything = ListQuery { include_retracted: true, ..query() };
    let page = db.index.list(&everything).await.expect("list");
    let flags: Vec<(Uuid, bool)> = page.entries.iter().map(|e| (e.row.uuid, e.row.retracted)).collect();
    let want: Vec<(Uuid, bool)> = rows.iter().zip([false, true, false, true]).map(|(r, f)| (r.uuid, f)).collect();
    assert_eq!(flags, want, "include_retracted lists all, flags as stored");
}

async fn list_caps_the_limit(db: Db) {
    let extra = 5;
    let rows = rows_on("cap", PAGE_ROWS_MAX + extra, |i| BASE_MS + i64::from(i));
    insert_new(&*db.index, &rows).await;
    for limit in [u32::MAX, PAGE_ROWS_MAX + 1, PAGE_ROWS_MAX] {
        let page = db.index.list(&ListQuery { limit, ..query() }).await.expect("list");
        assert_eq!(page.entries.len(), PAGE_ROWS_MAX as usize, "limit {limit} is capped");
        let next = page.next.unwrap_or_else(|| panic!("limit {limit}: more rows exist"));
        let rest = ListQuery { after: Some(next), limit, ..query() };
        let rest = db.index.list(&rest).await.expect("list");
        assert_eq!(rest.entries.len(), extra as usize);
        assert_eq!(rest.next, None, "the last page has no cursor");
    }
    let zero = db.index.list(&ListQuery { limit: 0, ..query() }).await.expect("list");
    assert_eq!(zero.entries.len(), 1, "limit 0 serves one row");
    assert!(zero.next.is_some(), "limit 0 still says more rows exist");
}

async fn topic_stats_are_sorted_totals(db: Db) {
    assert_eq!(db.index.topic_stats().await.expect("stats"), Vec::new(), "empty index");
    // Byte order: 'A' < '_' < 'a' < 'b'; locale collations would differ.
    let spec: [(&str, &[(i64, i32)]); 4] = [
        ("b.topic", &[(500, 10), (100, 20)]),
        ("a.topic", &[(300, 1), (-5, 2), (7, 3)]),
        ("A.topic", &[(42, 1000)]),
        ("_x", &[(1, 0)]),
    ];
    let mut n = 0;
    let mut rows = Vec::new();
    for (topic, items) in spec {
        for &(timestamp, size) in items {
            n += 1;
            rows.push(IndexRow { topic: topic.into(), timestamp, size, ..row(n) });
        }
    }
    insert_new(&*db.index, &rows).await;
    // Retracted messages are still held, so they still count.
    assert!(db.index.set_retracted(rows[2].uuid, true).await.expect("retract"));
    // `row(n)` claims a UUID (a conflict) for odd n: rows 1, 3, 5 and 7.
    let stats = |topic: &str, count, size_bytes, earliest_ms, latest_ms, conflicts, retracted| TopicStats {
        topic: topic.into(),
        count,
        size_bytes,
        earliest_ms,
        latest_ms,
        conflicts,
        retracted,
    };
    let want = vec![
        stats("A.topic", 1, 1000, 42, 42, 0, 0),
        stats("_x", 1, 0, 1, 1, 1, 0),
        stats("a.topic", 3, 6, -5, 300, 2, 1),
        stats("b.topic", 2, 30, 100, 500, 1, 0),
    ];
    assert_eq!(db.index.topic_stats().await.expect("stats"), want);
    assert_eq!(TopicStats::tally(&rows_with_flags(&*db.index).await), want, "a full count agrees");
}

/// Every stored row, retracted ones included, as stored.
async fn rows_with_flags(index: &dyn Index) -> Vec<IndexRow> {
    let (mut rows, mut q) = (Vec::new(), ListQuery::every_row(Vec::new(), PAGE_ROWS_MAX));
    loop {
        let page = index.list(&q).await.unwrap_or_else(|e| panic!("list {q:?}: {e}"));
        rows.extend(page.entries.into_iter().map(|e| e.row));
        match page.next {
            Some(next) => q.after = Some(next),
            None => return rows,
        }
    }
}

/// The statistics must say what a full count of the stored rows says.
async fn assert_stats_exact(index: &dyn Index, when: &str) {
    let counted = TopicStats::tally(&rows_with_flags(index).await);
    assert_eq!(index.topic_stats().await.expect("topic_stats"), counted, "{when}: statistics vs a full count");
}

async fn topic_stats_stay_exact_through_duplicates_and_retractions(db: Db) {
    let index = &*db.index;
    assert_stats_exact(index, "empty").await;
    let on = |topic: &str, n: u32| IndexRow { topic: topic.into(), ..row(n) };
    let first = vec![on("t.a", 1), on("t.b", 2), on("t.a", 3), IndexRow { retracted: true, ..on("t.a", 4) }];
    insert_new(index, &first).await;
    assert_stats_exact(index, "first batch").await;
    // A batch repeating a UUID within itself and rows already stored:
    // only the new first occurrences count.
    let (fresh, twin) = (on("t.b", 5), on("t.c", 6));
    let again =
        vec![first[0].clone(), fresh.clone(), IndexRow { key: "other".into(), ..fresh.clone() }, twin.clone(), twin];
    assert_eq!(insert(index, &again).await, [false, true, false, true, false]);
    assert_stats_exact(index, "batch with duplicates").await;
    let all_again = insert(index, &[first.clone(), vec![fresh.clone()]].concat()).await;
    assert!(all_again.iter().all(|n| !n), "nothing new: {all_again:?}");
    assert_stats_exact(index, "batch of known rows").await;
    // Retract twice, unretract twice: the count moves once each way.
    let retracted_of = |topic: &'static str| async move {
        let stats = index.topic_stats().await.expect("stats");
        stats.into_iter().find(|s| s.topic == topic).map(|s| s.retracted)
    };
    assert_eq!(retracted_of("t.a").await, Some(1), "born retracted");
    for (flag, want) in [(true, 2), (true, 2), (false, 1), (false, 1)] {
        assert!(index.set_retracted(first[0].uuid, flag).await.expect("set_retracted"));
        assert_eq!(retracted_of("t.a").await, Some(want), "after set_retracted({flag})");
        assert_stats_exact(index, &format!("after set_retracted({flag})")).await;
    }
    assert!(index.set_retracted(first[3].uuid, false).await.expect("unretract the born retracted"));
    assert_eq!(retracted_of("t.a").await, Some(0));
    assert!(!index.set_retracted(Uuid::new_v4(), true).await.expect("unknown UUID"));
    assert_stats_exact(index, "after retracting an unknown UUID").await;
    let want = |topic: &str, count, conflicts| (topic.to_owned(), count, conflicts, 0);
    let got: Vec<_> = index
        .topic_stats()
        .await
        .expect("stats")
        .into_iter()
        .map(|s| (s.topic, s.count, s.conflicts, s.retracted))
        .collect();
    assert_eq!(got, [want("t.a", 3, 2), want("t.b", 2, 1), want("t.c", 1, 0)], "(topic, count, conflicts, retracted)");
}

async fn topic_stats_since_count_the_rows_of_the_window(db: Db) {
    let index = &*db.index;
    assert_eq!(index.topic_stats_since(i64::MIN).await.expect("since"), Vec::new(), "empty index");
    let mut rows = rows_on("w.one", 6, |i| 1_000 * i64::from(i));
    rows.extend(rows_on("w.two", 4, |i| 2_500 + 1_000 * i64::from(i)));
    rows[5].retracted = true;
    insert_new(index, &rows).await;
    assert!(index.set_retracted(rows[4].uuid, true).await.expect("retract"));
    let stored = rows_with_flags(index).await;
    for since in [i64::MIN, -1, 0, 1, 2_500, 3_000, 4_999, 5_000, 5_001, i64::MAX] {
        let want = TopicStats::tally(stored.iter().filter(|r| r.timestamp >= since));
        assert_eq!(index.topic_stats_since(since).await.expect("since"), want, "since {since}");
    }
    assert_eq!(index.topic_stats_since(i64::MIN).await.expect("since"), index.topic_stats().await.expect("all"));
}

const HOUR_MS: i64 = 3_600_000;

/// What an activity count must say about `rows`, counted here row by row:
/// per topic of `topics` and per bucket (`floor(timestamp / width)`) of
/// the rows inside the window, sorted by topic bytes, then bucket.
fn activity_oracle(rows: &[IndexRow], topics: &[&str], start: i64, end: i64, width: i64) -> Vec<Activity> {
    let mut counts: std::collections::BTreeMap<(Vec<u8>, i64), i64> = std::collections::BTreeMap::new();
    for r in rows.iter().filter(|r| topics.contains(&r.topic.as_str()) && r.timestamp >= start && r.timestamp < end) {
        *counts.entry((r.topic.as_bytes().to_vec(), r.timestamp.div_euclid(width) * width)).or_default() += 1;
    }
    let activity = counts.into_iter().map(|((topic, bucket_start_ms), count)| Activity {
        topic: String::from_utf8(topic).expect("UTF-8 topic"),
        bucket_start_ms,
        count,
    });
    activity.collect()
}

async fn activity_of(index: &dyn Index, topics: &[&str], buckets: &Buckets) -> Vec<Activity> {
    let topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
    index.activity(&topics, buckets).await.unwrap_or_else(|e| panic!("activity of {topics:?} over {buckets:?}: {e}"))
}

async fn activity_counts_the_rows_of_each_bucket(db: Db) {
    let index = &*db.index;
    let hour = BASE_MS - BASE_MS.rem_euclid(HOUR_MS);
    // Rows every 431 s from an hour before `hour` (crossing bucket edges
    // off their boundaries), on topics whose byte order differs from a
    // case-insensitive one, and a topic nobody asks for.
    let mut rows = rows_on("a.topic", 40, |i| hour - HOUR_MS + i64::from(i) * 431_000);
    rows.extend(rows_on("Z.topic", 10, |i| hour + i64::from(i) * 1_000_000));
    rows.extend(rows_on("c.other", 5, |i| hour + i64::from(i)));
    rows[7].retracted = true;
    insert_new(index, &rows).await;
    assert!(index.set_retracted(rows[9].uuid, true).await.expect("retract"));
    let asked = ["a.topic", "Z.topic"];
    for (start, end, width) in [
        (hour - HOUR_MS / 2, hour + 3 * HOUR_MS + 5, HOUR_MS),
        (hour - 10 * HOUR_MS, hour + 10 * HOUR_MS, 86_400_000),
        (hour, hour + 1, HOUR_MS),
        (hour + 17_000, hour + 2_000_000, 60_000),
    ] {
        let buckets = Buckets::new(start, end, width).expect("a bounded window");
        let want = activity_oracle(&rows, &asked, start, end, width);
        assert_eq!(activity_of(index, &asked, &buckets).await, want, "window [{start}, {end}) by {width} ms");
    }
    let everything = Buckets::new(hour - 2 * HOUR_MS, hour + 10 * HOUR_MS, HOUR_MS).expect("window");
    let total: i64 = activity_of(index, &asked, &everything).await.iter().map(|a| a.count).sum();
    assert_eq!(total, 50, "retracted rows count too");
    assert_eq!(activity_of(index, &[], &everything).await, Vec::new(), "no topics count nothing, not every topic");
    assert_eq!(activity_of(index, &["no.such"], &everything).await, Vec::new());
}

async fn activity_buckets_negative_and_edge_timestamps(db: Db) {
    let index = &*db.index;
    let stamps = [-HOUR_MS - 1, -HOUR_MS, -5_000, -1, 0, 1, HOUR_MS - 1, HOUR_MS, 2 * HOUR_MS];
    let rows: Vec<IndexRow> =
        stamps.iter().enumerate().map(|(i, &ts)| IndexRow { timestamp: ts, ..row(i as u32) }).collect();
    insert_new(index, &rows).await;
    for (start, end) in [(-HOUR_MS, 2 * HOUR_MS), (-HOUR_MS + 1, HOUR_MS), (-1, 1), (-2 * HOUR_MS, 3 * HOUR_MS)] {
        let buckets = Buckets::new(start, end, HOUR_MS).expect("window");
        let want = activity_oracle(&rows, &["sys.default"], start, end, HOUR_MS);
        assert_eq!(activity_of(index, &["sys.default"], &buckets).await, want, "[{start}, {end})");
    }
}

/// The window arithmetic the charts rely on, apart from any backend.
#[test]
fn buckets_are_aligned_and_bounded() {
    let b = Buckets::new(5_400_000, 9_000_001, HOUR_MS).expect("window");
    assert_eq!((b.origin_ms(), b.len()), (3_600_000, 2), "1:30 to 2:30 (and 1 ms) spans the 1:00 and 2:00 buckets");
    assert_eq!(
        [b.index_of(5_399_999), b.index_of(5_400_000), b.index_of(7_200_000), b.index_of(9_000_001)],
        [None, Some(0), Some(1), None]
    );
    assert_eq!(b.bucket_start_ms(1), 7_200_000);
    let negative = Buckets::new(-1, 1, HOUR_MS).expect("window");
    assert_eq!(
        (negative.origin_ms(), negative.len(), negative.index_of(-1), negative.index_of(0)),
        (-HOUR_MS, 2, Some(0), Some(1))
    );
    let widest = ACTIVITY_BUCKETS_MAX * HOUR_MS;
    assert_eq!(Buckets::new(0, widest, HOUR_MS).map(|b| b.len()), Some(ACTIVITY_BUCKETS_MAX as usize));
    assert_eq!(Buckets::new(0, widest + 1, HOUR_MS), None, "one bucket too many");
    assert_eq!(Buckets::new(1, widest + HOUR_MS, HOUR_MS), None, "an unaligned start adds a bucket");
    for (start, end, width) in [(0, 0, 1), (5, 4, 1), (0, 10, 0), (0, 10, -3), (i64::MIN, i64::MAX, i64::MAX)] {
        assert_eq!(Buckets::new(start, end, width), None, "[{start}, {end}) by {width}");
    }
}

async fn count_without_time_bounds_agrees_with_listing(db: Db) {
    let index = &*db.index;
    let mut rows = rows_on("c.one", 5, i64::from);
    rows.extend(rows_on("c.two", 3, i64::from));
    rows[1].retracted = true;
    insert_new(index, &rows).await;
    assert!(index.set_retracted(rows[6].uuid, true).await.expect("retract"));
    assert!(index.set_retracted(rows[1].uuid, true).await.expect("retract again"));
    for topics in [vec![], vec!["c.one".to_owned()], vec!["c.two".into(), "c.none".into()], vec!["c.none".into()]] {
        for include_retracted in [true, false] {
            let q = ListQuery { topics: topics.clone(), include_retracted, ..query() };
            let (listed, _) = list_all(index, &q).await;
            assert_eq!(index.count(&q).await.expect("count"), listed.len() as u64, "{topics:?}, {include_retracted}");
        }
    }
}

/// Writers on several pools (as several archivers would be) insert
/// overlapping batches over a few topics while others retract and
/// unretract, and compactions run between them: the statistics stay what
/// a full count says.
async fn concurrent_writers_keep_the_topic_stats_exact(db: Db) {
    const WRITERS: u32 = 6;
    const BATCHES: u32 = 40;
    let mut indexes = vec![db.index.clone()];
    if db.backend != Backend::Memory {
        for _ in 1..3 {
            indexes.push(index::open(&db.url).await.expect("another pool"));
        }
    }
    let topics = ["k.a", "k.b", "k.c"];
    let rows: Arc<Vec<IndexRow>> = Arc::new(
        (0..600u32)
            .map(|n| IndexRow { topic: topics[n as usize % 3].into(), retracted: n % 11 == 0, ..row(n) })
            .collect(),
    );
    let writers = (0..WRITERS).map(|w| {
        let (index, rows) = (indexes[w as usize % indexes.len()].clone(), rows.clone());
        tokio::spawn(async move {
            for b in 0..BATCHES {
                // Overlapping windows in different orders, with a repeat inside.
                let start = ((w * 37 + b * 13) % 580) as usize;
                let mut batch: Vec<IndexRow> = rows[start..start + 20].to_vec();
                if (w + b) % 2 == 1 {
                    batch.reverse();
                }
                batch.push(batch[0].clone());
                index.insert_batch(&batch).await.unwrap_or_else(|e| panic!("writer {w}, batch {b}: {e}"));
            }
        })
    });
    let togglers = (0..3u32).map(|t| {
        let (index, rows) = (indexes[t as usize % indexes.len()].clone(), rows.clone());
        tokio::spawn(async move {
            for i in 0..60u32 {
                let victim = rows[((t * 7 + i * 3) % 40) as usize].uuid;
                index.set_retracted(victim, i % 3 != 2).await.unwrap_or_else(|e| panic!("toggler {t}: {e}"));
            }
        })
    });
    let tasks: Vec<_> = writers.chain(togglers).collect();
    for task in futures::future::join_all(tasks).await {
        task.expect("a writer panicked");
    }
    for index in &indexes {
        assert_stats_exact(&**index, "after the concurrent writers").await;
    }
    let stored: usize = rows_with_flags(&*db.index).await.len();
    assert!(stored > 300, "the writers stored {stored} rows");
}

/// `(delta rows, distinct topics)` of `topic_counts`.
async fn delta_rows(db: &Db) -> (i64, i64) {
    let sql = "SELECT COUNT(*), COUNT(DISTINCT topic) FROM topic_counts";
    match db.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.expect("raw sqlite");
            sqlx::query_as(sql).fetch_one(&mut conn).await.expect("read topic_counts")
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("raw pg");
            sqlx::query_as(sql).fetch_one(&mut conn).await.expect("read topic_counts")
        }
        Backend::Memory => unreachable!("the memory index keeps no deltas: list the case under sql_opened"),
    }
}

/// Deltas pile up between compactions, which replace them by their sums:
/// a few rows per topic whatever the number of writes, and the same totals.
async fn compaction_keeps_the_stats_and_few_delta_rows(db: Db) {
    let topics = ["p.a", "p.b", "p.c", "p.d"];
    for n in 0..200u32 {
        let batch: Vec<IndexRow> =
            topics.iter().enumerate().map(|(i, t)| IndexRow { topic: (*t).into(), ..row(n * 4 + i as u32) }).collect();
        insert_new(&*db.index, &batch).await;
        if n % 10 == 0 {
            assert!(db.index.set_retracted(batch[0].uuid, true).await.expect("retract"));
        }
    }
    let (deltas, topics_counted) = delta_rows(&db).await;
    assert_eq!(topics_counted, 4);
    // At most 31 writes since the last compaction, one delta per topic each.
    assert!(deltas <= 4 + 31 * 4, "{deltas} delta rows after 220 writes: compaction did not run");
    assert!(deltas > 4, "{deltas} delta rows: every write compacted");
    assert_stats_exact(&*db.index, "after compactions").await;
    let stats = db.index.topic_stats().await.expect("stats");
    assert_eq!(stats.iter().map(|s| s.count).sum::<i64>(), 800);
    assert_eq!(stats.iter().map(|s| s.retracted).sum::<i64>(), 20);
}

/// Migration 0004 counts the rows an older schema already holds.
async fn migration_backfills_the_stats_of_existing_rows(db: Db) {
    let mut rows = rows_on("m.one", 7, |i| 100 - i64::from(i));
    rows.extend(rows_on("m.two", 2, i64::from));
    rows[2].retracted = true;
    insert_new(&*db.index, &rows).await;
    let want = TopicStats::tally(&rows);
    // Back to the schema before 0004: no topic_counts, 0004 not applied.
    let undo: &[&str] = match db.backend {
        Backend::Postgres => &[
            "DROP TABLE topic_counts CASCADE",
            "CREATE VIEW topics AS SELECT topic, min(\"timestamp\") AS e_timestamp, \
             max(\"timestamp\") AS l_timestamp, count(*) AS n_messages FROM messages GROUP BY topic",
            "DELETE FROM _sqlx_migrations WHERE version = 4",
        ],
        _ => &[
            "DROP VIEW topics",
            "DROP TABLE topic_counts",
            "CREATE VIEW topics AS SELECT topic, min(\"timestamp\") AS e_timestamp, \
             max(\"timestamp\") AS l_timestamp, count(*) AS n_messages FROM messages GROUP BY topic",
            "DELETE FROM _sqlx_migrations WHERE version = 4",
        ],
    };
    match db.backend {
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("raw pg");
            for sql in undo {
                sqlx::query(*sql).execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
        }
        _ => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.expect("raw sqlite");
            for sql in undo {
                sqlx::query(*sql).execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
        }
    }
    let reopened = index::open(&db.url).await.expect("reopen migrates");
    assert_eq!(delta_rows(&db).await, (2, 2), "one backfilled row per topic");
    assert_eq!(reopened.topic_stats().await.expect("stats"), want, "backfilled from the rows");
    let later = IndexRow { topic: "m.two".into(), ..row(50) };
    insert_new(&*reopened, std::slice::from_ref(&later)).await;
    assert_stats_exact(&*reopened, "a row after the backfill").await;
}

async fn set_retracted_reports_whether_the_uuid_exists(db: Db) {
    let r = row(1);
    insert_new(&*db.index, std::slice::from_ref(&r)).await;
    for flag in [true, true, false] {
        let exists = db.index.set_retracted(r.uuid, flag).await.expect("set_retracted");
        assert!(exists, "set_retracted({flag}) on a stored UUID reports it exists");
        let stored = get(&*db.index, r.uuid).await.row;
        assert_eq!(stored, IndexRow { retracted: flag, ..r.clone() }, "only the flag changes");
    }
    let missing = db.index.set_retracted(Uuid::new_v4(), true).await.expect("set_retracted");
    assert!(!missing, "set_retracted on an unknown UUID reports false");
    assert_eq!(total_rows(&*db.index).await, 1, "set_retracted never creates a row");
}

async fn concurrent_inserters_of_one_uuid_store_one_row(db: Db) {
    const TASKS: usize = 16;
    const ROUNDS: usize = 25;
    for round in 0..ROUNDS {
        let uuid = Uuid::new_v4();
        let start = Arc::new(tokio::sync::Barrier::new(TASKS));
        let racers = (0..TASKS).map(|task| {
            let (index, start) = (db.index.clone(), start.clone());
            let mine = IndexRow { uuid, key: format!("task-{task}"), ..row(task as u32) };
            tokio::spawn(async move {
                start.wait().await;
                let new = index.insert_batch(std::slice::from_ref(&mine)).await;
                (task, new)
            })
        });
        let mut winners = Vec::new();
        for racer in futures::future::join_all(racers).await {
            let (task, new) = racer.expect("racer panicked");
            let new = new.unwrap_or_else(|e| panic!("round {round}, task {task}: {e}"));
            if new == [true] {
                winners.push(task);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one winner, got {winners:?}");
        let stored = get(&*db.index, uuid).await;
        assert_eq!(stored.row.key, format!("task-{}", winners[0]), "the winner's row is stored");
    }
    assert_eq!(total_rows(&*db.index).await, ROUNDS as i64, "one row per raced UUID");
}

async fn overlapping_batches_in_opposite_orders_all_succeed(db: Db) {
    // Four writers insert the same 400 UUIDs in batches of 100, each batch in
    // a different order. Writers that lock keys in input order deadlock here.
    const TASKS: usize = 4;
    const BATCH: usize = 100;
    let rows = Arc::new(rows_on("overlap", 400, |i| BASE_MS + i64::from(i)));
    let start = Arc::new(tokio::sync::Barrier::new(TASKS));
    let writers = (0..TASKS).map(|task| {
        let (index, rows, start) = (db.index.clone(), rows.clone(), start.clone());
        tokio::spawn(async move {
            // Errors are collected, not returned: a writer that left early
            // would strand the others at the barrier.
            let (mut won, mut errors) = (Vec::new(), Vec::new());
            for chunk in rows.chunks(BATCH) {
                let mut batch = chunk.to_vec();
                match task {
                    1 => batch.reverse(),
                    2 => batch.rotate_left(BATCH / 2),
                    3 => batch.sort_by_key(|r| r.uuid),
                    _ => {}
                }
                start.wait().await;
                match index.insert_batch(&batch).await {
                    Ok(new) => won.extend(batch.iter().zip(new).filter(|(_, n)| *n).map(|(r, _)| r.uuid)),
                    Err(e) => errors.push(format!("writer {task}: {e}")),
                }
            }
            (won, errors)
        })
    });
    let mut winners: HashMap<Uuid, usize> = HashMap::new();
    let mut errors = Vec::new();
    for writer in futures::future::join_all(writers).await {
        let (won, failed) = writer.expect("writer panicked");
        errors.extend(failed);
        for uuid in won {
            *winners.entry(uuid).or_default() += 1;
        }
    }
    assert!(errors.is_empty(), "concurrent batches failed: {errors:#?}");
    let wrong: Vec<_> = rows.iter().filter(|r| winners.get(&r.uuid) != Some(&1)).collect();
    assert!(wrong.is_empty(), "{} UUIDs were not won exactly once", wrong.len());
    assert_eq!(total_rows(&*db.index).await, 400);
}

// ------------------------------------------------------- restore's lanes --

/// Every row: retracted ones and direct uploads included.
fn every_row() -> RowFilter {
    RowFilter { include_retracted: true, include_uploads: true, ..RowFilter::default() }
}

fn lane(topic: &str, partition: Option<i32>, rows: u64, size_bytes: u64) -> Lane {
    Lane { topic: topic.into(), partition, rows, size_bytes }
}

/// A Kafka message: `offset` of `partition` on `topic`.
fn kafka(n: u32, topic: &str, partition: i32, offset: i64, timestamp: i64, size: i32) -> IndexRow {
    let (partition, kafka_offset) = (Some(partition), Some(offset));
    IndexRow { topic: topic.into(), partition, kafka_offset, timestamp, size, direct_upload: false, ..row(n) }
}

/// A row without a partition that is no upload: a reindexed object.
fn unpartitioned(n: u32, topic: &str, timestamp: i64, size: i32) -> IndexRow {
    IndexRow { partition: None, kafka_offset: None, ..kafka(n, topic, 0, 0, timestamp, size) }
}

fn upload(n: u32, topic: &str, timestamp: i64, size: i32) -> IndexRow {
    IndexRow { direct_upload: true, timestamp_type: TimestampType::Upload, ..unpartitioned(n, topic, timestamp, size) }
}

/// The UUID whose bytes are all zero but `bytes[at] = value`.
fn uuid_with(at: usize, value: u8) -> Uuid {
    let mut bytes = [0; 16];
    bytes[at] = value;
    Uuid::from_bytes(bytes)
}

/// Eleven rows in six lanes of three topics, to be inserted in one batch
/// (so ids follow this order). Sizes are powers of two, so a lane's total
/// size names its rows. Topics differ in byte and locale order, partition
/// 10 sorts after 2 only as a number, and in partition 10 offset order,
/// timestamp order and insertion order all differ. Rows 5 and 6 share a
/// timestamp and differ in the first vs the last byte of their UUIDs.
fn lane_fixture() -> Vec<IndexRow> {
    vec![
        kafka(0, "a.topic", 10, 3, 10, 1),
        kafka(1, "a.topic", 10, 1, 30, 2),
        kafka(2, "a.topic", 10, 2, 20, 4),
        kafka(3, "a.topic", 2, 7, 20, 8),
        IndexRow { retracted: true, ..kafka(4, "a.topic", 2, 8, 40, 16) },
        IndexRow { uuid: uuid_with(0, 0x01), ..upload(5, "a.topic", 25, 32) },
        IndexRow { uuid: uuid_with(15, 0x02), ..unpartitioned(6, "a.topic", 25, 64) },
        upload(7, "a.topic", 15, 128),
        kafka(8, "A.topic", 0, 5, 10, 256),
        IndexRow { retracted: true, ..unpartitioned(9, "_x", 40, 512) },
        kafka(10, "_x", 1, 0, 30, 1024),
    ]
}

async fn lanes_of(index: &dyn Index, filter: &RowFilter) -> Vec<Lane> {
    index.lanes(filter).await.unwrap_or_else(|e| panic!("lanes {filter:?}: {e}"))
}

/// One page of a lane.
async fn lane_page(
    index: &dyn Index,
    filter: &RowFilter,
    (topic, partition): (&str, Option<i32>),
    after: Option<LaneCursor>,
    limit: u32,
) -> Vec<IndexEntry> {
    let page = index.lane_page(filter, topic, partition, after, limit).await;
    page.unwrap_or_else(|e| panic!("lane_page {topic} {partition:?} after {after:?}: {e}"))
}

/// The UUIDs of a whole lane, read as one page.
async fn lane_uuids(index: &dyn Index, filter: &RowFilter, lane: (&str, Option<i32>)) -> Vec<Uuid> {
    let page = lane_page(index, filter, lane, None, PAGE_ROWS_MAX).await;
    page.iter().map(|e| e.row.uuid).collect()
}

/// Walks a lane `limit` rows at a time, each page after the last row of the
/// page before, as a restore does, until a page is not full.
async fn walk_lane(index: &dyn Index, filter: &RowFilter, lane: (&str, Option<i32>), limit: u32) -> Vec<IndexEntry> {
    let (mut entries, mut after) = (Vec::new(), None);
    for _ in 0..10_000 {
        let page = lane_page(index, filter, lane, after, limit).await;
        assert!(page.len() <= limit as usize, "a page of {} rows for limit {limit}", page.len());
        let full = page.len() == limit as usize;
        if let Some(last) = page.last() {
            after = Some(last.lane_cursor());
        }
        entries.extend(page);
        if !full {
            return entries;
        }
    }
    panic!("lane {lane:?} did not end after 10000 pages");
}

async fn lanes_are_sorted_and_totalled(db: Db) {
    assert_eq!(lanes_of(&*db.index, &every_row()).await, Vec::new(), "empty index");
    let rows = lane_fixture();
    insert_new(&*db.index, &rows).await;
    let id_of_row_3 = get(&*db.index, rows[3].uuid).await.id;
    let cases = [
        (
            "every row",
            every_row(),
            vec![
                lane("A.topic", Some(0), 1, 256),
                lane("_x", Some(1), 1, 1024),
                lane("_x", None, 1, 512),
                lane("a.topic", Some(2), 2, 8 + 16),
                lane("a.topic", Some(10), 3, 1 + 2 + 4),
                lane("a.topic", None, 3, 32 + 64 + 128),
            ],
        ),
        (
            "no retracted rows",
            RowFilter { include_retracted: false, ..every_row() },
            vec![
                lane("A.topic", Some(0), 1, 256),
                lane("_x", Some(1), 1, 1024),
                lane("a.topic", Some(2), 1, 8),
                lane("a.topic", Some(10), 3, 7),
                lane("a.topic", None, 3, 224),
            ],
        ),
        (
            "no uploads",
            RowFilter { include_uploads: false, ..every_row() },
            vec![
                lane("A.topic", Some(0), 1, 256),
                lane("_x", Some(1), 1, 1024),
                lane("_x", None, 1, 512),
                lane("a.topic", Some(2), 2, 24),
                lane("a.topic", Some(10), 3, 7),
                lane("a.topic", None, 1, 64),
            ],
        ),
        (
            "the default: neither",
            RowFilter::default(),
            vec![
                lane("A.topic", Some(0), 1, 256),
                lane("_x", Some(1), 1, 1024),
                lane("a.topic", Some(2), 1, 8),
                lane("a.topic", Some(10), 3, 7),
                lane("a.topic", None, 1, 64),
            ],
        ),
        // Rows at 20 are in, rows at 40 out.
        (
            "[20, 40)",
            RowFilter { start_ms: Some(20), end_ms: Some(40), ..every_row() },
            vec![
                lane("_x", Some(1), 1, 1024),
                lane("a.topic", Some(2), 1, 8),
                lane("a.topic", Some(10), 2, 2 + 4),
                lane("a.topic", None, 2, 32 + 64),
            ],
        ),
        ("[20, 20)", RowFilter { start_ms: Some(20), end_ms: Some(20), ..every_row() }, vec![]),
        (
            "id <= id of row 3",
            RowFilter { id_max: Some(id_of_row_3), ..every_row() },
            vec![lane("a.topic", Some(2), 1, 8), lane("a.topic", Some(10), 3, 7)],
        ),
        (
            "two topics",
            RowFilter { topics: vec!["_x".into(), "A.topic".into()], ..every_row() },
            vec![lane("A.topic", Some(0), 1, 256), lane("_x", Some(1), 1, 1024), lane("_x", None, 1, 512)],
        ),
        ("an unknown topic", RowFilter { topics: vec!["A".into()], ..every_row() }, vec![]),
    ];
    for (what, filter, want) in cases {
        assert_eq!(lanes_of(&*db.index, &filter).await, want, "{what}: {filter:?}");
    }
}

async fn lane_page_orders_each_lane(db: Db) {
    let rows = lane_fixture();
    insert_new(&*db.index, &rows).await;
    let every = every_row();
    let lane = |lane| lane_uuids(&*db.index, &every, lane);
    let want = |picks: &[usize]| picks.iter().map(|&i| rows[i].uuid).collect::<Vec<_>>();
    assert_eq!(lane(("a.topic", Some(10))).await, want(&[1, 2, 0]), "by offset: not by timestamp or id");
    assert_eq!(lane(("a.topic", Some(2))).await, want(&[3, 4]));
    assert!(rows[6].uuid < rows[5].uuid, "byte order: the first byte decides");
    assert_eq!(lane(("a.topic", None)).await, want(&[7, 6, 5]), "by timestamp, then UUID bytewise");
    assert_eq!(lane(("A.topic", Some(0))).await, want(&[8]));
    assert_eq!(lane(("a.topic", Some(0))).await, Vec::<Uuid>::new(), "topics match exactly");
    assert_eq!(lane(("_x", Some(2))).await, Vec::<Uuid>::new(), "no such partition");
    // The lane cursor is the sort key.
    for (topic, partition) in [("a.topic", Some(10)), ("a.topic", None)] {
        let page = lane_page(&*db.index, &every_row(), (topic, partition), None, PAGE_ROWS_MAX).await;
        let cursors: Vec<LaneCursor> = page.iter().map(IndexEntry::lane_cursor).collect();
        let seqs: Vec<i64> = cursors.iter().map(|c| c.seq).collect();
        let want = if partition.is_some() { [1, 2, 3] } else { [15, 25, 25] };
        assert_eq!(seqs, want, "{topic} {partition:?}: offsets or timestamps");
        assert!(cursors.is_sorted(), "{topic} {partition:?}: cursors ascend: {cursors:?}");
    }
    // A cursor is a position: it needs no row of its own.
    let after = LaneCursor { seq: 25, uuid: rows[6].uuid };
    let rest = lane_page(&*db.index, &every_row(), ("a.topic", None), Some(after), 10).await;
    assert_eq!(rest.iter().map(|e| e.row.uuid).collect::<Vec<_>>(), want(&[5]), "after (25, row 6)");
    let after = LaneCursor { seq: 1, uuid: Uuid::max() };
    let rest = lane_page(&*db.index, &every_row(), ("a.topic", Some(10)), Some(after), 10).await;
    assert_eq!(rest.iter().map(|e| e.row.uuid).collect::<Vec<_>>(), want(&[2, 0]), "after offset 1, any UUID");
}

async fn lane_pages_of_two_return_every_row_once(db: Db) {
    // Partition 0: offsets out of insertion order with repeats (so UUIDs
    // break ties), timestamps against offset order, and a row without an
    // offset, which sorts by its timestamp (4). Partitionless: three rows
    // per timestamp, uploads among them. Another topic, to skip.
    let offsets = [5, 3, 9, 3, 7, 1, 9, 0];
    let mut rows: Vec<IndexRow> = offsets.iter().zip(0..).map(|(&o, n)| kafka(n, "paging", 0, o, 100 - o, 1)).collect();
    rows.push(IndexRow { kafka_offset: None, timestamp: 4, ..kafka(20, "paging", 0, 0, 0, 1) });
    rows.extend((0..7).map(|i| unpartitioned(30 + i, "paging", i64::from(i / 3), 1)));
    rows.extend((0..2).map(|i| upload(40 + i, "paging", 1, 1)));
    rows.extend((0..3).map(|i| kafka(50 + i, "other", 0, i64::from(i), 0, 1)));
    insert_new(&*db.index, &rows).await;
    let seq = |r: &IndexRow| if r.partition.is_some() { r.kafka_offset.unwrap_or(r.timestamp) } else { r.timestamp };
    let filter = every_row();
    let lanes = lanes_of(&*db.index, &filter).await;
    assert_eq!(lanes.len(), 3, "{lanes:?}");
    let mut seen = Vec::new();
    for lane in &lanes {
        let key = (lane.topic.as_str(), lane.partition);
        let walked = walk_lane(&*db.index, &filter, key, 2).await;
        let got: Vec<Uuid> = walked.iter().map(|e| e.row.uuid).collect();
        let mut want: Vec<&IndexRow> =
            rows.iter().filter(|r| r.topic == lane.topic && r.partition == lane.partition).collect();
        want.sort_by_key(|r| (seq(r), r.uuid));
        assert_eq!(got, want.iter().map(|r| r.uuid).collect::<Vec<_>>(), "{key:?}: each row once, in order");
        assert_eq!(got.len() as u64, lane.rows, "{key:?}: as many rows as the lane says");
        let last = walked.last().map(IndexEntry::lane_cursor);
        assert_eq!(lane_page(&*db.index, &filter, key, last, 2).await, Vec::new(), "{key:?}: nothing after the end");
        seen.extend(got);
    }
    seen.sort_unstable();
    let mut all = uuids(&rows);
    all.sort_unstable();
    assert_eq!(seen, all, "the lanes together hold every row once");
    let odd = get(&*db.index, rows[8].uuid).await;
    assert_eq!(odd.lane_cursor(), LaneCursor { seq: 4, uuid: odd.row.uuid }, "no offset: the timestamp");
}

async fn lane_page_honours_the_filter(db: Db) {
    let rows = lane_fixture();
    insert_new(&*db.index, &rows).await;
    let id_of_row_6 = get(&*db.index, rows[6].uuid).await.id;
    let unpartitioned = ("a.topic", None);
    let partition_2 = ("a.topic", Some(2));
    let cases = [
        ("every row", every_row(), unpartitioned, vec![7, 6, 5]),
        ("no uploads", RowFilter { include_uploads: false, ..every_row() }, unpartitioned, vec![6]),
        ("no retracted rows", RowFilter { include_retracted: false, ..every_row() }, unpartitioned, vec![7, 6, 5]),
        ("every row", every_row(), partition_2, vec![3, 4]),
        ("no retracted rows", RowFilter { include_retracted: false, ..every_row() }, partition_2, vec![3]),
        ("no uploads", RowFilter { include_uploads: false, ..every_row() }, partition_2, vec![3, 4]),
        ("the default", RowFilter::default(), ("_x", None), vec![]),
        ("every row", every_row(), ("_x", None), vec![9]),
        ("[20, 40)", RowFilter { start_ms: Some(20), end_ms: Some(40), ..every_row() }, unpartitioned, vec![6, 5]),
        ("[15, 25)", RowFilter { start_ms: Some(15), end_ms: Some(25), ..every_row() }, unpartitioned, vec![7]),
        ("[20, 40)", RowFilter { start_ms: Some(20), end_ms: Some(40), ..every_row() }, partition_2, vec![3]),
        ("id <= id of row 6", RowFilter { id_max: Some(id_of_row_6), ..every_row() }, unpartitioned, vec![6, 5]),
        ("another topic", RowFilter { topics: vec!["_x".into()], ..every_row() }, unpartitioned, vec![]),
        (
            "its topic",
            RowFilter { topics: vec!["_x".into(), "a.topic".into()], ..every_row() },
            partition_2,
            vec![3, 4],
        ),
    ];
    for (what, filter, lane, picks) in cases {
        let want: Vec<Uuid> = picks.iter().map(|&i: &usize| rows[i].uuid).collect();
        assert_eq!(lane_uuids(&*db.index, &filter, lane).await, want, "{lane:?}, {what}: {filter:?}");
    }
}

async fn lane_page_caps_the_limit(db: Db) {
    let rows: Vec<IndexRow> = (0..PAGE_ROWS_MAX + 5).map(|n| kafka(n, "cap", 0, i64::from(n), BASE_MS, 1)).collect();
    insert_new(&*db.index, &rows).await;
    for limit in [u32::MAX, PAGE_ROWS_MAX + 1, PAGE_ROWS_MAX] {
        let page = lane_page(&*db.index, &every_row(), ("cap", Some(0)), None, limit).await;
        assert_eq!(page.len(), PAGE_ROWS_MAX as usize, "limit {limit} is capped");
    }
    let first = lane_page(&*db.index, &every_row(), ("cap", Some(0)), None, 0).await;
    let first: Vec<Uuid> = first.iter().map(|e| e.row.uuid).collect();
    assert_eq!(first, [rows[0].uuid], "limit 0 serves one row");
}

async fn id_max_is_the_largest_id(db: Db) {
    let id_max = async || db.index.id_max().await.unwrap_or_else(|e| panic!("id_max: {e}"));
    assert_eq!(id_max().await, None, "an empty index");
    let rows = lane_fixture();
    insert_new(&*db.index, &rows).await;
    let mut ids = Vec::new();
    for r in &rows {
        ids.push(get(&*db.index, r.uuid).await.id);
    }
    let frozen = id_max().await;
    assert_eq!(frozen, ids.iter().copied().max(), "the largest id");
    // A restore freezes its selection: rows archived later do not join it.
    let selection = RowFilter { id_max: frozen, ..every_row() };
    let before = lanes_of(&*db.index, &selection).await;
    let later = [kafka(20, "a.topic", 10, 0, 20, 1), kafka(21, "new.topic", 0, 0, 20, 1)];
    insert_new(&*db.index, &later).await;
    let newest = get(&*db.index, later[1].uuid).await.id;
    assert_eq!(id_max().await, Some(newest), "grows with new rows");
    assert!(frozen < Some(newest));
    assert_eq!(lanes_of(&*db.index, &selection).await, before, "the frozen selection is unchanged");
    let first = lane_page(&*db.index, &selection, ("a.topic", Some(10)), None, 10).await;
    assert_eq!(first.iter().map(|e| e.row.uuid).collect::<Vec<_>>(), [rows[1].uuid, rows[2].uuid, rows[0].uuid]);
}

/// Topics sort bytewise whatever the collation: the test server's is
/// C.UTF-8, which hides a missing `COLLATE "C"`, so on PostgreSQL `topic`
/// gets a locale's collation (which puts `_x` first and `a` beside `A`).
async fn lanes_sort_topics_bytewise_under_a_locale_collation(db: Db) {
    if db.backend == Backend::Postgres {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("raw pg");
        for sql in [
            "DROP VIEW topics",
            "ALTER TABLE messages ALTER COLUMN topic TYPE text COLLATE \"en-x-icu\"",
            "ALTER TABLE topic_counts ALTER COLUMN topic TYPE text COLLATE \"en-x-icu\"",
        ] {
            sqlx::query(sql).execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
    let topics = ["b", "a.topic", "_x", "B", "A.topic"];
    let rows: Vec<IndexRow> = topics.iter().zip(0..).map(|(t, n)| kafka(n, t, 0, 0, 0, 1)).collect();
    insert_new(&*db.index, &rows).await;
    let bytewise = ["A.topic", "B", "_x", "a.topic", "b"];
    let lanes: Vec<String> = lanes_of(&*db.index, &every_row()).await.into_iter().map(|l| l.topic).collect();
    assert_eq!(lanes, bytewise, "lanes");
    let stats: Vec<String> = db.index.topic_stats().await.expect("stats").into_iter().map(|s| s.topic).collect();
    assert_eq!(stats, bytewise, "topic_stats");
}

async fn reopening_applies_no_migration(db: Db) {
    let r = row(1);
    insert_new(&*db.index, std::slice::from_ref(&r)).await;
    let before = applied_migrations(&db).await;
    assert!(before.0 >= 1, "the first open applied the migrations: {before:?}");
    let again = index::open(&db.url).await.unwrap_or_else(|e| panic!("second open: {e}"));
    assert_eq!(applied_migrations(&db).await, before, "a second open applies nothing");
    assert_eq!(get(&*again, r.uuid).await.row, r, "data survives a reopen");
}

async fn malformed_rows_are_reported_as_corrupt(db: Db) {
    if db.backend == Backend::Postgres {
        // PostgreSQL would refuse these values; take the guard rails down.
        for constraint in ["messages_fingerprint_len", "messages_timestamp_type_known", "messages_crc32_range"] {
            let sql = format!("ALTER TABLE messages DROP CONSTRAINT {constraint}");
            let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("raw pg");
            sqlx::query(AssertSqlSafe(sql)).execute(&mut conn).await.expect("drop constraint");
        }
    }
    let rows: Vec<IndexRow> = (0..4).map(row).collect();
    insert_new(&*db.index, &rows).await;
    let damage = [
        ("fingerprint = substr(fingerprint, 1, 3)", "fingerprint"),
        ("timestamp_type = 'sometime'", "timestamp_type"),
        ("crc32 = -1", "crc32"),
    ];
    for ((set, what), victim) in damage.iter().zip(&rows) {
        let id = get(&*db.index, victim.uuid).await.id;
        tamper(&db, set, victim.uuid).await;
        match db.index.get(victim.uuid).await {
            Err(IndexError::CorruptRow { id: got, reason }) => {
                assert_eq!(got, id, "the error names the row");
                assert!(reason.contains(what), "reason {reason:?} should mention {what}");
            }
            other => panic!("{set}: expected CorruptRow, got {other:?}"),
        }
    }
    let sound = get(&*db.index, rows[3].uuid).await;
    assert_eq!(sound.row, rows[3], "an untouched row still reads");
    let listing = db.index.list(&query()).await;
    assert!(matches!(listing, Err(IndexError::CorruptRow { .. })), "list: {listing:?}");
}

async fn concurrent_first_opens_migrate_once(url: String) {
    let opens = (0..8).map(|_| index::open(&url));
    let opened = futures::future::join_all(opens).await;
    let indexes: Vec<Arc<dyn Index>> = opened
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|e| panic!("concurrent open #{i}: {e}")))
        .collect();
    let r = row(1);
    insert_new(&*indexes[0], std::slice::from_ref(&r)).await;
    for index in &indexes {
        assert_eq!(get(&**index, r.uuid).await.row, r, "all opens share one schema");
    }
}

// ------------------------------------------------- not per-backend cases --

#[tokio::test]
async fn sqlite_memory_smoke() {
    let index = index::open("sqlite::memory:").await.expect("open sqlite::memory:");
    let rows: Vec<IndexRow> = (0..3).map(row).collect();
    insert_new(&*index, &rows).await;
    // The single pooled connection outlives idle periods and serves every call.
    tokio::time::sleep(Duration::from_millis(50)).await;
    for r in &rows {
        assert_eq!(get(&*index, r.uuid).await.row, *r);
    }
    assert_eq!(list_uuids(&*index, &query()).await, uuids(&rows));
    assert_eq!(total_rows(&*index).await, 3);
    let other = index::open("sqlite::memory:").await.expect("open second memory db");
    assert_eq!(total_rows(&*other).await, 0, "each sqlite::memory: is its own database");
}

#[tokio::test]
async fn open_rejects_unsupported_urls() {
    let bad = [
        "",
        "mysql://user@localhost/db",
        "http://example.org/",
        "postgres",
        "sqlite",
        "sqlite://",
        "sqlite::memory:?mode=bogus",
        "postgres://user:s3cr3t@127.0.0.1:notaport/db",
    ];
    for url in bad {
        match index::open(url).await {
            Err(err @ IndexError::InvalidUrl { .. }) => {
                let text = err.to_string();
                assert!(!err.is_transient(), "{url:?}: a bad URL is not transient");
                assert!(!text.contains("s3cr3t"), "{url:?}: password leaked in {text:?}");
            }
            other => panic!("{url:?}: expected InvalidUrl, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn unreachable_postgres_is_transient_and_masked() {
    let started = Instant::now();
    let url = "postgres://archiver:hunter2@127.0.0.1:1/archive";
    let err = index::open(url).await.expect_err("nothing listens on port 1");
    let text = format!("{err} / {err:?}");
    assert!(matches!(err, IndexError::Unavailable(_)), "expected Unavailable, got {text}");
    assert!(err.is_transient());
    assert!(!text.contains("hunter2"), "password leaked: {text}");
    assert!(started.elapsed() < Duration::from_secs(5), "fails fast, took {:?}", started.elapsed());
    assert!(text.contains("refused"), "the error should carry the cause: {text}");
}

/// The embedded default, `sqlite://./archive/index.db`, failed in a fresh
/// directory: SQLite creates the file but not its directory.
#[tokio::test]
async fn regression_sqlite_index_creates_its_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("archive/deeper/index.db");
    let index = index::open(&format!("sqlite://{}", file.display())).await.expect("open in a missing directory");
    insert_new(&*index, &[row(1)]).await;
    assert!(file.is_file(), "{} was not created", file.display());
}

#[tokio::test]
async fn unopenable_sqlite_file_fails_fast() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("file"), b"").expect("write");
    let url = format!("sqlite://{}/file/dir/index.db", dir.path().display());
    let started = Instant::now();
    match index::open(&url).await {
        Err(IndexError::InvalidUrl { .. }) => panic!("{url}: the URL itself is fine"),
        Err(err) => assert!(!err.to_string().is_empty()),
        Ok(index) => panic!("{url}: opened {index:?} below a regular file"),
    }
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn open_accepts_both_postgres_schemes() {
    check_fresh(Backend::Postgres, |url| async move {
        let alt = url.replacen("postgres://", "postgresql://", 1);
        let url = if alt == url { url.replacen("postgresql://", "postgres://", 1) } else { alt };
        let index = index::open(&url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
        assert_eq!(total_rows(&*index).await, 0);
        let debug = format!("{index:?}");
        assert!(debug.starts_with("PgIndex"), "{debug}");
    })
    .await;
}

#[test]
fn mask_password_hides_every_password() {
    let cases = [
        ("postgres://u:secret@h:5432/db", "postgres://u:***@h:5432/db"),
        ("postgres://u@h/db", "postgres://u@h/db"),
        ("postgres://h/db?user=u&password=secret", "postgres://h/db?user=u&password=***"),
        ("postgres://u:pa/ss@h/db", "postgres://u:***@h/db"),
        ("postgres://u:p@ss@h/db", "postgres://u:***@h/db"),
        ("sqlite:///tmp/a@b.db", "sqlite:///tmp/a@b.db"),
        ("sqlite::memory:", "sqlite::memory:"),
        ("not a url", "not a url"),
    ];
    for (url, want) in cases {
        assert_eq!(archiver::telemetry::redact::mask_password(url), want, "mask_password({url:?})");
    }
}

// ------------------------------------------------------- upstream's topics --

/// A bind parameter of an upstream query.
enum Bind<'a> {
    Text(&'a str),
    Int(i64),
}

/// Runs `sql` on a raw connection to `db` and reads the integer `columns`
/// of every row.
async fn raw_integers(db: &Db, sql: &str, binds: &[Bind<'_>], columns: &[&str]) -> Vec<Vec<i64>> {
    macro_rules! run {
        ($conn:expr) => {{
            let mut query = sqlx::query(AssertSqlSafe(sql.to_owned()));
            for bind in binds {
                query = match bind {
                    Bind::Text(t) => query.bind(t.to_string()),
                    Bind::Int(i) => query.bind(*i),
                };
            }
            let rows = query.fetch_all(&mut $conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            rows.iter()
                .map(|r| {
                    columns.iter().map(|c| r.try_get::<i64, _>(*c).unwrap_or_else(|e| panic!("{c}: {e}"))).collect()
                })
                .collect()
        }};
    }
    match db.backend {
        Backend::Sqlite => run!(sqlx::SqliteConnection::connect(&db.url).await.expect("raw sqlite")),
        Backend::Postgres => run!(sqlx::PgConnection::connect(&db.url).await.expect("raw pg")),
        Backend::Memory => unreachable!("upstream's SQL needs SQL: list the case under sql_opened"),
    }
}

/// Upstream's columns of `messages`, as its SQLAlchemy table selects them.
const UPSTREAM_COLUMNS: &str = "messages.id, messages.topic, messages.timestamp, messages.uuid, messages.size, \
     messages.key, messages.bucket, messages.crc32, messages.is_client_uuid, messages.public, \
     messages.direct_upload, messages.message_crc32, messages.title, messages.sender, messages.media_type, \
     messages.file_name, messages.originator, messages.retracted";

/// Upstream's API read a `topics` table (topic, e_timestamp, l_timestamp,
/// n_messages) that our schema lacked, so its `GET /topic/{topic}` failed.
/// The statements are the ones SQLAlchemy sends for archive-core's
/// `SQL_db.get_message_records` with one topic (bind parameters numbered);
/// the sum is cast because PostgreSQL sums bigints as numeric.
async fn regression_upstreams_topic_listing_queries_read_topics(db: Db) {
    let mut rows = rows_on("gcn.notice", 5, |i| BASE_MS + 10 * i64::from(i));
    rows.extend(rows_on("lvk.alert", 3, |i| BASE_MS - 1000 + i64::from(i)));
    rows.extend(rows_on("sys.heartbeat", 7, |i| BASE_MS + 5 + i64::from(i)));
    rows[1].retracted = true;
    insert_new(&*db.index, &rows).await;
    assert!(db.index.set_retracted(rows[6].uuid, true).await.expect("retract"));

    // Expected answers, from the rows themselves. Upstream's trigger counts
    // every inserted row, retracted or not.
    let on = |topic: &str| rows.iter().filter(|r| r.topic == topic).collect::<Vec<_>>();
    let stats = |topic: &str| {
        let ts: Vec<i64> = on(topic).iter().map(|r| r.timestamp).collect();
        vec![
            ts.iter().copied().min().unwrap_or_default(),
            ts.iter().copied().max().unwrap_or_default(),
            ts.len() as i64,
        ]
    };

    let fraction = "SELECT CAST(sum_1 AS BIGINT) AS sum_1 FROM (\
        SELECT sum(topics.n_messages) AS sum_1 \nFROM topics \nWHERE topics.topic IN ($1) \
        UNION ALL SELECT sum(topics.n_messages) AS sum_1 \nFROM topics) AS upstream";
    let mut sums: Vec<i64> =
        raw_integers(&db, fraction, &[Bind::Text("lvk.alert")], &["sum_1"]).await.into_iter().flatten().collect();
    sums.sort_unstable();
    assert_eq!(sums, [3, 15], "(topic's messages, all messages), as upstream sorts them");

    let first_page_ascending = format!(
        "SELECT {UPSTREAM_COLUMNS} \nFROM messages \nWHERE messages.topic = $1 AND messages.timestamp >= \
         (SELECT min(topics.e_timestamp) AS min_1 \nFROM topics \nWHERE topics.topic IN ($2)) \
         ORDER BY messages.timestamp, messages.id \n LIMIT $3"
    );
    let binds = [Bind::Text("gcn.notice"), Bind::Text("gcn.notice"), Bind::Int(4)];
    let page = raw_integers(&db, &first_page_ascending, &binds, &["timestamp"]).await;
    let want: Vec<Vec<i64>> = on("gcn.notice").iter().take(4).map(|r| vec![r.timestamp]).collect();
    assert_eq!(page, want, "the first ascending page, retracted rows included");

    let first_page_descending = format!(
        "SELECT {UPSTREAM_COLUMNS} \nFROM messages \nWHERE messages.topic = $1 AND messages.timestamp <= \
         (SELECT max(topics.l_timestamp) AS max_1 \nFROM topics \nWHERE topics.topic IN ($2)) \
         ORDER BY messages.timestamp DESC, messages.id DESC \n LIMIT $3"
    );
    let binds = [Bind::Text("sys.heartbeat"), Bind::Text("sys.heartbeat"), Bind::Int(100)];
    let page = raw_integers(&db, &first_page_descending, &binds, &["timestamp"]).await;
    let want: Vec<Vec<i64>> = on("sys.heartbeat").iter().rev().map(|r| vec![r.timestamp]).collect();
    assert_eq!(page, want, "the first descending page");

    let table = "SELECT topic, e_timestamp, l_timestamp, n_messages FROM topics ORDER BY topic";
    let got = raw_integers(&db, table, &[], &["e_timestamp", "l_timestamp", "n_messages"]).await;
    assert_eq!(got, [stats("gcn.notice"), stats("lvk.alert"), stats("sys.heartbeat")], "one row per topic");

    if db.backend == Backend::Postgres {
        // Upstream's SQLAlchemy table declares them BIGINT.
        let types = "SELECT count(*) AS n FROM information_schema.columns WHERE table_name = 'topics' \
             AND ((column_name = 'topic' AND data_type = 'text') \
               OR (column_name IN ('e_timestamp', 'l_timestamp', 'n_messages') AND data_type = 'bigint'))";
        assert_eq!(raw_integers(&db, types, &[], &["n"]).await, [[4]], "topics has upstream's column types");
    }
}

/// Issue 11, point 17: on a server with `synchronous_commit = off`, an
/// immediate stop lost 167 acknowledged rows whose offsets were already
/// committed. Every row `insert_batch` reported must survive it.
#[tokio::test(flavor = "multi_thread")]
async fn regression_acknowledged_rows_survive_an_immediate_stop_whatever_the_server_default() {
    // A server that acknowledges commits before writing them.
    let lax = "-c synchronous_commit=off -c wal_writer_delay=10000";
    let cluster = tokio::task::spawn_blocking(move || support::PrivatePostgres::start(lax)).await.expect("starts");
    let rows: Vec<IndexRow> = (0..200).map(row).collect();
    {
        let index = archiver::index::open(&cluster.url()).await.expect("opens");
        for batch in rows.chunks(20) {
            insert_new(index.as_ref(), batch).await;
        }
    }
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.stop_immediately();
        cluster.start_again();
        cluster
    })
    .await
    .expect("restarts");
    let index = archiver::index::open(&cluster.url()).await.expect("opens again");
    let kept = index.get_many(&uuids(&rows)).await.expect("reads").len();
    assert_eq!(kept, rows.len(), "acknowledged rows lost in an immediate stop");
}
