//! `archiver status` run as an operator runs it, on a SQLite archive: every
//! window's figures against a full count of the rows, the table, the
//! consumer group's lag (on librdkafka's mock cluster, whose ListOffsets
//! answers are current, unlike tansu's), and clear failures. The kill
//! storm on PostgreSQL is in `run`.

use crate::support;
use archiver::index::{self, IndexRow, TopicStats};
use serde_json::Value as Json;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Runs `archiver status args...`; returns (exit code, stdout, stderr).
pub fn status(args: &[&str]) -> (i32, String, String) {
    let Output { status, stdout, stderr } = Command::new(support::binary("archiver"))
        .arg("status")
        .args(args)
        .env_remove("ARCHIVER_CONFIG")
        .output()
        .expect("archiver runs");
    let code = status.code().expect("exited normally");
    (code, String::from_utf8_lossy(&stdout).into_owned(), String::from_utf8_lossy(&stderr).into_owned())
}

/// The `--json` document's figures of one window, as `TopicStats`
/// (topics with no row in the window left out, as the index leaves them).
pub fn window(doc: &Json, name: &str) -> Vec<TopicStats> {
    let topics = doc["topics"].as_array().expect("topics");
    topics
        .iter()
        .filter(|t| t[name]["messages"].as_i64() != Some(0))
        .map(|t| {
            let w = &t[name];
            let int = |key: &str| w[key].as_i64().unwrap_or_else(|| panic!("{name}.{key} in {w}"));
            TopicStats {
                topic: t["topic"].as_str().expect("topic").to_owned(),
                count: int("messages"),
                size_bytes: int("size_bytes"),
                earliest_ms: int("earliest_ms"),
                latest_ms: int("latest_ms"),
                conflicts: int("conflicts"),
                retracted: int("retracted"),
            }
        })
        .collect()
}

/// The totals of `stats`, as the `totals` of the JSON document has them.
pub fn totals(stats: &[TopicStats]) -> Json {
    let sum = |f: fn(&TopicStats) -> i64| stats.iter().map(f).sum::<i64>();
    serde_json::json!({
        "messages": sum(|s| s.count), "size_bytes": sum(|s| s.size_bytes),
        "earliest_ms": stats.iter().map(|s| s.earliest_ms).min(),
        "latest_ms": stats.iter().map(|s| s.latest_ms).max(),
        "conflicts": sum(|s| s.conflicts), "retracted": sum(|s| s.retracted),
    })
}

fn now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
    i64::try_from(now.as_millis()).expect("ms fit")
}

/// A row of `topic` at `timestamp`: the shared test row, with the facts the
/// statistics count (size, offset, a conflict every third row).
fn row(topic: &str, timestamp: i64, size: i32, n: u8) -> IndexRow {
    let uuid = Uuid::new_v4();
    IndexRow {
        timestamp,
        size,
        crc32: 1,
        is_client_uuid: true,
        public: false,
        message_crc32: 2,
        kafka_offset: Some(i64::from(n)),
        ingested_at: timestamp,
        fingerprint: [n; 32],
        claimed_uuid: n.is_multiple_of(3).then(Uuid::new_v4),
        bucket: "b".into(),
        ..hop_archiver_tests::rows::row(uuid, topic, &format!("{topic}/{uuid}.bson"), 0)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_reports_every_window_and_the_totals_as_a_full_count_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("index.db").display());
    let index = index::open(&url).await.expect("index");
    let now = now_ms();
    const HOUR: i64 = 3_600_000;
    // Ages from three days to a minute, and one an hour in the future.
    let ages = [72 * HOUR, 30 * HOUR, 23 * HOUR, 2 * HOUR, HOUR / 2, 60_000, -HOUR];
    // Every age on one topic, all but the oldest on another, and a topic
    // with nothing in the last day.
    let layout = [("gcn.notice", &ages[..]), ("igwn.alert", &ages[1..]), ("a.quiet.topic", &ages[..1])];
    let mut rows = Vec::new();
    for (topic, ages) in layout {
        for age in ages {
            let n = rows.len() as u8;
            rows.push(row(topic, now - age, 100 + 7 * i32::from(n), n));
        }
    }
    rows[1].retracted = true;
    index.insert_batch(&rows).await.expect("insert");
    index.set_retracted(rows[3].uuid, true).await.expect("retract");
    index.set_retracted(rows[1].uuid, false).await.expect("unretract");
    let stored: Vec<IndexRow> = {
        let uuids: Vec<Uuid> = rows.iter().map(|r| r.uuid).collect();
        index.get_many(&uuids).await.expect("read back").into_iter().map(|e| e.row).collect()
    };
    drop(index);

    let (code, out, err) = status(&["--json", "--index-url", &url]);
    assert_eq!(code, 0, "{err}");
    let doc: Json = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let status_now = doc["now_ms"].as_i64().expect("now_ms");
    assert!((now..now + 60_000).contains(&status_now), "now_ms {status_now}");
    for (name, since) in [("all", i64::MIN), ("24h", status_now - 24 * HOUR), ("1h", status_now - HOUR)] {
        if name != "all" {
            assert_eq!(doc["since_ms"][name], since, "since_ms.{name}");
        }
        let counted = TopicStats::tally(stored.iter().filter(|r| r.timestamp >= since));
        assert_eq!(window(&doc, name), counted, "window {name}");
        assert_eq!(doc["totals"][name], totals(&counted), "totals of {name}");
    }
    let topics: Vec<&str> =
        doc["topics"].as_array().expect("topics").iter().map(|t| t["topic"].as_str().expect("name")).collect();
    assert_eq!(topics, ["a.quiet.topic", "gcn.notice", "igwn.alert"], "every topic, bytewise");
    assert_eq!(doc["topics"][0]["1h"]["earliest_ms"], Json::Null, "no row in the window: no time");

    let (code, table, err) = status(&["--index-url", &url]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("TOPIC") && lines[0].contains("RETRACTED"), "{table}");
    assert_eq!(lines.len(), 1 + 3 * 4 + 1, "a header, three lines per topic and for the total, a footer:\n{table}");
    let gcn = lines.iter().position(|l| l.starts_with("gcn.notice")).expect("gcn.notice's lines");
    let all_time = TopicStats::tally(stored.iter().filter(|r| r.topic == "gcn.notice"));
    assert!(lines[gcn].split_whitespace().nth(2) == Some(&all_time[0].count.to_string()), "{}", lines[gcn]);
    assert!(lines[gcn + 1].trim_start().starts_with("24h") && lines[gcn + 2].trim_start().starts_with("1h"), "{table}");
    assert!(lines[lines.len() - 4].starts_with("TOTAL"), "{table}");
}

#[test]
fn status_fails_clearly_on_a_bad_or_unreachable_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = format!("sqlite://{}", dir.path().join("typo.db").display());
    let cases = [
        ("postgres://archiver:hunter2@127.0.0.1:1/archive", "Connection refused"),
        ("postgres://archiver:hunter2@127.0.0.1:notaport/archive", "invalid index URL"),
        ("mysql://archiver:hunter2@127.0.0.1/archive", "backends.index_url"),
        ("sqlite::memory:", "keeps nothing after the process exits"),
        (missing.as_str(), "does not exist"),
    ];
    for (url, cause) in cases {
        let started = Instant::now();
        let (code, out, err) = status(&["--index-url", url]);
        assert_eq!(code, 2, "{url}: {out}{err}");
        assert!(out.is_empty(), "{url}: nothing on stdout: {out}");
        assert!(err.contains(cause), "{url}: the error should say {cause:?}: {err}");
        assert!(!err.contains("hunter2"), "{url}: password leaked: {err}");
        assert!(started.elapsed() < Duration::from_secs(15), "{url}: took {:?}", started.elapsed());
    }
    assert!(!dir.path().join("typo.db").exists(), "status created the mistyped SQLite file");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_lag_fails_clearly_when_the_broker_is_unreachable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("index.db").display());
    index::open(&url).await.expect("index");
    let started = Instant::now();
    let (code, out, err) = status(&["--lag", "--kafka-brokers", "127.0.0.1:1", "--index-url", &url]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("cannot read the consumer group's lag from Kafka at 127.0.0.1:1"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30), "bounded: took {:?}", started.elapsed());
    let (code, _, err) = status(&["--lag", "--index-url", &url]);
    assert_eq!(code, 2, "--lag needs brokers: {err}");
    assert!(err.contains("kafka.brokers is not set"), "{err}");
}

/// `--lag`: per topic, the high watermarks less the group's committed
/// offsets; a partition never committed lags by all the broker holds.
/// Listed: the archived topics and those the group committed on.
#[tokio::test(flavor = "multi_thread")]
async fn status_lag_is_what_the_group_has_not_committed() {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};
    let cluster = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
    let brokers = cluster.bootstrap_servers();
    // (topic, messages per partition)
    let layout: [(&str, &[i64]); 4] = [("lag.a", &[5, 3, 4]), ("lag.b", &[6]), ("lag.c", &[2, 7]), ("lag.d", &[3])];
    let producer: FutureProducer = ClientConfig::new().set("bootstrap.servers", &brokers).create().expect("producer");
    for (topic, counts) in layout {
        cluster.create_topic(topic, counts.len() as i32, 1).expect("topic");
        for (partition, count) in counts.iter().enumerate() {
            for n in 0..*count {
                let payload = format!("{topic} {partition} {n}");
                let record = FutureRecord::<(), _>::to(topic).partition(partition as i32).payload(&payload);
                producer.send(record, Duration::from_secs(10)).await.expect("produced");
            }
        }
    }
    // The group committed on lag.a (two of its three partitions) and lag.b.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "archivers")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut commits = TopicPartitionList::new();
    for (topic, partition, offset) in [("lag.a", 0, 2), ("lag.a", 2, 4), ("lag.b", 0, 1)] {
        commits.add_partition_offset(topic, partition, Offset::Offset(offset)).expect("offset");
    }
    consumer.commit(&commits, CommitMode::Sync).expect("committed");
    // The archive holds lag.a and lag.c; lag.d is neither archived nor committed on.
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("index.db").display());
    let index = index::open(&url).await.expect("index");
    let now = now_ms();
    index.insert_batch(&[row("lag.a", now, 10, 1), row("lag.c", now, 20, 2)]).await.expect("insert");
    drop(index);

    let (code, out, err) =
        status(&["--json", "--lag", "--kafka-brokers", &brokers, "--kafka-group-id", "archivers", "--index-url", &url]);
    assert_eq!(code, 0, "{err}");
    let doc: Json = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let lags: Vec<(String, Json)> = doc["topics"]
        .as_array()
        .expect("topics")
        .iter()
        .map(|t| (t["topic"].as_str().expect("name").to_owned(), t["lag"].clone()))
        .collect();
    let lag = |messages: i64, partitions: usize, committed: usize| serde_json::json!({"messages": messages, "partitions": partitions, "committed_partitions": committed});
    let want = vec![
        // (5 - 2) + 3 (partition 1: never committed) + (4 - 4)
        ("lag.a".to_owned(), lag(6, 3, 2)),
        ("lag.b".to_owned(), lag(5, 1, 1)),
        ("lag.c".to_owned(), lag(9, 2, 0)),
    ];
    assert_eq!(lags, want, "{out}");
    assert_eq!(doc["totals"]["lag"]["messages"], 20);
    assert_eq!(doc["group_id"], "archivers");
    assert_eq!(doc["topics"][1]["all"]["messages"], 0, "lag.b is not archived: {out}");

    let (code, table, err) =
        status(&["--lag", "--kafka-brokers", &brokers, "--kafka-group-id", "archivers", "--index-url", &url]);
    assert_eq!(code, 0, "{err}");
    let header = table.lines().next().unwrap_or_default();
    assert!(header.ends_with("LAG"), "{table}");
    let total = table.lines().find(|l| l.starts_with("TOTAL")).unwrap_or_default();
    assert!(total.ends_with(" 20"), "the total lag ends the TOTAL line: {table}");
}
