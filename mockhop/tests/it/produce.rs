//! `produce` into a real Kafka broker (tansu, started by scripts/services.sh),
//! read back with a plain librdkafka consumer and, independently of
//! librdkafka, with kafka-python; compared field by field.

use archiver::record::{Header, HeaderValue, Key};
use archiver::source::KafkaConnection;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use mockhop::{Delivery, StreamOptions, generate::generate, produce};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message as _};
use rdkafka::{Offset, Timestamp, TopicPartitionList};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 3;
const READ_BACK_TIMEOUT_S: u64 = 60;

fn brokers() -> String {
    mockhop::testing::service("ARCHIVER_TEST_KAFKA")
}

/// What a consumer sees of one record.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    timestamp: Timestamp,
    key: Option<Vec<u8>>,
    headers: Vec<Header>,
    payload: Option<Vec<u8>>,
}

/// What a consumer must see of `d`: the stream as produced (a timestamp of
/// 0 goes out as 1), with CreateTime timestamps — except -1, whose type
/// librdkafka does not report.
fn expected(d: &Delivery) -> Seen {
    let m = &d.message;
    Seen {
        timestamp: match produce::kafka_timestamp(m.timestamp) {
            -1 => Timestamp::NotAvailable,
            t => Timestamp::CreateTime(t),
        },
        key: match &m.key {
            Key::Bytes(b) => Some(b.clone()),
            Key::Text(t) => Some(t.as_bytes().to_vec()),
            Key::Null => None,
        },
        headers: m.headers.clone(),
        payload: m.payload.clone(),
    }
}

/// A stream produced under a prefix of its own: the deliveries, what must
/// be read back per (topic, partition) in order, and the topics.
struct Produced {
    deliveries: Vec<Delivery>,
    wanted: BTreeMap<(String, i32), Vec<Seen>>,
    topics: Vec<String>,
}

async fn produce_stream(name: &str) -> Produced {
    let prefix = format!("t{}-{name}-", std::process::id());
    let options = StreamOptions { seed: 11, count: 160, profile: "default".into(), topic_prefix: prefix };
    let deliveries = generate(&options).expect("generates");
    let connection = KafkaConnection::plaintext(brokers());
    produce::create_topics(&connection, &deliveries, PARTITIONS).await.expect("topics created");
    let mut sent = 0;
    let summary = produce::produce(&connection, &deliveries, PARTITIONS, |_| sent += 1).await.expect("produced");
    assert_eq!(sent, deliveries.len());
    assert_eq!(summary.values().map(|t| t.sent).sum::<u64>(), deliveries.len() as u64);
    let mut wanted: BTreeMap<(String, i32), Vec<Seen>> = BTreeMap::new();
    for d in &deliveries {
        let partition = d.partition(PARTITIONS.unsigned_abs());
        wanted.entry((d.message.topic.clone(), partition)).or_default().push(expected(d));
    }
    let has_null_header = wanted.values().flatten().any(|s| s.headers.iter().any(|h| h.value == HeaderValue::Null));
    assert!(has_null_header, "the stream exercises null header values");
    assert!(deliveries_with_timestamp(&wanted, Timestamp::CreateTime(1)) > 0, "timestamp 0 goes out as 1 ms");
    assert!(deliveries_with_timestamp(&wanted, Timestamp::NotAvailable) > 0, "missing (-1) timestamps");
    Produced { deliveries, wanted, topics: summary.keys().cloned().collect() }
}

/// Reads every record of `topics` (all partitions, from the start) without a
/// consumer group, so no group join delays the test.
fn read_back(connection: &KafkaConnection, topics: &[String], total: usize) -> BTreeMap<(String, i32), Vec<Seen>> {
    let consumer: BaseConsumer = connection
        .client_config()
        .set("group.id", "mockhop-test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for topic in topics {
        for p in 0..PARTITIONS {
            assignment.add_partition_offset(topic, p, Offset::Beginning).expect("partition");
        }
    }
    consumer.assign(&assignment).expect("assign");
    let mut seen: BTreeMap<(String, i32), Vec<Seen>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(READ_BACK_TIMEOUT_S);
    let mut count = 0;
    while count < total && Instant::now() < deadline {
        let Some(result) = consumer.poll(Duration::from_millis(500)) else { continue };
        let msg = result.expect("consume");
        let headers =
            msg.headers().map_or_else(Vec::new, |hs| hs.iter().map(|h| Header::new(h.key, h.value)).collect());
        let record = Seen {
            timestamp: msg.timestamp(),
            key: msg.key().map(<[u8]>::to_vec),
            headers,
            payload: msg.payload().map(<[u8]>::to_vec),
        };
        seen.entry((msg.topic().to_owned(), msg.partition())).or_default().push(record);
        count += 1;
    }
    seen
}

fn assert_same(got: &BTreeMap<(String, i32), Vec<Seen>>, wanted: &BTreeMap<(String, i32), Vec<Seen>>) {
    assert_eq!(got.keys().collect::<Vec<_>>(), wanted.keys().collect::<Vec<_>>(), "same topics and partitions");
    for (at, records) in wanted {
        let read = &got[at];
        assert_eq!(read.len(), records.len(), "{at:?}: record count");
        for (i, (w, r)) in records.iter().zip(read).enumerate() {
            // Field by field, so that a failure names the field without
            // printing a megabyte of payload.
            assert_eq!(r.timestamp, w.timestamp, "{at:?} record {i}: timestamp (and its type)");
            assert_eq!(r.key, w.key, "{at:?} record {i}: key");
            assert_eq!(r.headers, w.headers, "{at:?} record {i}: headers");
            let size = |p: &Option<Vec<u8>>| p.as_ref().map(Vec::len);
            assert!(
                r.payload == w.payload,
                "{at:?} record {i}: payload {:?} bytes, sent {:?}",
                size(&r.payload),
                size(&w.payload)
            );
            assert_eq!(r, w, "{at:?} record {i}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn produced_stream_reads_back_exactly() {
    let produced = produce_stream("rdkafka").await;
    let (topics, total) = (produced.topics.clone(), produced.deliveries.len());
    let got = tokio::task::spawn_blocking(move || read_back(&KafkaConnection::plaintext(brokers()), &topics, total))
        .await
        .expect("reader");
    assert_same(&got, &produced.wanted);
}

/// The venv `scripts/deps.sh test` installs hop-client and kafka-python into
/// (the one tests/tests/it/api/hop_client.rs uses).
fn venv_python() -> PathBuf {
    let python = mockhop::testing::venv_python();
    let probe = Command::new(&python).args(["-c", "import kafka"]).output().expect("run python");
    assert!(
        probe.status.success(),
        "kafka-python is missing from {}: run scripts/deps.sh test ({})",
        python.display(),
        String::from_utf8_lossy(&probe.stderr).trim()
    );
    python
}

/// One record as kafka-python read it (mockhop/tests/readback.py).
#[derive(Debug)]
struct PyRecord {
    at: (String, i32),
    offset: i64,
    seen: Seen,
}

fn py_record(line: &str) -> PyRecord {
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let bytes = |v: &serde_json::Value| -> Option<Vec<u8>> {
        v.as_str().map(|s| BASE64.decode(s).unwrap_or_else(|e| panic!("base64 {s:?}: {e}")))
    };
    let timestamp = v["timestamp"].as_i64().expect("timestamp");
    let timestamp = match (v["timestamp_type"].as_str().expect("timestamp type"), timestamp) {
        // kafka-python tells the type of -1 too; librdkafka reports it as
        // not available, and one expectation serves both readers.
        ("CreateTime", -1) => Timestamp::NotAvailable,
        ("CreateTime", t) => Timestamp::CreateTime(t),
        ("LogAppendTime", t) => Timestamp::LogAppendTime(t),
        (other, _) => panic!("timestamp type {other}"),
    };
    let headers = v["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .map(|h| Header::new(h[0].as_str().expect("header key"), bytes(&h[1]).as_deref()))
        .collect();
    PyRecord {
        at: (
            v["topic"].as_str().expect("topic").to_owned(),
            i32::try_from(v["partition"].as_i64().expect("p")).expect("p"),
        ),
        offset: v["offset"].as_i64().expect("offset"),
        seen: Seen { timestamp, key: bytes(&v["key"]), headers, payload: bytes(&v["value"]) },
    }
}

/// Read back with kafka-python, a client that shares no code with the
/// librdkafka producer, so a bug common to both sides cannot hide.
#[tokio::test(flavor = "multi_thread")]
async fn produced_stream_reads_back_exactly_with_kafka_python() {
    let python = venv_python();
    let produced = produce_stream("kafka-python").await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/readback.py");
    let total = produced.deliveries.len().to_string();
    let mut args = vec![script.to_owned(), brokers(), total, READ_BACK_TIMEOUT_S.to_string()];
    args.extend(produced.topics.iter().cloned());
    let output = tokio::task::spawn_blocking(move || Command::new(python).args(&args).output().expect("run python"))
        .await
        .expect("reader");
    assert!(output.status.success(), "readback.py failed: {}", String::from_utf8_lossy(&output.stderr));
    let mut records: Vec<PyRecord> =
        String::from_utf8(output.stdout).expect("UTF-8 JSON lines").lines().map(py_record).collect();
    records.sort_by(|a, b| (&a.at, a.offset).cmp(&(&b.at, b.offset)));
    let mut got: BTreeMap<(String, i32), Vec<Seen>> = BTreeMap::new();
    for r in records {
        let list = got.entry(r.at.clone()).or_default();
        // Fresh topics: offsets count up from 0 without gaps.
        assert_eq!(r.offset, list.len() as i64, "{:?}: offsets", r.at);
        list.push(r.seen);
    }
    assert_same(&got, &produced.wanted);
}

/// `mockhop produce` as a user runs it: the per-topic summary of messages
/// and payload bytes sent.
#[test]
fn produce_prints_a_per_topic_summary() {
    let prefix = format!("t{}-cli-", std::process::id());
    let (seed, count) = (5, 40);
    let deliveries = generate(&StreamOptions { seed, count, profile: "default".into(), topic_prefix: prefix.clone() })
        .expect("generates");
    let mut wanted: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for d in &deliveries {
        let entry = wanted.entry(d.message.topic.clone()).or_default();
        entry.0 += 1;
        entry.1 += d.message.payload.as_ref().map_or(0, |p| p.len() as u64);
    }
    let output = Command::new(env!("CARGO_BIN_EXE_mockhop"))
        .args(["produce", "--seed", &seed.to_string(), "--count", &count.to_string()])
        .args(["--brokers", &brokers(), "--topic-prefix", &prefix])
        .output()
        .expect("mockhop runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{text}{}", String::from_utf8_lossy(&output.stderr));
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.first(), Some(&vec!["topic", "sent", "payload", "bytes"]), "{text}");
    let mut listed: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for row in &rows[1..rows.len() - 1] {
        let [topic, sent, bytes] = row.as_slice() else { panic!("a row of three: {row:?}") };
        listed.insert((*topic).to_owned(), (sent.parse().expect("sent"), bytes.parse().expect("bytes")));
    }
    assert_eq!(listed, wanted, "{text}");
    let total = wanted.values().fold((0, 0), |(s, b), (ts, tb)| (s + ts, b + tb));
    assert_eq!(rows.last(), Some(&vec!["total", &total.0.to_string(), &total.1.to_string()]), "{text}");
}

fn deliveries_with_timestamp(records: &BTreeMap<(String, i32), Vec<Seen>>, timestamp: Timestamp) -> usize {
    records.values().flatten().filter(|s| s.timestamp == timestamp).count()
}

/// Regression: `produce` sent every delivery whose hint did not fit an
/// `i32` (half of them) to partition 0, instead of the hint modulo the count.
#[test]
fn regression_hints_above_i32_max_spread_over_partitions() {
    let stream =
        generate(&StreamOptions { seed: 3, count: 200, profile: "default".into(), topic_prefix: String::new() })
            .expect("generates");
    let big: Vec<&Delivery> = stream.iter().filter(|d| d.partition_hint > i32::MAX as u32).collect();
    assert!(big.len() > 20, "the stream has large hints: {}", big.len());
    for d in big {
        assert_eq!(i64::from(d.partition(3)), i64::from(d.partition_hint % 3), "delivery #{}", d.seq);
    }
    let partitions: std::collections::BTreeSet<i32> = stream.iter().map(|d| d.partition(3)).collect();
    assert_eq!(partitions.into_iter().collect::<Vec<_>>(), vec![0, 1, 2]);
}
