//! `produce` into a real Kafka broker (tansu, started by scripts/services.sh),
//! read back with a plain librdkafka consumer, compared field by field.

use archiver::record::{Header, HeaderValue, Key};
use archiver::source::KafkaConnection;
use mockhop::{Delivery, StreamOptions, generate::generate, produce};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message as _};
use rdkafka::{Offset, Timestamp, TopicPartitionList};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 3;
const READ_BACK_TIMEOUT_S: u64 = 60;

fn brokers() -> String {
    std::env::var("ARCHIVER_TEST_KAFKA").unwrap_or_else(|_| {
        panic!("ARCHIVER_TEST_KAFKA is not set: run `make test`, or `scripts/services.sh start && . .services/env`")
    })
}

/// What a consumer sees of one record.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    timestamp: i64,
    key: Option<Vec<u8>>,
    headers: Vec<Header>,
    payload: Option<Vec<u8>>,
}

fn expected(d: &Delivery) -> Seen {
    let m = &d.message;
    Seen {
        timestamp: produce::kafka_timestamp(m.timestamp),
        key: match &m.key {
            Key::Bytes(b) => Some(b.clone()),
            _ => None,
        },
        headers: m.headers.clone(),
        payload: m.payload.clone(),
    }
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
        let timestamp = match msg.timestamp() {
            Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) => t,
            Timestamp::NotAvailable => -1,
        };
        let record =
            Seen { timestamp, key: msg.key().map(<[u8]>::to_vec), headers, payload: msg.payload().map(<[u8]>::to_vec) };
        seen.entry((msg.topic().to_owned(), msg.partition())).or_default().push(record);
        count += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn produced_stream_reads_back_exactly() {
    let prefix = format!("t{}-", std::process::id());
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
    let topics: Vec<String> = summary.keys().cloned().collect();
    let total = deliveries.len();
    let got = tokio::task::spawn_blocking({
        let connection = connection.clone();
        move || read_back(&connection, &topics, total)
    })
    .await
    .expect("reader");
    assert_eq!(got.keys().collect::<Vec<_>>(), wanted.keys().collect::<Vec<_>>(), "same topics and partitions");
    for (at, records) in &wanted {
        let read = &got[at];
        assert_eq!(read.len(), records.len(), "{at:?}: record count");
        for (i, (w, r)) in records.iter().zip(read).enumerate() {
            assert_eq!(w, r, "{at:?} record {i} differs");
        }
    }
    let zero = deliveries_with_timestamp(&wanted, 1);
    assert!(zero > 0, "the stream's timestamp-0 edge went out as 1 ms");
    let missing = deliveries_with_timestamp(&wanted, -1);
    assert!(missing > 0, "missing (-1) timestamps round-trip");
    let has_null_header = wanted.values().flatten().any(|s| s.headers.iter().any(|h| h.value == HeaderValue::Null));
    assert!(has_null_header, "the stream exercised null header values");
}

fn deliveries_with_timestamp(records: &BTreeMap<(String, i32), Vec<Seen>>, timestamp: i64) -> usize {
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
