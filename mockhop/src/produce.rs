//! Publishing a stream to a real Kafka broker, exactly as generated:
//! CreateTime timestamps, keys, headers (order, duplicates, nulls) and values.

use crate::Delivery;
use archiver::record::{HeaderValue, Key};
use archiver::source::{KafkaConnection, LoginContext, LoginRefused, LoginWatch};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::types::RDKafkaErrorCode;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How long one send may wait for the broker before it fails.
const DELIVERY_TIMEOUT_MS: u64 = 30_000;
/// Sends awaiting acknowledgement at once; bounds memory.
const IN_FLIGHT_MAX: usize = 256;
/// Messages up to Hopskotch's ~1 MB limit, plus headers and framing.
const MESSAGE_BYTES_MAX: &str = "2000000";
/// How long the first metadata request may wait for the cluster.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// The timestamp a Kafka producer actually sends for `timestamp_ms`.
///
/// librdkafka reads a timestamp of 0 as "now", so the stream's epoch edge
/// goes out as 1 ms instead: deterministic, and still the first UTC day.
/// Negative (missing) timestamps go out as they are.
pub fn kafka_timestamp(timestamp_ms: i64) -> i64 {
    if timestamp_ms == 0 { 1 } else { timestamp_ms }
}

/// The deliveries as `produce` sends them (see [`kafka_timestamp`]), for
/// computing what an archive fed through Kafka must hold.
pub fn as_produced(deliveries: &[Delivery]) -> Vec<Delivery> {
    deliveries
        .iter()
        .map(|d| {
            let mut d = d.clone();
            d.message.timestamp = kafka_timestamp(d.message.timestamp);
            d
        })
        .collect()
}

/// What was sent to one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicSummary {
    pub sent: u64,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("cannot create Kafka client: {0}")]
    Client(#[source] KafkaError),
    #[error("cannot create topic {topic}: {message}")]
    CreateTopic { topic: String, message: String },
    #[error("delivery #{seq} to {topic} failed: {source}")]
    Delivery {
        seq: u64,
        topic: String,
        #[source]
        source: KafkaError,
    },
    /// Wrong credentials or TLS settings: reported at once, not after the
    /// delivery timeout.
    #[error(transparent)]
    LoginRefused(#[from] LoginRefused),
    #[error("cannot reach Kafka: {0}")]
    Unreachable(String),
}

type WatchedProducer = FutureProducer<LoginContext>;

/// A producer for `connection`, and the watch on its login.
fn producer(connection: &KafkaConnection) -> Result<(WatchedProducer, Arc<LoginWatch>), ProduceError> {
    let mut config = connection.client_config();
    config
        .set("message.max.bytes", MESSAGE_BYTES_MAX)
        .set("enable.idempotence", "true")
        .set("compression.type", "none");
    let context = LoginContext::new(&config);
    let login = Arc::clone(&context.login);
    let producer = config.create_with_context(context).map_err(ProduceError::Client)?;
    Ok((producer, login))
}

/// One metadata request answered. The admin client's errors are never
/// served (its requests just time out), so the cluster is asked first by a
/// producer, whose refused login or lost connection ends the run now.
async fn reachable(connection: &KafkaConnection) -> Result<(), ProduceError> {
    let (producer, login) = producer(connection)?;
    let asking = producer.clone();
    let fetched = async {
        tokio::task::spawn_blocking(move || asking.client().fetch_metadata(None, METADATA_TIMEOUT).map(|_| ()))
            .await
            .map_err(|e| ProduceError::Unreachable(format!("metadata task failed: {e}")))?
            .map_err(|e| ProduceError::Unreachable(login.unreachable(&e)))
    };
    unless_refused(&login, fetched).await
}

/// `work`'s result, unless the broker refuses the login first.
async fn unless_refused<T>(
    login: &LoginWatch,
    work: impl Future<Output = Result<T, ProduceError>>,
) -> Result<T, ProduceError> {
    tokio::select! {
        done = work => done,
        refused = login.wait() => Err(refused.into()),
    }
}

/// Creates the stream's topics (with `partitions` each) where missing.
pub async fn create_topics(
    connection: &KafkaConnection,
    deliveries: &[Delivery],
    partitions: i32,
) -> Result<(), ProduceError> {
    reachable(connection).await?;
    let admin: AdminClient<DefaultClientContext> = connection.client_config().create().map_err(ProduceError::Client)?;
    let names: BTreeSet<&str> = deliveries.iter().map(|d| d.message.topic.as_str()).collect();
    let topics: Vec<NewTopic> =
        names.iter().map(|name| NewTopic::new(name, partitions, TopicReplication::Fixed(1))).collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin.create_topics(&topics, &options).await.map_err(ProduceError::Client)?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(ProduceError::CreateTopic { topic, message: code.to_string() }),
        }
    }
    Ok(())
}

/// Publishes `deliveries` in order and returns per-topic totals.
/// `on_sent` is called after each acknowledged delivery (for progress).
pub async fn produce(
    connection: &KafkaConnection,
    deliveries: &[Delivery],
    partitions: i32,
    mut on_sent: impl FnMut(&Delivery),
) -> Result<BTreeMap<String, TopicSummary>, ProduceError> {
    let (producer, login) = producer(connection)?;
    let mut summary: BTreeMap<String, TopicSummary> = BTreeMap::new();
    for window in deliveries.chunks(IN_FLIGHT_MAX) {
        let sends = window.iter().map(|d| send(&producer, d, partitions));
        let results = unless_refused(&login, async { Ok(futures::future::join_all(sends).await) }).await?;
        for (delivery, result) in window.iter().zip(results) {
            result?;
            let entry = summary.entry(delivery.message.topic.clone()).or_default();
            entry.sent += 1;
            entry.bytes += delivery.message.payload.as_ref().map_or(0, |p| p.len() as u64);
            on_sent(delivery);
        }
    }
    Ok(summary)
}

async fn send(producer: &WatchedProducer, delivery: &Delivery, partitions: i32) -> Result<(), ProduceError> {
    let message = &delivery.message;
    let headers = message.headers.iter().fold(OwnedHeaders::new(), |headers, h| {
        let value = match &h.value {
            HeaderValue::Bytes(b) => Some(b.as_slice()),
            HeaderValue::Text(t) => Some(t.as_bytes()),
            HeaderValue::Null => None,
        };
        headers.insert(Header { key: &h.key, value })
    });
    let partition = delivery.partition(u32::try_from(partitions).unwrap_or(1));
    let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&message.topic)
        .partition(partition)
        .timestamp(kafka_timestamp(message.timestamp))
        .headers(headers);
    if let Some(payload) = &message.payload {
        record = record.payload(payload);
    }
    if let Key::Bytes(key) = &message.key {
        record = record.key(key);
    }
    producer
        .send(record, Duration::from_millis(DELIVERY_TIMEOUT_MS))
        .await
        .map(|_| ())
        .map_err(|(source, _)| ProduceError::Delivery { seq: delivery.seq, topic: message.topic.clone(), source })
}
