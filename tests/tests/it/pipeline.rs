//! `pipeline::prepare`: the object and index row written for a placed message.

use crate::strategies;
use archiver::identity::{self, Identity, Placement};
use archiver::index::TimestampType;
use archiver::pipeline::{Provenance, prepare};
use archiver::record::Record;
use proptest::prelude::*;

const INGEST_MS: i64 = 1_764_288_000_000; // 2025-11-28T00:00:00Z

fn provenance() -> Provenance {
    Provenance {
        partition: Some(2),
        offset: Some(41),
        timestamp_type: TimestampType::Create,
        ingested_at_ms: INGEST_MS,
        public: true,
        direct_upload: false,
        text: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn object_and_row_agree(message in strategies::message()) {
        let id = Identity::of(&message);
        let placement = Placement { uuid: id.preferred_uuid(), is_client_uuid: id.client_uuid.is_some(), claimed_uuid: None };
        let p = prepare(&message, id.fingerprint, &placement, &provenance(), "bucket-a").expect("prepares");
        let record = Record::decode(&p.object).expect("the object decodes");
        prop_assert_eq!(record.message(), message.clone());
        let row = &p.row;
        prop_assert_eq!(row.size as usize, p.object.len());
        prop_assert_eq!(row.crc32, crc32fast::hash(&p.object));
        prop_assert_eq!(row.message_crc32, crc32fast::hash(message.payload.as_deref().unwrap_or_default()));
        prop_assert_eq!(&row.key, &p.key);
        prop_assert_eq!(row.fingerprint, id.fingerprint.0);
        prop_assert_eq!(row.uuid, placement.uuid);
        prop_assert_eq!(record.annotations.as_ref().and_then(|a| a.text_uuid()), Some(placement.uuid));
        prop_assert_eq!((row.partition, row.kafka_offset), (Some(2), Some(41)));
        let (when, ingest) = if message.timestamp >= 0 {
            (message.timestamp, TimestampType::Create)
        } else {
            (INGEST_MS, TimestampType::NotAvailable)
        };
        prop_assert_eq!(row.timestamp, when);
        prop_assert_eq!(row.timestamp_type, ingest);
        prop_assert_eq!(&p.key, &identity::object_key(&message.topic, when, placement.uuid));
    }
}

#[test]
fn a_conflict_row_records_the_claimed_uuid() {
    let message = archiver::record::Message {
        topic: "gcn.notice".into(),
        timestamp: 5,
        key: archiver::record::Key::Null,
        headers: vec![archiver::record::Header::new("_id", Some(&[7; 16]))],
        payload: Some(b"other content".to_vec()),
    };
    let id = Identity::of(&message);
    let claimed = id.client_uuid.expect("16-byte _id");
    let placement = Placement { uuid: id.derived_uuid, is_client_uuid: false, claimed_uuid: Some(claimed) };
    let p = prepare(&message, id.fingerprint, &placement, &provenance(), "b").expect("prepares");
    assert_eq!(p.row.claimed_uuid, Some(claimed));
    assert!(!p.row.is_client_uuid);
    let record = Record::decode(&p.object).expect("decodes");
    let annotations = record.annotations.expect("annotations");
    assert_eq!(annotations.flag("con_is_client_uuid"), Some(false));
    assert_eq!(annotations.text_uuid(), Some(id.derived_uuid));
}

// ---- the consuming loop, fed from memory ------------------------------------

use crate::twisted::{Twist, Twisted};
use archiver::index::Index;
use archiver::pipeline::{Context, RunLimits, RunSummary, run};
use archiver::source::memory::{MemoryLog, MemorySource};
use archiver::source::{Delivered, MessageSource, Position, SourceError};
use archiver::store::{MemoryStore, ObjectStore, PutOutcome, StoreError};
use archiver::telemetry::metrics::Metrics;
use bytes::Bytes;
use mockhop::expect::{ArchiveRules, Expectation, expect};
use mockhop::{Delivery, StreamOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub(crate) const PARTITIONS: u32 = 3;

pub(crate) fn stream(seed: u64, count: usize) -> Vec<Delivery> {
    let options = StreamOptions { seed, count, profile: "default".into(), topic_prefix: String::new() };
    mockhop::generate::generate(&options).expect("generates")
}

/// The archive a stream must produce when every topic is consumed.
fn expectation(deliveries: &[Delivery]) -> Expectation {
    expect(deliveries, &ArchiveRules { veto: vec![], archive_test_messages: false })
        .expect("no collisions")
        .in_partitions(PARTITIONS)
}

pub(crate) fn log_of(deliveries: &[Delivery]) -> MemoryLog {
    let log = MemoryLog::new();
    for d in deliveries {
        log.append(d.partition(PARTITIONS), d.message.clone());
    }
    log
}

fn limits() -> RunLimits {
    RunLimits { in_flight_max: 8, batch_rows_max: 16, batch_wait_ms: 5, max_messages: None, drain_timeout_ms: 5_000 }
}

struct Archive {
    store: Arc<dyn ObjectStore>,
    index: Arc<dyn Index>,
}

impl Archive {
    async fn new(store: Arc<dyn ObjectStore>) -> Archive {
        Archive { store, index: archiver::index::open("sqlite::memory:").await.expect("sqlite") }
    }

    fn context(&self) -> Arc<Context> {
        self.context_with_backoff_ms(1, 5)
    }

    fn context_with_backoff_ms(&self, initial: u64, max: u64) -> Arc<Context> {
        Arc::new(Context {
            store: Arc::clone(&self.store),
            index: Arc::clone(&self.index),
            metrics: Arc::new(Metrics::new()),
            archive_test_messages: false,
            public_topics: vec!["gcn.*".into()],
            text: Default::default(),
            retry_initial_backoff_ms: initial,
            retry_max_backoff_ms: max,
            key_locks: Default::default(),
        })
    }

    async fn run(&self, source: &mut dyn MessageSource) -> Result<RunSummary, archiver::pipeline::RunError> {
        run(self.context(), &limits(), source, std::future::pending()).await
    }

    /// Asserts the archive holds exactly the stream's distinct messages.
    async fn check(&self, expected: &Expectation) {
        let report =
            mockhop::verify::verify(expected, self.index.as_ref(), self.store.as_ref()).await.expect("verifies");
        assert_eq!(report.discrepancies, vec![], "archive differs from the stream");
        assert_eq!(report.foreign_rows, 0);
        let stats = self.index.topic_stats().await.expect("stats");
        let rows: i64 = stats.iter().map(|s| s.count).sum();
        assert_eq!(rows, i64::try_from(expected.messages.len()).expect("small"), "one row per distinct message");
    }
}

fn assert_all_committed(log: &MemoryLog, deliveries: &[Delivery]) {
    let mut lengths = std::collections::BTreeMap::new();
    for d in deliveries {
        *lengths.entry((d.message.topic.clone(), d.partition(PARTITIONS))).or_insert(0i64) += 1;
    }
    for ((topic, partition), len) in lengths {
        assert_eq!(log.committed(&topic, partition), len, "{topic}/{partition} committed to the end");
    }
}

#[tokio::test]
async fn a_stream_is_archived_exactly_once() {
    let deliveries = stream(5, 300);
    let expected = expectation(&deliveries);
    let log = log_of(&deliveries);
    let archive = Archive::new(Arc::new(MemoryStore::new())).await;
    let summary = archive.run(&mut log.consumer()).await.expect("runs");
    archive.check(&expected).await;
    assert_all_committed(&log, &deliveries);
    assert_eq!(summary.taken, deliveries.len() as u64);
    assert_eq!(summary.archived, expected.messages.len() as u64);
    assert_eq!(summary.duplicates, expected.duplicates);
    assert_eq!(summary.skipped_test, expected.skipped_test);
    // A second consumer of the same group finds nothing left to do.
    let again = archive.run(&mut log.consumer()).await.expect("runs");
    assert_eq!(again.taken, 0);
}

#[tokio::test]
async fn regression_the_last_batch_is_written_when_the_source_ends_not_after_batch_wait() {
    let deliveries = stream(6, 40);
    let log = log_of(&deliveries);
    let archive = Archive::new(Arc::new(MemoryStore::new())).await;
    // A batch that never fills and a wait far longer than the run needs.
    let patient = RunLimits { batch_rows_max: 10_000, batch_wait_ms: 60_000, ..limits() };
    let finished = tokio::time::timeout(
        Duration::from_secs(20),
        run(archive.context(), &patient, &mut log.consumer(), std::future::pending()),
    )
    .await;
    let summary = finished.expect("the run waited for batch_wait_ms after its source ended").expect("runs");
    assert_eq!(summary.taken, deliveries.len() as u64);
    archive.check(&expectation(&deliveries)).await;
    assert_all_committed(&log, &deliveries);
}

/// Delivers `budget` messages, then fails like a crashed process.
struct CrashingSource {
    inner: MemorySource,
    budget: u64,
}

#[async_trait::async_trait]
impl MessageSource for CrashingSource {
    async fn next(&mut self) -> Result<Option<Delivered>, SourceError> {
        if self.budget == 0 {
            return Err(SourceError::Fatal("simulated crash".into()));
        }
        self.budget -= 1;
        self.inner.next().await
    }

    async fn commit(&mut self, positions: &[Position]) -> Result<(), SourceError> {
        self.inner.commit(positions).await
    }
}

#[tokio::test]
async fn crashes_and_restarts_lose_nothing_and_store_nothing_twice() {
    let deliveries = stream(9, 300);
    let expected = expectation(&deliveries);
    let log = log_of(&deliveries);
    let archive = Archive::new(Arc::new(MemoryStore::new())).await;
    for budget in [37, 5, 90, 1, 64] {
        let mut source = CrashingSource { inner: log.consumer(), budget };
        let result = archive.run(&mut source).await;
        assert!(result.is_err(), "the crash surfaces as an error");
    }
    archive.run(&mut log.consumer()).await.expect("final run");
    archive.check(&expected).await;
    assert_all_committed(&log, &deliveries);
}

#[tokio::test]
async fn objects_without_index_rows_are_healed() {
    let deliveries = stream(3, 200);
    let expected = expectation(&deliveries);
    let archive = Archive::new(Arc::new(MemoryStore::new())).await;
    // A crash between object write and index write, for the first 20 messages.
    for m in expected.messages.iter().take(20) {
        let p = prepare(&m.message, m.fingerprint, &m.placement, &provenance(), "memory").expect("prepares");
        archive.store.put_if_absent(&p.key, Bytes::from(p.object)).await.expect("stored");
    }
    let summary = archive.run(&mut log_of(&deliveries).consumer()).await.expect("runs");
    archive.check(&expected).await;
    assert!(summary.healed >= 15, "healed {} rows", summary.healed);
}

/// Fails every `every`-th write with a transient error.
#[derive(Debug)]
struct Flaky {
    every: u64,
    calls: AtomicU64,
}

#[async_trait::async_trait]
impl Twist for Flaky {
    async fn put_if_absent(&self, inner: &MemoryStore, key: &str, bytes: Bytes) -> Result<PutOutcome, StoreError> {
        if self.calls.fetch_add(1, Ordering::Relaxed).is_multiple_of(self.every) {
            return Err(StoreError::Unavailable { op: "put", key: key.into(), message: "503 SlowDown".into() });
        }
        inner.put_if_absent(key, bytes).await
    }
}

#[tokio::test]
async fn transient_store_failures_are_retried_until_everything_is_archived() {
    let deliveries = stream(4, 200);
    let expected = expectation(&deliveries);
    let log = log_of(&deliveries);
    let flaky = Arc::new(Twisted::new(Flaky { every: 3, calls: AtomicU64::new(0) }));
    let archive = Archive::new(flaky.clone()).await;
    archive.run(&mut log.consumer()).await.expect("runs");
    archive.check(&expected).await;
    assert_all_committed(&log, &deliveries);
    assert!(flaky.twist.calls.load(Ordering::Relaxed) > expected.messages.len() as u64, "failures were retried");
}

/// Regression: two messages claiming one `_id` on different days have
/// different object keys, so both conditional creates succeeded and the
/// index kept only the first row — the second message was lost (found by
/// `run::a_produced_stream_is_archived_exactly_once`).
#[tokio::test]
async fn regression_conflict_on_another_day_is_not_lost() {
    let (first, second) = same_id_pair(1);
    let log = MemoryLog::new();
    log.append(0, first.clone());
    log.append(1, second.clone());
    let archive = Archive::new(Arc::new(MemoryStore::new())).await;
    let summary = archive.run(&mut log.consumer()).await.expect("runs");
    assert_eq!((summary.archived, summary.conflicts), (2, 1), "{summary:?}");
    archive.check(&expectation(&deliveries_of(&[first, second]))).await;
    let objects = archive.store.list("lvk.alerts/", None, 10).await.expect("lists").objects;
    assert_eq!(objects.len(), 2, "no unreferenced object is left behind: {objects:?}");
}

/// Two messages claiming one `_id`: `first` on 2026-01-01, `second` with
/// other content `days_later`.
fn same_id_pair(days_later: i64) -> (archiver::record::Message, archiver::record::Message) {
    let message = |timestamp: i64, payload: &[u8]| archiver::record::Message {
        topic: "lvk.alerts".into(),
        timestamp,
        key: archiver::record::Key::Null,
        headers: vec![archiver::record::Header::new("_id", Some(&[7u8; 16]))],
        payload: Some(payload.to_vec()),
    };
    let day_ms = 86_400_000;
    (message(1_767_225_600_000, b"first"), message(1_767_225_600_000 + days_later * day_ms, b"second"))
}

fn deliveries_of(messages: &[archiver::record::Message]) -> Vec<Delivery> {
    let delivery = |(i, m): (usize, &archiver::record::Message)| Delivery {
        seq: i as u64,
        partition_hint: i as u32,
        message: m.clone(),
        labels: vec![],
    };
    messages.iter().enumerate().map(delivery).collect()
}

/// Regression: a crash after the second claimant of an `_id` was written on
/// another day, but before its refused row led to placing it again, left
/// its object behind; the redelivery found that object, decided
/// "duplicate", and a refused duplicate row was taken as proof that the
/// message was archived — it was lost (found by
/// `run::killed_mid_stream_on_postgres_and_s3_loses_nothing`).
#[tokio::test]
async fn regression_refused_duplicate_row_of_another_message_is_not_lost() {
    let (first, second) = same_id_pair(1);
    let log = MemoryLog::new();
    log.append(0, first.clone());
    let archive = Archive::new(Arc::new(MemoryStore::new())).await;
    archive.run(&mut log.consumer()).await.expect("first run");
    // The crash: the second message's object under the `_id`, no row.
    let id = archiver::identity::Identity::of(&second);
    let placement = Placement { uuid: id.preferred_uuid(), is_client_uuid: true, claimed_uuid: None };
    let left = prepare(&second, id.fingerprint, &placement, &provenance(), "memory").expect("prepares");
    archive.store.put_if_absent(&left.key, Bytes::from(left.object)).await.expect("stored");
    log.append(1, second.clone());
    let summary = archive.run(&mut log.consumer()).await.expect("second run");
    assert_eq!((summary.archived, summary.conflicts, summary.duplicates), (1, 1, 0), "{summary:?}");
    archive.check(&expectation(&deliveries_of(&[first, second]))).await;
    assert_eq!(archive.store.get(&left.key).await.expect("reads"), None, "the crash's leftover object is removed");
}

/// An S3 server whose "create if absent" checks, then writes (s3s-fs
/// 0.14.1): racing creates of one key both succeed, the last one's bytes win.
#[derive(Debug, Default)]
struct CheckThenWrite;

#[async_trait::async_trait]
impl Twist for CheckThenWrite {
    async fn put_if_absent(&self, inner: &MemoryStore, key: &str, bytes: Bytes) -> Result<PutOutcome, StoreError> {
        if inner.head(key).await?.is_some() {
            return Ok(PutOutcome::AlreadyExists);
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        inner.delete(key).await?;
        inner.put_if_absent(key, bytes).await
    }
}

/// Regression: on a store whose conditional create is not atomic, two
/// claimants of one `_id` on one day were written concurrently to one key;
/// the index named one message while the object held the other (found by
/// `run::killed_mid_stream_on_postgres_and_s3_loses_nothing` on s3s-fs).
#[tokio::test]
async fn regression_same_key_creates_are_serialised_on_a_check_then_write_store() {
    let (first, second) = same_id_pair(0);
    let log = MemoryLog::new();
    log.append(0, first.clone());
    log.append(1, second.clone());
    let archive = Archive::new(Arc::new(Twisted::new(CheckThenWrite))).await;
    let summary = archive.run(&mut log.consumer()).await.expect("runs");
    assert_eq!((summary.archived, summary.conflicts), (2, 1), "{summary:?}");
    archive.check(&expectation(&deliveries_of(&[first, second]))).await;
}

/// Holds back every write of the first claimants' day, so that without an
/// order the later claimant of each `_id` reaches the index first.
#[derive(Debug)]
struct SlowFirstDay;

#[async_trait::async_trait]
impl Twist for SlowFirstDay {
    async fn put_if_absent(&self, inner: &MemoryStore, key: &str, bytes: Bytes) -> Result<PutOutcome, StoreError> {
        if key.contains("/2026/01/01/") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        inner.put_if_absent(key, bytes).await
    }
}

/// `pairs` disputed `_id`s, all in partition 0: each claimed first on
/// 2026-01-01 and then, with other content, on the next day.
fn disputed_stream(pairs: u8) -> Vec<Delivery> {
    let messages: Vec<archiver::record::Message> = (0..pairs)
        .flat_map(|i| {
            let (mut first, mut second) = same_id_pair(1);
            for m in [&mut first, &mut second] {
                m.headers = vec![archiver::record::Header::new("_id", Some(&[i; 16]))];
                m.payload.as_mut().expect("a payload").push(i);
            }
            [first, second]
        })
        .collect();
    let mut deliveries = deliveries_of(&messages);
    for d in &mut deliveries {
        d.partition_hint = 0;
    }
    deliveries
}

/// Issue 11, point 1: the first index row written took a disputed `_id`, so
/// with concurrent placement the later delivery of a partition could win
/// (0–2 of 44 in real runs). Every in-flight limit and crash point must give
/// the `_id` to the earlier offset, and so the same archive.
#[tokio::test]
async fn regression_the_earlier_offset_keeps_a_disputed_id_whatever_the_concurrency_and_crashes() {
    let deliveries = disputed_stream(30);
    let expected = expectation(&deliveries);
    for (in_flight_max, crashes) in [(64, &[][..]), (8, &[7, 20][..]), (2, &[3][..]), (1, &[][..])] {
        let log = log_of(&deliveries);
        let archive = Archive::new(Arc::new(Twisted::new(SlowFirstDay))).await;
        let limits = RunLimits { in_flight_max, ..limits() };
        for &budget in crashes {
            let mut source = CrashingSource { inner: log.consumer(), budget };
            let crashed = run(archive.context(), &limits, &mut source, std::future::pending()).await;
            assert!(crashed.is_err(), "the crash surfaces as an error");
        }
        run(archive.context(), &limits, &mut log.consumer(), std::future::pending()).await.expect("runs");
        archive.check(&expected).await;
        for owner in expected.messages.iter().filter(|m| m.placement.is_client_uuid) {
            let row = archive.index.get(owner.placement.uuid).await.expect("reads").expect("the `_id` is held");
            assert_eq!(
                row.row.fingerprint, owner.fingerprint.0,
                "in-flight {in_flight_max}, crashes {crashes:?}: `_id` {} went to a later offset",
                owner.placement.uuid
            );
        }
    }
}

/// A store whose writes never answer, like an S3 endpoint that accepts
/// connections and then says nothing.
#[derive(Debug)]
struct Hangs;

#[async_trait::async_trait]
impl Twist for Hangs {
    async fn put_if_absent(&self, _: &MemoryStore, _: &str, _: Bytes) -> Result<PutOutcome, StoreError> {
        std::future::pending().await
    }
}

/// An index whose every write fails: as a lost connection does (down), or
/// as a statement the server rejects for good (refusing).
#[derive(Debug)]
struct IndexDown {
    inner: Arc<dyn Index>,
    refusing: bool,
}

impl IndexDown {
    async fn new(refusing: bool) -> IndexDown {
        IndexDown { inner: archiver::index::open("sqlite::memory:").await.expect("sqlite"), refusing }
    }
}

#[async_trait::async_trait]
impl Index for IndexDown {
    async fn insert_batch(&self, _: &[archiver::index::IndexRow]) -> Result<Vec<bool>, archiver::index::IndexError> {
        Err(if self.refusing {
            archiver::index::IndexError::Query(sqlx::Error::Protocol("permission denied for table messages".into()))
        } else {
            archiver::index::IndexError::Unavailable(sqlx::Error::PoolTimedOut)
        })
    }
    async fn get(&self, uuid: uuid::Uuid) -> Result<Option<archiver::index::IndexEntry>, archiver::index::IndexError> {
        self.inner.get(uuid).await
    }
    async fn get_many(
        &self,
        uuids: &[uuid::Uuid],
    ) -> Result<Vec<archiver::index::IndexEntry>, archiver::index::IndexError> {
        self.inner.get_many(uuids).await
    }
    async fn list(
        &self,
        query: &archiver::index::ListQuery,
    ) -> Result<archiver::index::Page, archiver::index::IndexError> {
        self.inner.list(query).await
    }
    async fn topic_stats(&self) -> Result<Vec<archiver::index::TopicStats>, archiver::index::IndexError> {
        self.inner.topic_stats().await
    }
    async fn topic_stats_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<archiver::index::TopicStats>, archiver::index::IndexError> {
        self.inner.topic_stats_since(since_ms).await
    }
    async fn set_retracted(&self, uuid: uuid::Uuid, retracted: bool) -> Result<bool, archiver::index::IndexError> {
        self.inner.set_retracted(uuid, retracted).await
    }
    async fn lanes(
        &self,
        filter: &archiver::index::RowFilter,
    ) -> Result<Vec<archiver::index::Lane>, archiver::index::IndexError> {
        self.inner.lanes(filter).await
    }
    async fn lane_page(
        &self,
        filter: &archiver::index::RowFilter,
        topic: &str,
        partition: Option<i32>,
        after: Option<archiver::index::LaneCursor>,
        limit: u32,
    ) -> Result<Vec<archiver::index::IndexEntry>, archiver::index::IndexError> {
        self.inner.lane_page(filter, topic, partition, after, limit).await
    }
    async fn id_max(&self) -> Result<Option<i64>, archiver::index::IndexError> {
        self.inner.id_max().await
    }
    async fn set_texts(&self, texts: &[archiver::index::RowText]) -> Result<u64, archiver::index::IndexError> {
        self.inner.set_texts(texts).await
    }
    async fn rows_without_text(
        &self,
        topics: &[String],
        after_id: i64,
        partial: bool,
        limit: u32,
    ) -> Result<Vec<archiver::index::IndexEntry>, archiver::index::IndexError> {
        self.inner.rows_without_text(topics, after_id, partial, limit).await
    }
}

/// A consumer that waits for more messages once the log is read, and whose
/// final commit may never answer (a broker that went away).
struct Endless {
    inner: MemorySource,
    close_hangs: bool,
}

#[async_trait::async_trait]
impl MessageSource for Endless {
    async fn next(&mut self) -> Result<Option<Delivered>, SourceError> {
        match self.inner.next().await? {
            Some(delivered) => Ok(Some(delivered)),
            None => std::future::pending().await,
        }
    }
    async fn commit(&mut self, positions: &[Position]) -> Result<(), SourceError> {
        self.inner.commit(positions).await
    }
    async fn close(&mut self) -> Result<(), SourceError> {
        if self.close_hangs {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

/// Runs a stream on `archive` until a shutdown signal 200 ms in, and
/// requires the run to end within its drain time plus the final commit's
/// bound, whatever the backends do; returns the messages committed.
async fn check_shutdown_is_bounded(archive: &Archive, close_hangs: bool) -> i64 {
    let deliveries = stream(12, 60);
    let log = log_of(&deliveries);
    let limits = RunLimits { drain_timeout_ms: 300, ..limits() };
    let mut source = Endless { inner: log.consumer(), close_hangs };
    let shutdown = tokio::time::sleep(Duration::from_millis(200));
    let started = std::time::Instant::now();
    let bound = Duration::from_millis(limits.drain_timeout_ms + archiver::pipeline::CLOSE_TIMEOUT_MS + 2_000);
    let ran = tokio::time::timeout(bound, run(archive.context(), &limits, &mut source, shutdown)).await;
    ran.unwrap_or_else(|_| panic!("still running {bound:?} after the shutdown signal")).expect("ends cleanly");
    assert!(started.elapsed() >= Duration::from_millis(200), "ended before the signal");
    (0..PARTITIONS)
        .map(|p| i32::try_from(p).expect("small"))
        .flat_map(|p| {
            let topics: std::collections::BTreeSet<String> =
                deliveries.iter().map(|d| d.message.topic.clone()).collect();
            topics.into_iter().map(move |t| (t, p))
        })
        .map(|(t, p)| log.committed(&t, p))
        .sum()
}

/// Issue 11, point 15: with S3 down the process stayed up 637 s after
/// SIGTERM, because the drain deadline was only looked at when another
/// branch of the loop woke.
#[tokio::test]
async fn regression_shutdown_is_bounded_while_the_store_hangs() {
    let archive = Archive::new(Arc::new(Twisted::new(Hangs))).await;
    assert_eq!(check_shutdown_is_bounded(&archive, false).await, 0, "nothing was written, nothing is committed");
}

/// Issue 11, point 15: with PostgreSQL down the final index flush retried
/// until it came back.
#[tokio::test]
async fn regression_shutdown_is_bounded_while_the_index_is_down() {
    let archive = Archive { store: Arc::new(MemoryStore::new()), index: Arc::new(IndexDown::new(false).await) };
    assert_eq!(check_shutdown_is_bounded(&archive, false).await, 0, "no row is durable, nothing is committed");
}

/// Issue 11, point 15: a final commit to a broker that went away.
#[tokio::test]
async fn regression_shutdown_is_bounded_while_the_final_commit_hangs() {
    let archive = Archive::new(Arc::new(MemoryStore::new())).await;
    assert!(check_shutdown_is_bounded(&archive, true).await > 0, "what was archived is committed");
}

/// A store whose credentials stopped working (HTTP 403 on every write).
#[derive(Debug)]
struct Refusing;

#[async_trait::async_trait]
impl Twist for Refusing {
    async fn put_if_absent(&self, _: &MemoryStore, key: &str, _: Bytes) -> Result<PutOutcome, StoreError> {
        Err(StoreError::Denied { op: "put", key: key.into(), message: "403 SignatureDoesNotMatch".into() })
    }
}

/// Issue 11, point 16: a store refusing the credentials was retried forever
/// at ERROR while nothing could be archived; it ends the run with its cause,
/// and nothing is committed.
#[tokio::test]
async fn regression_a_store_refusing_the_credentials_ends_the_run() {
    let deliveries = stream(13, 30);
    let log = log_of(&deliveries);
    let archive = Archive::new(Arc::new(Twisted::new(Refusing))).await;
    let ran = tokio::time::timeout(Duration::from_secs(10), archive.run(&mut log.consumer())).await;
    let err = ran.expect("the run ended").expect_err("refused").to_string();
    assert!(err.contains("refuses the archiver") && err.contains("SignatureDoesNotMatch"), "{err}");
    assert_eq!(log.committed(&deliveries[0].message.topic, 0), 0, "nothing committed");
}

/// Issue 12: a permanent index error (permissions, a rejected statement)
/// was retried forever at `warn`; it ends the run with the cause.
#[tokio::test]
async fn a_permanent_index_error_ends_the_run() {
    let log = log_of(&stream(14, 20));
    let archive = Archive { store: Arc::new(MemoryStore::new()), index: Arc::new(IndexDown::new(true).await) };
    let ran = tokio::time::timeout(Duration::from_secs(10), archive.run(&mut log.consumer())).await;
    let err = ran.expect("the run ended").expect_err("refused").to_string();
    assert!(err.contains("permission denied"), "{err}");
}

/// Panics in the middle of a write, as a bug would.
#[derive(Debug)]
struct Panics;

#[async_trait::async_trait]
impl Twist for Panics {
    async fn put_if_absent(&self, _: &MemoryStore, key: &str, _: Bytes) -> Result<PutOutcome, StoreError> {
        panic!("a bug while writing {key}")
    }
}

/// Issue 12: a panicking placement task was logged and forgotten, and its
/// offset held back its partition's commits for good while the run went on.
#[tokio::test]
async fn a_panicking_placement_ends_the_run_instead_of_stalling_its_partition() {
    let log = log_of(&stream(15, 20));
    let archive = Archive::new(Arc::new(Twisted::new(Panics))).await;
    let err = archive.run(&mut log.consumer()).await.expect_err("the panic ends the run").to_string();
    assert!(err.contains("panicked"), "{err}");
}

/// A broker that stays out of reach: every fetch fails, transiently.
struct Unreachable;

#[async_trait::async_trait]
impl MessageSource for Unreachable {
    async fn next(&mut self) -> Result<Option<Delivered>, SourceError> {
        Err(SourceError::Unavailable("connection refused".into()))
    }
    async fn commit(&mut self, _: &[Position]) -> Result<(), SourceError> {
        Ok(())
    }
}

/// Issue 11, point 15: the backoff after a source error was a sleep inside
/// the loop, so a shutdown signal waited for it (up to 30 s by default)
/// before the drain even began.
#[tokio::test]
async fn regression_shutdown_is_seen_during_the_backoff_after_a_source_error() {
    let archive = Archive::new(Arc::new(MemoryStore::new())).await;
    let slow = archive.context_with_backoff_ms(60_000, 60_000);
    let shutdown = tokio::time::sleep(Duration::from_millis(200));
    let ran = tokio::time::timeout(Duration::from_secs(10), run(slow, &limits(), &mut Unreachable, shutdown)).await;
    ran.expect("ended soon after the signal, not after the 60 s backoff").expect("a normal end");
}
