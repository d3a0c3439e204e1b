//! `archiver restore` end to end against the real services: a mockhop
//! stream produced into tansu and archived by `archiver run` into
//! PostgreSQL and s3s-fs, restored by the `archiver` binary, then read back
//! (kafka-python, a plain librdkafka consumer, or `archiver run` again) and
//! compared with the archive as the independent `bson` crate decodes its
//! objects — never archiver's own `Record`, so a bug shared by the encoder
//! and the restore's decoder cannot hide.

use crate::run::{Fixture, PARTITIONS, archiver_process, real_backends, total_rows};
use crate::support::{self, service};
use archiver::record::{Header, Key, Message};
use archiver::source::KafkaConnection;
use archiver::store::ObjectStore;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::{StreamExt as _, TryStreamExt as _};
use mockhop::Delivery;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng as _, SeedableRng as _};
use rdkafka::Timestamp;
use rdkafka::consumer::BaseConsumer;
use rdkafka::message::{Headers as _, Message as _};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Output;
use std::time::{Duration, Instant};

/// How long one `archiver` process (a run to the end of the stream, a
/// restore) may take before the test gives up on it.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(90);
/// How long reading a target topic back may take.
const READ_BACK_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------
// The archive, decoded independently.

/// An archive on PostgreSQL that `archiver run` filled.
struct Archive {
    index_url: String,
    store_url: String,
    store: Box<dyn ObjectStore>,
    /// The directory of a filesystem store.
    _dir: Option<tempfile::TempDir>,
}

/// `f`'s stream archived into a fresh database and s3s-fs bucket by
/// `archiver run --until-eos` (a process, as an operator runs it).
async fn archived(f: &Fixture) -> Archive {
    let (index_url, store_url, s3) = real_backends().await;
    archive_into(f, Archive { index_url, store_url, store: Box::new(s3), _dir: None }).await
}

/// As [`archived`], with the objects in a directory: the kill test's
/// thousands of objects are written and read back in a fraction of the
/// time (its subject is the restore's crash safety against Kafka).
async fn archived_on_disk(f: &Fixture) -> Archive {
    let dir = tempfile::tempdir().expect("store dir");
    let store_url = format!("file://{}", dir.path().display());
    let store = archiver::store::FsStore::new(dir.path());
    let index_url = support::fresh_database("restore").await;
    archive_into(f, Archive { index_url, store_url, store: Box::new(store), _dir: Some(dir) }).await
}

async fn archive_into(f: &Fixture, archive: Archive) -> Archive {
    let out = finish(archiving(f, &archive.index_url, &archive.store_url)).await;
    assert!(out.status.success(), "archiver run: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    archive
}

/// What a Kafka record carries besides its topic and position: the value,
/// the key, the headers in order and the timestamp (-1 for none). Compared
/// byte for byte; printed short.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Wire {
    timestamp: i64,
    key: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    value: Option<Vec<u8>>,
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short = |b: &Option<Vec<u8>>| match b {
            None => "null".to_owned(),
            Some(b) => format!("{}B/{:08x}", b.len(), crc32fast::hash(b)),
        };
        let headers: Vec<String> = self.headers.iter().map(|(k, v)| format!("{k:?}={}", short(v))).collect();
        write!(
            f,
            "ts={} key={} value={} headers=[{}]",
            self.timestamp,
            short(&self.key),
            short(&self.value),
            headers.join(" ")
        )
    }
}

/// One row of an archive's index with its object, as the `bson` crate reads it.
#[derive(Debug, Clone)]
struct Row {
    topic: String,
    uuid: String,
    is_client_uuid: bool,
    partition: Option<i32>,
    offset: Option<i64>,
    timestamp_type: String,
    object: bson::Document,
}

impl Row {
    /// The message the object holds, as `archiver run` writes a Kafka
    /// record (the current layout): `message` binary or null; `metadata`
    /// timestamp (-1: none), key binary or null, headers null or
    /// `[name, binary or null]` pairs in order.
    fn wire(&self) -> Wire {
        let metadata = self.object.get_document("metadata").expect("metadata");
        let bytes = |v: Option<&bson::Bson>| match v {
            Some(bson::Bson::Null) => None,
            Some(bson::Bson::Binary(b)) => Some(b.bytes.clone()),
            other => panic!("{}: not binary or null: {other:?}", self.uuid),
        };
        let timestamp = match metadata.get("timestamp") {
            Some(bson::Bson::Int32(t)) => i64::from(*t),
            Some(bson::Bson::Int64(t)) => *t,
            other => panic!("{}: timestamp {other:?}", self.uuid),
        };
        let headers = match metadata.get("headers") {
            None | Some(bson::Bson::Null) => Vec::new(),
            Some(bson::Bson::Array(pairs)) => pairs
                .iter()
                .map(|pair| match pair.as_array().map(Vec::as_slice) {
                    Some([bson::Bson::String(name), value]) => (name.clone(), bytes(Some(value))),
                    _ => panic!("{}: header {pair:?}", self.uuid),
                })
                .collect(),
            Some(other) => panic!("{}: headers {other:?}", self.uuid),
        };
        Wire { timestamp, key: bytes(metadata.get("key")), headers, value: bytes(self.object.get("message")) }
    }
}

/// Every row of `archive` with its object, in no particular order.
async fn rows(archive: &Archive) -> Vec<Row> {
    use sqlx::Connection as _;
    type Columns = (String, String, bool, Option<i32>, Option<i64>, String, String);
    let mut conn = sqlx::PgConnection::connect(&archive.index_url).await.expect("connect to the index");
    let columns: Vec<Columns> = sqlx::query_as(
        "SELECT topic, uuid::text, is_client_uuid, \"partition\", kafka_offset, timestamp_type, key FROM messages",
    )
    .fetch_all(&mut conn)
    .await
    .expect("index rows");
    let store = &archive.store;
    futures::stream::iter(columns)
        .map(|(topic, uuid, is_client_uuid, partition, offset, timestamp_type, key)| async move {
            let bytes =
                store.get(&key).await.expect("object read").unwrap_or_else(|| panic!("object {key} is missing"));
            let object = bson::Document::from_reader(&mut &bytes[..]).unwrap_or_else(|e| panic!("object {key}: {e}"));
            Ok::<_, ()>(Row { topic, uuid, is_client_uuid, partition, offset, timestamp_type, object })
        })
        .buffer_unordered(32)
        .try_collect()
        .await
        .expect("rows")
}

/// The archived messages as a multiset of (target topic, message).
fn archived_multiset(rows: &[Row], prefix: &str) -> BTreeMap<(String, Wire), usize> {
    let mut set = BTreeMap::new();
    for row in rows {
        *set.entry((format!("{prefix}{}", row.topic), row.wire())).or_default() += 1;
    }
    set
}

// ---------------------------------------------------------------------------
// Processes.

/// Waits for a process (output captured) at most [`PROCESS_TIMEOUT`].
async fn finish(mut command: tokio::process::Command) -> Output {
    command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    tokio::time::timeout(PROCESS_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("{command:?} still running after {PROCESS_TIMEOUT:?}"))
        .expect("the process runs")
}

/// `archiver run --until-eos` on `f`'s topics, standalone: no group join
/// (seconds on tansu), the offsets still committed under the group.
fn archiving(f: &Fixture, index_url: &str, store_url: &str) -> tokio::process::Command {
    let mut command = archiver_process(f, index_url, store_url);
    command.args(["--kafka-membership", "standalone"]);
    command
}

/// `archiver restore` reading `archive`, writing to `brokers`, with its
/// summary as JSON on stdout.
fn restore(brokers: &str, archive: &Archive) -> tokio::process::Command {
    restore_from(brokers, &archive.index_url, &archive.store_url)
}

fn restore_from(brokers: &str, index_url: &str, store_url: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(support::binary("archiver"));
    cmd.args(["restore", "--kafka-brokers", brokers, "--index", index_url, "--store", store_url, "--json"])
        .env("AWS_ACCESS_KEY_ID", service("ARCHIVER_TEST_S3_ACCESS_KEY"))
        .env("AWS_SECRET_ACCESS_KEY", service("ARCHIVER_TEST_S3_SECRET_KEY"))
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    cmd
}

/// Runs a restore that must succeed; returns its JSON summary.
async fn restored(command: tokio::process::Command) -> serde_json::Value {
    let out = finish(command).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "archiver restore: {}\n{stderr}", out.status);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("summary JSON: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// A fresh prefix for target topics: `replay.<8 hex>.`.
fn replay_prefix() -> String {
    format!("replay.{}.", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// `f`'s stream as it appears in the target topics of a restore with
/// `--topic-prefix prefix` (nothing is produced): `archiver run` and
/// `mockhop verify` then treat the replay like any stream. Its consumer
/// group is its own.
fn replayed(f: &Fixture, prefix: &str) -> Fixture {
    let deliveries = f
        .deliveries
        .iter()
        .map(|d| {
            let mut d = d.clone();
            d.message.topic = format!("{prefix}{}", d.message.topic);
            d
        })
        .collect();
    Fixture {
        brokers: f.brokers.clone(),
        prefix: format!("{prefix}{}", f.prefix),
        deliveries,
        dir: tempfile::tempdir().expect("tempdir"),
    }
}

/// `f`'s topics under another consumer group (`archiver_process` names the
/// group after the fixture's prefix).
fn in_new_group(f: &Fixture, name: &str) -> Fixture {
    Fixture {
        brokers: f.brokers.clone(),
        prefix: format!("{}{name}-", f.prefix),
        deliveries: f.deliveries.clone(),
        dir: tempfile::tempdir().expect("tempdir"),
    }
}

/// The counts `archiver run` logs when it stops (`--log-format json`).
#[derive(Debug, Default, PartialEq, Eq)]
struct RunCounts {
    taken: u64,
    archived: u64,
    duplicates: u64,
    conflicts: u64,
    skipped_test: u64,
}

/// `archiver run --until-eos` on `f`'s topics into `archive`, to the end:
/// what its final log line counted.
async fn run_counts(f: &Fixture, archive: &Archive) -> RunCounts {
    let mut command = archiving(f, &archive.index_url, &archive.store_url);
    command.args(["--log-format", "json"]).env("RUST_LOG", "info");
    let out = finish(command).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "archiver run: {}\n{stderr}", out.status);
    let stopped = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["message"] == "stopped")
        .unwrap_or_else(|| panic!("no \"stopped\" line in\n{stderr}"));
    let n = |name: &str| stopped[name].as_u64().unwrap_or_else(|| panic!("{name} in {stopped}"));
    RunCounts {
        taken: n("taken"),
        archived: n("archived"),
        duplicates: n("duplicates"),
        conflicts: n("conflicts"),
        skipped_test: n("skipped_test"),
    }
}

// ---------------------------------------------------------------------------
// Reading target topics back.

/// One record as a consumer saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Consumed {
    topic: String,
    partition: i32,
    offset: i64,
    /// "CreateTime" (also for a record without one, which carries -1) or
    /// "LogAppendTime".
    timestamp_type: String,
    wire: Wire,
}

/// Every record of `topics` (each partition from the start to its end),
/// read with a plain librdkafka consumer without a group.
async fn consume_all(brokers: &str, topics: &[String]) -> Vec<Consumed> {
    let readers = topics.iter().map(|topic| {
        let (brokers, topic) = (brokers.to_owned(), topic.clone());
        tokio::task::spawn_blocking(move || consume_topic(&brokers, &topic))
    });
    futures::future::join_all(readers).await.into_iter().flat_map(|r| r.expect("reader")).collect()
}

/// Every record of `topic`, as [`support::read_topic`] reads it.
fn consume_topic(brokers: &str, topic: &str) -> Vec<Consumed> {
    let records = support::read_topic(&KafkaConnection::plaintext(brokers), topic, READ_BACK_TIMEOUT);
    records
        .iter()
        .map(|m| {
            let timestamp = match m.timestamp() {
                Timestamp::NotAvailable => ("CreateTime", -1),
                Timestamp::CreateTime(t) => ("CreateTime", t),
                Timestamp::LogAppendTime(t) => ("LogAppendTime", t),
            };
            let headers = m.headers().map_or_else(Vec::new, |hs| {
                hs.iter().map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec))).collect()
            });
            Consumed {
                topic: m.topic().to_owned(),
                partition: m.partition(),
                offset: m.offset(),
                timestamp_type: timestamp.0.to_owned(),
                wire: Wire {
                    timestamp: timestamp.1,
                    key: m.key().map(<[u8]>::to_vec),
                    headers,
                    value: m.payload().map(<[u8]>::to_vec),
                },
            }
        })
        .collect()
}

/// The partition count of `topic` (0: the cluster does not have it).
async fn partition_count(brokers: &str, topic: &str) -> i32 {
    let (brokers, topic) = (brokers.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = KafkaConnection::plaintext(&brokers)
            .client_config()
            .set("allow.auto.create.topics", "false")
            .create()
            .expect("consumer");
        support::partition_count_with(&consumer, &topic)
    })
    .await
    .expect("metadata reader")
}

/// Every record of `topics` as kafka-python (mockhop/tests/readback.py,
/// the hop-client venv) reads them: a client that shares no code with
/// librdkafka, which both the restore and the archiver use.
async fn read_back_with_kafka_python(brokers: &str, topics: &[String], total: usize) -> Vec<Consumed> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../mockhop/tests/readback.py");
    let mut command = tokio::process::Command::new(mockhop::testing::venv_python());
    command.arg(script).arg(brokers).arg(total.to_string()).arg(READ_BACK_TIMEOUT.as_secs().to_string());
    command.args(topics).kill_on_drop(true);
    let out = finish(command).await;
    assert!(out.status.success(), "readback.py: {}", String::from_utf8_lossy(&out.stderr));
    let bytes = |v: &serde_json::Value| v.as_str().map(|s| BASE64.decode(s).unwrap_or_else(|e| panic!("{s:?}: {e}")));
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let headers = v["headers"].as_array().expect("headers");
            Consumed {
                topic: v["topic"].as_str().expect("topic").to_owned(),
                partition: i32::try_from(v["partition"].as_i64().expect("partition")).expect("partition"),
                offset: v["offset"].as_i64().expect("offset"),
                timestamp_type: v["timestamp_type"].as_str().expect("timestamp type").to_owned(),
                wire: Wire {
                    timestamp: v["timestamp"].as_i64().expect("timestamp"),
                    key: bytes(&v["key"]),
                    headers: headers
                        .iter()
                        .map(|h| (h[0].as_str().expect("header name").to_owned(), bytes(&h[1])))
                        .collect(),
                    value: bytes(&v["value"]),
                },
            }
        })
        .collect()
}

/// Consumed records as a multiset of (topic, message).
fn consumed_multiset(records: &[Consumed]) -> BTreeMap<(String, Wire), usize> {
    let mut set = BTreeMap::new();
    for r in records {
        *set.entry((r.topic.clone(), r.wire.clone())).or_default() += 1;
    }
    set
}

/// Target topic names of `rows` under `prefix`.
fn targets(rows: &[Row], prefix: &str) -> Vec<String> {
    let names: BTreeSet<String> = rows.iter().map(|r| format!("{prefix}{}", r.topic)).collect();
    names.into_iter().collect()
}

/// The client `_id` of a message: the first `_id` header holding 16 bytes
/// (what the archiver takes as the client's UUID).
fn client_id(wire: &Wire) -> Option<Vec<u8>> {
    wire.headers.iter().find_map(|(name, value)| value.clone().filter(|v| name == "_id" && v.len() == 16))
}

fn summary_total(summary: &serde_json::Value, field: &str) -> u64 {
    summary["total"][field].as_u64().unwrap_or_else(|| panic!("total.{field} in {summary}"))
}

// ---------------------------------------------------------------------------
// 1. Round trip.

/// Rule: a restore gives Kafka back exactly what it first delivered. An
/// archive of every era, odd headers and duplicates, restored into renamed
/// topics and archived again, holds for every row of the first archive
/// exactly one row with the same payload, key, headers and timestamp (in
/// the renamed topic and the same partition), and its object is the same
/// BSON except `metadata.topic` — and, for messages stored under a derived
/// UUID (no usable client `_id`, or a conflict), the UUID and the
/// annotations that name it (`con_text_uuid`, `con_is_client_uuid`),
/// since a derived UUID hashes the topic.
#[tokio::test(flavor = "multi_thread")]
async fn round_trip_through_a_restore_rearchives_every_message_identically() {
    let f = Fixture::produced("restore-trip", 61, 300).await;
    let a = archived(&f).await;
    let replay = replay_prefix();
    let summary = restored({
        let mut c = restore(&f.brokers, &a);
        c.args(["--topic-prefix", &replay, "--create-topics"]);
        c
    })
    .await;
    let a_rows = rows(&a).await;
    assert_eq!(summary_total(&summary, "messages"), a_rows.len() as u64, "every archived message sent: {summary}");

    let g = replayed(&f, &replay);
    let b = archived(&g).await;
    let b_rows = rows(&b).await;
    assert_eq!(b_rows.len(), a_rows.len(), "the second archive holds as many rows as the first");
    let mut by_content: BTreeMap<(String, Wire), Vec<&Row>> = BTreeMap::new();
    for row in &b_rows {
        by_content.entry((row.topic.clone(), row.wire())).or_default().push(row);
    }
    // How many messages of the first archive claim each client `_id`.
    let mut claimants: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    for row in &a_rows {
        if let Some(id) = client_id(&row.wire()) {
            *claimants.entry(id).or_default() += 1;
        }
    }
    let mut derived = 0;
    for a_row in &a_rows {
        let target = format!("{replay}{}", a_row.topic);
        let matches = by_content.get(&(target.clone(), a_row.wire())).map_or(&[][..], Vec::as_slice);
        assert_eq!(matches.len(), 1, "rows of the second archive for {} ({:?})", a_row.uuid, a_row.wire());
        let b_row = matches[0];
        assert_eq!(b_row.partition, a_row.partition, "{}: partition kept", a_row.uuid);
        assert_eq!(b_row.timestamp_type, a_row.timestamp_type, "{}: timestamp type", a_row.uuid);
        let b_topic = b_row.object.get_document("metadata").expect("metadata").get_str("topic").expect("topic");
        assert_eq!(b_topic, target, "{}: the object names the target topic", a_row.uuid);
        let (mut a_object, mut b_object) = (a_row.object.clone(), b_row.object.clone());
        for object in [&mut a_object, &mut b_object] {
            object.get_document_mut("metadata").expect("metadata").remove("topic");
        }
        if a_row.is_client_uuid && b_row.is_client_uuid {
            assert_eq!(b_row.uuid, a_row.uuid, "a client UUID is kept");
        } else {
            // A derived UUID hashes the topic. A client `_id` claimed by
            // messages in different partitions goes to whichever arrives
            // first, in each archive independently: only then may the
            // archives differ on whether the client's UUID was used.
            if a_row.is_client_uuid != b_row.is_client_uuid {
                let id = client_id(&a_row.wire());
                let disputed = id.and_then(|id| claimants.get(&id)).is_some_and(|n| *n > 1);
                assert!(disputed, "{}: client UUID used in one archive only, without a dispute", a_row.uuid);
            }
            derived += 1;
            for object in [&mut a_object, &mut b_object] {
                let annotations = object.get_document_mut("annotations").expect("annotations");
                annotations.remove("con_text_uuid");
                annotations.remove("con_is_client_uuid");
            }
        }
        assert_eq!(b_object, a_object, "{}: the objects differ beyond topic and derived UUID", a_row.uuid);
    }
    assert!(derived > 0 && derived < a_rows.len(), "the stream mixes client and derived UUIDs ({derived})");
    let report = mockhop::verify::verify(
        &g.expectation(),
        archiver::index::open(&b.index_url).await.expect("index").as_ref(),
        b.store.as_ref(),
    )
    .await
    .expect("verifies");
    assert_eq!(report.discrepancies, vec![], "the replay's archive differs from the stream's");
}

// ---------------------------------------------------------------------------
// 2. Into the original topics.

/// Rule: a restore into the original topics (`--allow-same-topic`) sends
/// exact copies, so archiving them again adds nothing: every copy is a
/// duplicate, whether the group goes on from its offsets (it reads just
/// the copies) or a new group reads the whole topics from the start.
#[tokio::test(flavor = "multi_thread")]
async fn restoring_into_the_original_topics_rearchives_nothing() {
    let f = Fixture::produced("restore-same", 62, 200).await;
    let a = archived(&f).await;
    let index = archiver::index::open(&a.index_url).await.expect("index");
    let before = total_rows(index.as_ref()).await;
    let summary = restored({
        let mut c = restore(&f.brokers, &a);
        c.arg("--allow-same-topic");
        c
    })
    .await;
    let restored_count = u64::try_from(before).expect("rows");
    assert_eq!(summary_total(&summary, "messages"), restored_count, "{summary}");

    let same_group = run_counts(&f, &a).await;
    assert_eq!(
        same_group,
        RunCounts { taken: restored_count, duplicates: restored_count, ..RunCounts::default() },
        "the group read only the copies, each a duplicate"
    );
    let expected = f.expectation();
    let new_group = run_counts(&in_new_group(&f, "again"), &a).await;
    let taken = f.consumed() + restored_count;
    assert_eq!(
        new_group,
        RunCounts {
            taken,
            archived: 0,
            duplicates: taken - expected.skipped_test,
            conflicts: 0,
            skipped_test: expected.skipped_test
        },
        "a new group read stream and copies: nothing new"
    );
    assert_eq!(total_rows(index.as_ref()).await, before, "no row was added");
}

// ---------------------------------------------------------------------------
// 3. Read back with kafka-python.

/// Rule: what a restore writes is, field by field, what was archived — as
/// a Kafka client independent of librdkafka reads it: each record in its
/// original partition (the created target topic has the partitions the
/// archive needs), in the source's offset order within the partition, with
/// its CreateTime (-1 where Kafka had none), key, headers and value.
#[tokio::test(flavor = "multi_thread")]
async fn restored_topics_read_back_with_kafka_python_match_the_archive() {
    let f = Fixture::produced("restore-python", 63, 250).await;
    let a = archived(&f).await;
    let replay = replay_prefix();
    restored({
        let mut c = restore(&f.brokers, &a);
        c.args(["--topic-prefix", &replay, "--create-topics"]);
        c
    })
    .await;
    let a_rows = rows(&a).await;
    let topics = targets(&a_rows, &replay);
    let records = read_back_with_kafka_python(&f.brokers, &topics, a_rows.len()).await;
    assert_eq!(records.len(), a_rows.len(), "one record per archived message");

    // The archive's lanes in offset order, under the target names.
    let mut lanes: BTreeMap<(String, i32), Vec<&Row>> = BTreeMap::new();
    for row in &a_rows {
        let partition =
            row.partition.unwrap_or_else(|| panic!("{}: archived from Kafka without a partition", row.uuid));
        lanes.entry((format!("{replay}{}", row.topic), partition)).or_default().push(row);
    }
    for lane in lanes.values_mut() {
        lane.sort_by_key(|r| r.offset.expect("offset"));
    }
    let mut read: BTreeMap<(String, i32), Vec<&Consumed>> = BTreeMap::new();
    for r in &records {
        read.entry((r.topic.clone(), r.partition)).or_default().push(r);
    }
    for lane in read.values_mut() {
        lane.sort_by_key(|r| r.offset);
    }
    assert_eq!(read.keys().collect::<Vec<_>>(), lanes.keys().collect::<Vec<_>>(), "the same partitions");
    for (at, archived) in &lanes {
        let got = &read[at];
        for (i, (row, record)) in archived.iter().zip(got).enumerate() {
            assert_eq!(record.offset, i as i64, "{at:?}: a fresh topic's offsets count from 0");
            assert_eq!(record.wire, row.wire(), "{at:?} #{i}: {} (source offset {:?})", row.uuid, row.offset);
            assert_eq!(record.timestamp_type, "CreateTime", "{at:?} #{i}: {}", row.uuid);
        }
        assert_eq!(got.len(), archived.len(), "{at:?}: records");
    }
    let mut full = 0;
    for topic in &topics {
        let needed = lanes.keys().filter(|(t, _)| t == topic).map(|(_, p)| p + 1).max().expect("a lane");
        let count = partition_count(&f.brokers, topic).await;
        assert_eq!(count, needed, "{topic}: created with the partitions the archive holds");
        full += usize::from(count == PARTITIONS);
    }
    assert!(full > 0, "some topic had messages in all {PARTITIONS} source partitions");
}

// ---------------------------------------------------------------------------
// 4. kill -9.

/// Messages of the kill test, and the in-flight window it restores with.
const KILL_MESSAGES: usize = 3000;
const KILL_WINDOW: u64 = 200;

/// A stream of small, distinct messages in two topics, with null and empty
/// keys, values and header values.
fn small_stream(prefix: &str) -> Vec<Delivery> {
    (0..KILL_MESSAGES)
        .map(|i| {
            let n = i as u64;
            let mut headers = vec![Header::new("n", Some(i.to_string().as_bytes()))];
            if i % 3 == 0 {
                headers.push(Header::new("n", None));
            }
            Delivery {
                seq: n,
                partition_hint: u32::try_from(i % 7).expect("small"),
                message: Message {
                    topic: format!("{prefix}small.{}", ["a", "b"][i % 2]),
                    timestamp: 1_700_000_000_000 + i64::try_from(i).expect("small") * 997,
                    key: match i % 5 {
                        0 => Key::Null,
                        1 => Key::Bytes(Vec::new()),
                        _ => Key::Bytes(format!("k{}", i % 13).into_bytes()),
                    },
                    headers,
                    payload: match i % 11 {
                        0 => None,
                        1 => Some(Vec::new()),
                        _ => Some(format!("{{\"message\": {i}}}").into_bytes()),
                    },
                },
                labels: Vec::new(),
            }
        })
        .collect()
}

/// When the kill test kills a restore.
#[derive(Debug)]
enum KillAt {
    /// This long after the start.
    Elapsed(Duration),
    /// Once the job file records this many messages acknowledged.
    Done(u64),
    /// Once the job file records more than when this run started.
    NextCheckpoint,
}

/// Messages a job file records as acknowledged (0 before the first save).
fn job_done(path: &std::path::Path) -> u64 {
    let Ok(text) = std::fs::read_to_string(path) else { return 0 };
    let state: serde_json::Value = serde_json::from_str(&text).expect("job file JSON");
    state["topics"].as_object().map_or(0, |t| t.values().map(|c| c["messages"].as_u64().expect("messages")).sum())
}

/// Rule: a job killed with SIGKILL at any moment and run again with the
/// same command delivers every selected message; the copies it sends
/// twice are at most the in-flight window per kill, and its summary's
/// `resent` counts at least as many as it did send twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_job_killed_again_and_again_delivers_everything_resending_at_most_its_window() {
    let f = Fixture::produced_from(&service("ARCHIVER_TEST_KAFKA"), "restore-kill", small_stream).await;
    let a = archived_on_disk(&f).await;
    let a_rows = rows(&a).await;
    assert_eq!(a_rows.len(), KILL_MESSAGES, "every message archived");
    let replay = replay_prefix();
    let state = tempfile::tempdir().expect("state dir");
    let command = || {
        let mut c = restore(&f.brokers, &a);
        c.args(["--topic-prefix", &replay, "--create-topics", "--job", "killed"])
            .args(["--in-flight-messages-max", &KILL_WINDOW.to_string()])
            .args(["--state-dir", &state.path().display().to_string()]);
        c
    };
    let job = state.path().join("killed.json");
    // Seeded kill points: a random moment of the start (topic creation, the
    // first page), then random acknowledged counts, each followed by a kill
    // of the resumed run at its first checkpoint — while it re-sends what
    // the killed run may have sent.
    let mut rng = ChaCha8Rng::seed_from_u64(64);
    let mut counts: Vec<u64> = (0..3).map(|_| 1 + rng.next_u64() % (KILL_MESSAGES as u64 - 1)).collect();
    counts.sort_unstable();
    let mut plan = vec![KillAt::Elapsed(Duration::from_millis(rng.next_u64() % 400))];
    plan.extend(counts.into_iter().flat_map(|n| [KillAt::Done(n), KillAt::NextCheckpoint]));
    let mut kills = 0u64;
    for (round, kill_at) in plan.iter().enumerate() {
        let mut child = command().stdout(std::process::Stdio::null()).spawn().expect("restore starts");
        let (started, done_at_start) = (Instant::now(), job_done(&job));
        let exited = loop {
            if let Some(status) = child.try_wait().expect("polls") {
                break Some(status);
            }
            let due = match kill_at {
                KillAt::Elapsed(after) => started.elapsed() >= *after,
                KillAt::Done(n) => job_done(&job) >= *n,
                KillAt::NextCheckpoint => job_done(&job) > done_at_start,
            };
            if due {
                break None;
            }
            assert!(started.elapsed() < PROCESS_TIMEOUT, "round {round}: no progress to {kill_at:?}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        match exited {
            None => {
                child.start_kill().expect("SIGKILL");
                child.wait().await.expect("reaped");
                kills += 1;
            }
            Some(status) => assert!(status.success(), "round {round}: restore failed: {status}"),
        }
    }
    let summary = restored(command()).await;
    assert_eq!(summary_total(&summary, "messages"), KILL_MESSAGES as u64, "{summary}");
    let resent = summary_total(&summary, "resent");

    let records = consume_all(&f.brokers, &targets(&a_rows, &replay)).await;
    let wanted = archived_multiset(&a_rows, &replay);
    let got = consumed_multiset(&records);
    for (message, count) in &wanted {
        assert!(got.get(message).is_some_and(|c| c >= count), "missing from the target: {message:?}");
    }
    for message in got.keys() {
        assert!(wanted.contains_key(message), "not an archived message: {message:?}");
    }
    let duplicates = (records.len() - a_rows.len()) as u64;
    assert!(duplicates <= kills * KILL_WINDOW, "{duplicates} copies sent twice after {kills} kills");
    assert!(resent >= duplicates, "the summary counts {resent} re-sent, the target holds {duplicates} copies");
    assert!(kills >= 5, "the kills landed before the job finished ({kills})");
}

// ---------------------------------------------------------------------------
// 5. Bad input.

/// A small archive for the refusals.
async fn small_archive(name: &str) -> (Fixture, Archive) {
    let f = Fixture::produced(name, 65, 30).await;
    let a = archived(&f).await;
    (f, a)
}

/// Runs a restore that must fail, within `bound`; returns its stderr.
async fn refused(command: tokio::process::Command, bound: Duration) -> String {
    let started = Instant::now();
    let out = finish(command).await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "the restore succeeded:\n{stderr}");
    assert!(started.elapsed() < bound, "it took {:?} to fail:\n{stderr}", started.elapsed());
    stderr
}

/// Rule: an unreachable cluster is an error within one metadata timeout,
/// never a wait; the message says the target cannot be reached.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_broker_fails_fast_and_says_so() {
    let (_f, a) = small_archive("restore-unreachable").await;
    let nowhere = format!("127.0.0.1:{}", support::free_port());
    let mut command = restore(&nowhere, &a);
    command.args(["--topic-prefix", &replay_prefix(), "--create-topics"]);
    let stderr = refused(command, Duration::from_secs(20)).await;
    assert!(stderr.contains("cannot reach the target") && stderr.contains(&nowhere), "{stderr}");
}

/// Rule: a missing target topic is an error naming the topic and the flag
/// that would create it, and nothing creates it behind the operator's back.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_target_topic_is_refused_naming_it_and_the_flag() {
    let (f, a) = small_archive("restore-missing-topic").await;
    let replay = replay_prefix();
    let mut command = restore(&f.brokers, &a);
    command.args(["--topic-prefix", &replay]);
    let stderr = refused(command, PROCESS_TIMEOUT).await;
    let missing = f.topics().iter().map(|t| format!("{replay}{t}")).find(|t| stderr.contains(t.as_str()));
    let missing = missing.unwrap_or_else(|| panic!("no target topic named: {stderr}"));
    assert!(stderr.contains("--create-topics"), "{stderr}");
    assert_eq!(partition_count(&f.brokers, &missing).await, 0, "{missing} was not created");
}

/// Rule: writing into a topic that is also a source topic is refused
/// unless `--allow-same-topic`, before anything is sent.
#[tokio::test(flavor = "multi_thread")]
async fn writing_into_a_source_topic_is_refused_without_allow_same_topic() {
    let (f, a) = small_archive("restore-same-refused").await;
    let before = consume_all(&f.brokers, &f.topics()).await.len();
    let stderr = refused(restore(&f.brokers, &a), PROCESS_TIMEOUT).await;
    assert!(stderr.contains("--allow-same-topic"), "{stderr}");
    assert!(f.topics().iter().any(|t| stderr.contains(t.as_str())), "the topic is named: {stderr}");
    assert_eq!(consume_all(&f.brokers, &f.topics()).await.len(), before, "nothing was sent");
}

/// Rule: a wrong PostgreSQL password is an error that says so, at once,
/// without the password in it.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_postgres_password_is_a_clear_error() {
    // A cluster of the test's own that checks passwords over TCP (the
    // shared one trusts every local connection).
    let hba_dir = tempfile::tempdir().expect("tempdir");
    let hba = hba_dir.path().join("pg_hba.conf");
    std::fs::write(
        &hba,
        "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
    )
    .expect("hba file");
    // The server runs as postgres when the test runs as root.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(hba_dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(&hba, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let settings = format!("-c hba_file={}", hba.display());
    let postgres =
        tokio::task::spawn_blocking(move || support::PrivatePostgres::start(&settings)).await.expect("starts");
    support::admin_exec(&postgres.url(), "CREATE ROLE restorer LOGIN PASSWORD 'the-right-one'".into()).await;
    let port = postgres.url().rsplit_once(':').map(|(_, rest)| rest.split('/').next().unwrap_or("").to_owned());
    let index_url = format!("postgres://restorer:not-the-password@127.0.0.1:{}/postgres", port.expect("port"));
    let store = tempfile::tempdir().expect("store dir");
    let store_url = format!("file://{}", store.path().display());
    let mut command = restore_from(&service("ARCHIVER_TEST_KAFKA"), &index_url, &store_url);
    command.args(["--topic-prefix", &replay_prefix()]);
    let stderr = refused(command, Duration::from_secs(20)).await;
    assert!(stderr.contains("password authentication failed"), "{stderr}");
    assert!(!stderr.contains("not-the-password"), "the password is masked: {stderr}");
    drop(postgres);
}

// ---------------------------------------------------------------------------
// 6. From the store alone.

/// The database name at the end of a PostgreSQL URL.
fn database_name(url: &str) -> String {
    let path = url.split('?').next().expect("url");
    path.rsplit('/').next().expect("database").to_owned()
}

/// Rule: with the index gone, `--from-store` restores the same messages
/// (as a multiset per topic) as the index-driven restore.
#[tokio::test(flavor = "multi_thread")]
async fn from_store_restores_what_the_index_driven_restore_does_without_the_index() {
    let f = Fixture::produced("restore-from-store", 66, 200).await;
    let a = archived(&f).await;
    let a_rows = rows(&a).await;
    let by_index = replay_prefix();
    restored({
        let mut c = restore(&f.brokers, &a);
        c.args(["--topic-prefix", &by_index, "--create-topics"]);
        c
    })
    .await;
    let admin = service("ARCHIVER_TEST_PG_URL");
    support::admin_exec(&admin, format!("DROP DATABASE \"{}\" WITH (FORCE)", database_name(&a.index_url))).await;
    let by_store = replay_prefix();
    let summary = restored({
        let mut c = restore(&f.brokers, &a);
        c.args(["--topic-prefix", &by_store, "--create-topics", "--from-store"]);
        c
    })
    .await;
    assert_eq!(summary_total(&summary, "messages"), a_rows.len() as u64, "{summary}");
    let from_index = consume_all(&f.brokers, &targets(&a_rows, &by_index)).await;
    let from_store = consume_all(&f.brokers, &targets(&a_rows, &by_store)).await;
    let untopic = |records: &[Consumed], prefix: &str| -> BTreeMap<(String, Wire), usize> {
        let mut set = BTreeMap::new();
        for r in records {
            let source = r.topic.strip_prefix(prefix).expect("a target topic").to_owned();
            *set.entry((source, r.wire.clone())).or_default() += 1;
        }
        set
    };
    assert_eq!(from_index.len(), a_rows.len(), "the index-driven restore sent every row once");
    assert_eq!(untopic(&from_store, &by_store), untopic(&from_index, &by_index), "the same messages per topic");
}
