//! `KafkaSink` against a real broker (tansu, `ARCHIVER_TEST_KAFKA`): every
//! byte of key, headers and value, the timestamps and the partitions as
//! sent, read back with a plain librdkafka consumer; topic checks and
//! creation; an unreachable broker.

use crate::support::{PrivateKafka, free_port, service};
use archiver::record::{Header, HeaderValue, Key};
use archiver::restore::sink::{KafkaSink, KafkaSinkLimits, Outgoing, Sink, SinkError, TargetTopic};
use archiver::source::KafkaConnection;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message as _};
use rdkafka::{Offset, Timestamp, TopicPartitionList};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

const STAMP: &str = "_restored_from";
const READ_BACK_TIMEOUT: Duration = Duration::from_secs(60);

fn brokers() -> String {
    service("ARCHIVER_TEST_KAFKA")
}

fn limits(create_topics: bool) -> KafkaSinkLimits {
    KafkaSinkLimits {
        in_flight_messages_max: 64,
        in_flight_bytes_max: 8 << 20,
        delivery_timeout_ms: 30_000,
        create_topics,
        stamp_header: Some(STAMP.into()),
    }
}

/// A topic name no other test (or earlier run) uses.
fn fresh_topic(name: &str) -> String {
    format!("restore-sink-{name}-{}", Uuid::new_v4().simple())
}

async fn create_topic(topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> =
        KafkaConnection::plaintext(brokers()).client_config().create().expect("admin client");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(&[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))], &options)
        .await
        .expect("create topics");
    for result in results {
        result.expect("topic created");
    }
}

/// What a consumer saw of one record.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    partition: i32,
    timestamp: Timestamp,
    key: Option<Vec<u8>>,
    headers: Vec<Header>,
    payload: Option<Vec<u8>>,
}

/// Every record of `topic` (partitions `0..partitions`, from the start),
/// in log order per partition, without a consumer group.
fn read_back(topic: &str, partitions: i32, total: usize) -> BTreeMap<i32, Vec<Seen>> {
    let consumer: BaseConsumer = KafkaConnection::plaintext(brokers())
        .client_config()
        .set("group.id", "restore-sink-test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment.add_partition_offset(topic, p, Offset::Beginning).expect("partition");
    }
    consumer.assign(&assignment).expect("assign");
    let mut seen: BTreeMap<i32, Vec<Seen>> = BTreeMap::new();
    let deadline = Instant::now() + READ_BACK_TIMEOUT;
    let mut count = 0;
    while count < total && Instant::now() < deadline {
        let Some(result) = consumer.poll(Duration::from_millis(500)) else { continue };
        let msg = result.expect("consume");
        let headers =
            msg.headers().map_or_else(Vec::new, |hs| hs.iter().map(|h| Header::new(h.key, h.value)).collect());
        seen.entry(msg.partition()).or_default().push(Seen {
            partition: msg.partition(),
            timestamp: msg.timestamp(),
            key: msg.key().map(<[u8]>::to_vec),
            headers,
            payload: msg.payload().map(<[u8]>::to_vec),
        });
        count += 1;
    }
    assert_eq!(count, total, "records read back from {topic} within {READ_BACK_TIMEOUT:?}");
    seen
}

fn outgoing(n: u128, topic: &str, partition: Option<i32>) -> Outgoing {
    Outgoing {
        uuid: Uuid::from_u128(0x5e4d_0000_0000_4000_8000_0000_0000_0000 | n),
        topic: topic.to_owned(),
        partition,
        offset: partition.map(|_| i64::try_from(n).expect("small")),
        timestamp_ms: Some(1_700_000_000_000 + i64::try_from(n).expect("small")),
        key: Key::Bytes(format!("key-{n}").into_bytes()),
        headers: Vec::new(),
        payload: Some(format!("value-{n}").into_bytes()),
    }
}

/// What the consumer must see of `m`: its headers plus the stamp, the
/// timestamp as produced (0 → 1, none → not available).
fn expected(m: &Outgoing, partition: i32) -> Seen {
    let mut headers = m.headers.clone();
    headers.push(Header::new(STAMP, Some(m.uuid.hyphenated().to_string().as_bytes())));
    // Text header values arrive as the bytes they are.
    for h in &mut headers {
        if let HeaderValue::Text(t) = &h.value {
            h.value = HeaderValue::Bytes(t.clone().into_bytes());
        }
    }
    Seen {
        partition,
        timestamp: match m.timestamp_ms {
            None => Timestamp::NotAvailable,
            Some(0) => Timestamp::CreateTime(1),
            Some(t) => Timestamp::CreateTime(t),
        },
        key: match &m.key {
            Key::Null => None,
            Key::Bytes(b) => Some(b.clone()),
            Key::Text(t) => Some(t.as_bytes().to_vec()),
        },
        headers,
        payload: m.payload.clone(),
    }
}

/// The UUID a record was stamped with.
fn stamp_of(seen: &Seen) -> Uuid {
    let stamp = seen.headers.last().and_then(|h| h.value.as_bytes()).expect("stamp header");
    Uuid::parse_str(std::str::from_utf8(stamp).expect("utf-8 stamp")).expect("a UUID")
}

/// Sends `messages` in order, all in flight at once, and waits for every
/// acknowledgement.
async fn send_all(sink: &KafkaSink, messages: &[Outgoing]) {
    let acks: Vec<_> = messages.iter().map(|m| sink.send(m.clone())).collect();
    for (m, ack) in messages.iter().zip(futures::future::join_all(acks).await) {
        ack.unwrap_or_else(|e| panic!("message {}: {e}", m.uuid));
    }
    sink.flush().await.expect("flush");
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_sink_writes_every_byte_timestamp_and_partition_as_archived() {
    let topic = fresh_topic("exact");
    create_topic(&topic, 3).await;
    let mut sink = KafkaSink::new(&KafkaConnection::plaintext(brokers()), limits(false)).expect("sink");
    sink.prepare(&[TargetTopic { name: topic.clone(), partitions_needed: Some(3) }]).await.expect("prepare");

    let base = |n, p| outgoing(n, &topic, Some(p));
    let messages = vec![
        Outgoing { payload: None, ..base(1, 0) },
        Outgoing { payload: Some(Vec::new()), ..base(2, 1) },
        Outgoing { key: Key::Null, ..base(3, 2) },
        Outgoing { key: Key::Bytes(Vec::new()), ..base(4, 0) },
        Outgoing { key: Key::Text("clé".into()), ..base(5, 1) },
        Outgoing { key: Key::Text(String::new()), ..base(6, 2) },
        Outgoing {
            headers: vec![
                Header::new("_id", Some(b"\x00\xff".as_slice())),
                Header::new("_id", Some(b"second".as_slice())),
                Header::new("null", None),
                Header::new("empty", Some(b"".as_slice())),
                Header { key: "text".into(), value: HeaderValue::Text("é".into()) },
            ],
            ..base(7, 0)
        },
        Outgoing { timestamp_ms: Some(0), ..base(8, 1) },
        Outgoing { timestamp_ms: None, ..base(9, 2) },
        Outgoing { timestamp_ms: Some(1), payload: Some(vec![0xab; 1_100_000]), ..base(10, 0) },
        // Several per partition, to check the log keeps the call order.
        base(11, 1),
        base(12, 2),
        base(13, 0),
        base(14, 1),
        base(15, 2),
    ];
    send_all(&sink, &messages).await;

    let topic_read = topic.clone();
    let got = tokio::task::spawn_blocking(move || read_back(&topic_read, 3, 15)).await.expect("reader");
    for p in 0..3 {
        let wanted: Vec<Seen> = messages.iter().filter(|m| m.partition == Some(p)).map(|m| expected(m, p)).collect();
        let read = got.get(&p).map_or(&[][..], Vec::as_slice);
        assert_eq!(read.len(), wanted.len(), "partition {p}: record count");
        for (w, r) in wanted.iter().zip(read) {
            let uuid = stamp_of(r);
            // Field by field, so a failure names the field without
            // printing a megabyte of payload.
            assert_eq!(uuid, stamp_of(w), "partition {p}: log order is send order");
            assert_eq!(r.timestamp, w.timestamp, "{uuid}: timestamp (and its type)");
            assert_eq!(r.key, w.key, "{uuid}: key");
            assert_eq!(r.headers, w.headers, "{uuid}: headers");
            assert!(r.payload == w.payload, "{uuid}: payload {:?}", r.payload.as_ref().map(Vec::len));
            assert_eq!(r, w, "{uuid}");
        }
    }
}

/// Where librdkafka's default partitioner (consistent_random) puts a key.
fn partition_of_key(key: &[u8], partitions: u32) -> i32 {
    i32::try_from(crc32fast::hash(key) % partitions).expect("small")
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_sink_partitions_by_key_when_the_target_has_too_few_partitions() {
    let topic = fresh_topic("few");
    create_topic(&topic, 3).await;
    let mut sink = KafkaSink::new(&KafkaConnection::plaintext(brokers()), limits(false)).expect("sink");
    // The archive had 8 partitions; the target has 3.
    sink.prepare(&[TargetTopic { name: topic.clone(), partitions_needed: Some(8) }]).await.expect("prepare");
    let messages: Vec<Outgoing> = (0..12).map(|n| outgoing(n, &topic, Some(7))).collect();
    send_all(&sink, &messages).await;

    let topic_read = topic.clone();
    let got = tokio::task::spawn_blocking(move || read_back(&topic_read, 3, 12)).await.expect("reader");
    let mut placed = 0;
    for m in &messages {
        let Key::Bytes(key) = &m.key else { unreachable!() };
        let p = partition_of_key(key, 3);
        let read = got.get(&p).expect("records in the key's partition");
        assert!(read.iter().any(|s| stamp_of(s) == m.uuid), "{}: in partition {p} (CRC32 of its key)", m.uuid);
        placed += 1;
    }
    assert_eq!(placed, 12);
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_sink_missing_topic_is_refused_unless_created() {
    let topic = fresh_topic("missing");
    let target = [TargetTopic { name: topic.clone(), partitions_needed: Some(4) }];
    let connection = KafkaConnection::plaintext(brokers());

    let mut strict = KafkaSink::new(&connection, limits(false)).expect("sink");
    match strict.prepare(&target).await {
        Err(SinkError::MissingTopic(name)) => assert_eq!(name, topic),
        other => panic!("expected MissingTopic, got {other:?}"),
    }
    // Asking did not create it (no auto-creation through metadata).
    let mut again = KafkaSink::new(&connection, limits(false)).expect("sink");
    assert!(matches!(again.prepare(&target).await, Err(SinkError::MissingTopic(_))));

    let mut creating = KafkaSink::new(&connection, limits(true)).expect("sink");
    creating.prepare(&target).await.expect("prepare creates the topic");
    // Created with the partitions needed: the original partitions are kept.
    let messages: Vec<Outgoing> = (0..4_i32).map(|p| outgoing(p.unsigned_abs().into(), &topic, Some(p))).collect();
    send_all(&creating, &messages).await;
    let topic_read = topic.clone();
    let got = tokio::task::spawn_blocking(move || read_back(&topic_read, 4, 4)).await.expect("reader");
    for m in &messages {
        let p = m.partition.expect("set");
        assert_eq!(got.get(&p).map(|r| r.iter().map(stamp_of).collect::<Vec<_>>()), Some(vec![m.uuid]), "{p}");
    }
    // A second prepare finds it, as any existing topic.
    let mut found = KafkaSink::new(&connection, limits(false)).expect("sink");
    found.prepare(&target).await.expect("the created topic exists");
    // A topic without a known partition count is created with one.
    let single = fresh_topic("single");
    creating
        .prepare(&[TargetTopic { name: single.clone(), partitions_needed: None }])
        .await
        .expect("created with one partition");
    let admin: AdminClient<DefaultClientContext> = connection.client_config().create().expect("admin");
    let metadata = tokio::task::spawn_blocking(move || {
        admin.inner().fetch_metadata(Some(&single), Duration::from_secs(10)).expect("metadata")
    })
    .await
    .expect("metadata task");
    assert_eq!(metadata.topics()[0].partitions().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_sink_unreachable_broker_is_unavailable_within_20s() {
    let nowhere = format!("127.0.0.1:{}", free_port());
    let mut sink = KafkaSink::new(&KafkaConnection::plaintext(nowhere), limits(true)).expect("sink");
    let started = Instant::now();
    let topics = [
        TargetTopic { name: "a".into(), partitions_needed: Some(3) },
        TargetTopic { name: "b".into(), partitions_needed: None },
    ];
    let result = tokio::time::timeout(Duration::from_secs(30), sink.prepare(&topics)).await.expect("prepare returns");
    let elapsed = started.elapsed();
    assert!(matches!(result, Err(SinkError::Unavailable(_))), "{result:?}");
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_sink_broker_gone_after_prepare_is_unavailable_after_the_delivery_timeout() {
    let mut kafka = PrivateKafka::start().await;
    let topic = fresh_topic("gone");
    // One message in flight: librdkafka's queue holds two.
    let limits = KafkaSinkLimits { in_flight_messages_max: 1, delivery_timeout_ms: 3_000, ..limits(true) };
    let mut sink = KafkaSink::new(&KafkaConnection::plaintext(kafka.brokers.clone()), limits).expect("sink");
    sink.prepare(&[TargetTopic { name: topic.clone(), partitions_needed: Some(1) }]).await.expect("prepare");
    kafka.kill();
    let started = Instant::now();
    let queued: Vec<_> = (1..=2).map(|n| sink.send(outgoing(n, &topic, Some(0)))).collect();
    // Beyond the queue (the engine's bound broken): a clear error at once.
    match sink.send(outgoing(3, &topic, Some(0))).await {
        Err(SinkError::Unavailable(text)) => assert!(text.contains("queue is full"), "{text}"),
        other => panic!("expected a full queue, got {other:?}"),
    }
    let results =
        tokio::time::timeout(Duration::from_secs(30), futures::future::join_all(queued)).await.expect("resolve");
    for result in results {
        assert!(matches!(&result, Err(SinkError::Unavailable(text)) if text.contains("timed out")), "{result:?}");
    }
    // librdkafka notices some seconds after `message.timeout.ms` (about
    // 9 s here for 3 s: its timeout scans and reconnect backoff).
    assert!(started.elapsed() < Duration::from_secs(25), "took {:?}", started.elapsed());
    // Nothing is outstanding any more: flush returns at once.
    sink.flush().await.expect("flush");
    // A topic that was never prepared is refused without reaching Kafka.
    let stray = sink.send(outgoing(4, "never-prepared", None)).await;
    assert!(matches!(stray, Err(SinkError::Refused { reason, .. }) if reason.contains("not prepared")));
}
