//! The Kafka sink: an idempotent librdkafka producer (order kept per
//! partition), no compression, every byte of key, headers and value as
//! archived.
//!
//! Two librdkafka rules shape what goes on the wire (see
//! [`produced_timestamp`]): a timestamp of 0 means "now" to librdkafka, so
//! the epoch goes out as 1 ms; and a record given no timestamp is stamped
//! with the current time, so a message Kafka had no timestamp for goes out
//! with Kafka's own "none" (-1).

use super::{Outgoing, Sink, SinkError, TargetTopic};
use crate::record::{HeaderValue, Key};
use crate::source::KafkaConnection;
use async_trait::async_trait;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::types::RDKafkaErrorCode;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One metadata request (and the wait for a created topic to show): an
/// unreachable cluster is reported after this long, never waited on.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// Topic creation, request and broker-side operation.
const CREATE_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages up to Hopskotch's ~1 MB limit, plus headers and framing
/// (mockhop's producer uses the same).
const MESSAGE_BYTES_MAX: usize = 2_000_000;
/// librdkafka's upper bound for both queue settings.
const QUEUE_SETTING_MAX: usize = 2_147_483_647;

/// The bounds the engine enforces, and how the sink behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSinkLimits {
    /// Messages the engine has sent but not seen acknowledged, at most.
    pub in_flight_messages_max: usize,
    /// Their [`Outgoing::size_bytes`], at most (one larger message alone
    /// may exceed it).
    pub in_flight_bytes_max: usize,
    /// librdkafka's `message.timeout.ms`: a message not acknowledged by
    /// then fails as [`SinkError::Unavailable`].
    pub delivery_timeout_ms: u64,
    /// Create missing target topics (replication factor 1) instead of
    /// failing with [`SinkError::MissingTopic`].
    pub create_topics: bool,
    /// Append a header of this name holding the archive UUID (36-character
    /// hyphenated text) to every message.
    pub stamp_header: Option<String>,
}

/// A target topic as `prepare` found it.
#[derive(Debug, Clone, Copy)]
struct Plan {
    needed: Option<i32>,
    available: i32,
}

pub struct KafkaSink {
    producer: FutureProducer,
    /// The connection's settings, for the admin client that creates topics.
    connection: ClientConfig,
    limits: KafkaSinkLimits,
    topics: HashMap<String, Plan>,
}

/// The timestamp produced for an archived `timestamp_ms`.
///
/// - `Some(0)` goes out as 1: librdkafka reads 0 as "now", so the epoch is
///   moved by one millisecond (still the first UTC day) instead of becoming
///   the time of the restore. The engine counts these.
/// - `None` goes out as -1, Kafka's "no timestamp" (consumers see none):
///   a record given no timestamp would be stamped with the current time.
/// - Anything else goes out as it is.
pub fn produced_timestamp(timestamp_ms: Option<i64>) -> i64 {
    match timestamp_ms {
        Some(0) => 1,
        Some(t) => t,
        None => -1,
    }
}

/// The partition a message is produced to, or `None` for librdkafka's
/// default partitioner (consistent_random: CRC32 of the key, random for a
/// null key, as hop-client's producer does).
///
/// A message keeps its `original` partition only when the target topic has
/// at least the `needed` partitions (so every archived partition exists
/// there) and the partition is one of them; otherwise, and when either is
/// unknown, the partitioner picks.
pub fn target_partition(original: Option<i32>, needed: Option<i32>, available: i32) -> Option<i32> {
    match (original, needed) {
        (Some(p), Some(n)) if available >= n && (0..available).contains(&p) => Some(p),
        _ => None,
    }
}

impl KafkaSink {
    /// A producer for `connection` (its security settings included). No
    /// broker is contacted until [`Sink::prepare`].
    pub fn new(connection: &KafkaConnection, limits: KafkaSinkLimits) -> Result<KafkaSink, SinkError> {
        let base = connection.client_config();
        let mut config = base.clone();
        config
            .set("enable.idempotence", "true")
            .set("compression.type", "none")
            .set("message.max.bytes", MESSAGE_BYTES_MAX.to_string())
            .set("message.timeout.ms", limits.delivery_timeout_ms.to_string())
            // A metadata request must not create the topic it asks about:
            // `prepare` decides that.
            .set("allow.auto.create.topics", "false")
            .set("queue.buffering.max.messages", queue_messages(&limits).to_string())
            .set("queue.buffering.max.kbytes", queue_kbytes(&limits).to_string());
        let producer: FutureProducer =
            config.create().map_err(|e| SinkError::Unavailable(format!("cannot create the Kafka producer: {e}")))?;
        Ok(KafkaSink { producer, connection: base, limits, topics: HashMap::new() })
    }

    async fn create(&self, missing: &[&TargetTopic]) -> Result<(), SinkError> {
        let admin: AdminClient<DefaultClientContext> = self
            .connection
            .create()
            .map_err(|e| SinkError::Unavailable(format!("cannot create the Kafka admin client: {e}")))?;
        let topics: Vec<NewTopic<'_>> = missing
            .iter()
            .map(|t| NewTopic::new(&t.name, t.partitions_needed.unwrap_or(1).max(1), TopicReplication::Fixed(1)))
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(CREATE_TIMEOUT)).request_timeout(Some(CREATE_TIMEOUT));
        let results = admin
            .create_topics(&topics, &options)
            .await
            .map_err(|e| SinkError::Unavailable(format!("cannot create topics: {e}")))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(SinkError::Unavailable(format!("cannot create topic {topic:?}: {code}")));
                }
            }
        }
        Ok(())
    }
}

/// The partition count of `topic`, or `None` when the cluster does not have
/// it (yet). Runs librdkafka's blocking metadata request on a blocking
/// thread, bounded by [`METADATA_TIMEOUT`].
async fn fetch_partitions(producer: &FutureProducer, topic: &str) -> Result<Option<i32>, SinkError> {
    let (producer, name) = (producer.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || partitions_of(&producer, &name))
        .await
        .map_err(|e| SinkError::Unavailable(format!("metadata of topic {topic:?}: {e}")))?
}

fn partitions_of(producer: &FutureProducer, topic: &str) -> Result<Option<i32>, SinkError> {
    let metadata = producer
        .client()
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .map_err(|e| SinkError::Unavailable(format!("metadata of topic {topic:?}: {e}")))?;
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Ok(None);
    };
    let count = i32::try_from(found.partitions().len()).unwrap_or(i32::MAX);
    match found.error().map(RDKafkaErrorCode::from) {
        None if count == 0 => Ok(None),
        None => Ok(Some(count)),
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => Ok(None),
        // Leader elections right after creation: the topic exists.
        Some(RDKafkaErrorCode::LeaderNotAvailable) if count > 0 => Ok(Some(count)),
        Some(code) => Err(SinkError::Unavailable(format!("metadata of topic {topic:?}: {code}"))),
    }
}

/// The librdkafka queue holds at least twice what the engine keeps in
/// flight: librdkafka releases a message's queue slot only after its
/// delivery report, so the engine may send the next message a moment
/// before the slot of the acknowledged one is free.
fn queue_messages(limits: &KafkaSinkLimits) -> usize {
    limits.in_flight_messages_max.saturating_mul(2).clamp(1, QUEUE_SETTING_MAX)
}

/// As [`queue_messages`], in KiB, plus one largest message (the engine lets
/// a message larger than the byte limit through alone).
fn queue_kbytes(limits: &KafkaSinkLimits) -> usize {
    let bytes = limits.in_flight_bytes_max.saturating_mul(2).saturating_add(MESSAGE_BYTES_MAX);
    bytes.div_ceil(1024).clamp(1, QUEUE_SETTING_MAX)
}

/// A failed enqueue or delivery: a broker that cannot be reached (or did
/// not answer in time) is `Unavailable`, anything else the target refused.
fn delivery_error(message: &Outgoing, error: &KafkaError) -> SinkError {
    let unreachable = matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageTimedOut
                | RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::Resolve
                | RDKafkaErrorCode::RequestTimedOut
                | RDKafkaErrorCode::NetworkException
                | RDKafkaErrorCode::OperationTimedOut
                | RDKafkaErrorCode::QueueFull
        )
    );
    let text = match error.rdkafka_error_code() {
        Some(RDKafkaErrorCode::QueueFull) => {
            format!("{error} (the producer's queue is full: more in flight than the limits allow)")
        }
        _ => error.to_string(),
    };
    if unreachable {
        SinkError::Unavailable(format!("message {} for topic {:?}: {text}", message.uuid, message.topic))
    } else {
        SinkError::Refused { uuid: message.uuid, topic: message.topic.clone(), reason: text }
    }
}

#[async_trait]
impl Sink for KafkaSink {
    async fn prepare(&mut self, topics: &[TargetTopic]) -> Result<(), SinkError> {
        let mut found = Vec::with_capacity(topics.len());
        let mut missing = Vec::new();
        for topic in topics {
            // The first failure ends `prepare`, so an unreachable cluster
            // is reported after one METADATA_TIMEOUT, whatever the topics.
            match fetch_partitions(&self.producer, &topic.name).await? {
                Some(partitions) => found.push((topic, partitions)),
                None if self.limits.create_topics => missing.push(topic),
                None => return Err(SinkError::MissingTopic(topic.name.clone())),
            }
        }
        if !missing.is_empty() {
            self.create(&missing).await?;
            for topic in missing {
                let deadline = Instant::now() + METADATA_TIMEOUT;
                let partitions = loop {
                    if let Some(p) = fetch_partitions(&self.producer, &topic.name).await? {
                        break p;
                    }
                    if Instant::now() >= deadline {
                        return Err(SinkError::Unavailable(format!(
                            "topic {:?} was created but does not show in the metadata",
                            topic.name
                        )));
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                };
                tracing::info!(topic = %topic.name, partitions, "created target topic");
                found.push((topic, partitions));
            }
        }
        for (topic, available) in found {
            if let Some(needed) = topic.partitions_needed.filter(|n| available < *n) {
                tracing::warn!(
                    topic = %topic.name,
                    available,
                    needed,
                    "target topic has fewer partitions than the archive: the default partitioner places messages"
                );
            }
            self.topics.insert(topic.name.clone(), Plan { needed: topic.partitions_needed, available });
        }
        Ok(())
    }

    fn send(&self, message: Outgoing) -> BoxFuture<'static, Result<(), SinkError>> {
        let Some(plan) = self.topics.get(&message.topic) else {
            let error = SinkError::Refused {
                uuid: message.uuid,
                topic: message.topic.clone(),
                reason: "the topic was not prepared".into(),
            };
            return futures::future::ready(Err(error)).boxed();
        };
        let stamp = self.limits.stamp_header.as_ref().map(|name| (name, message.uuid.hyphenated().to_string()));
        let capacity = message.headers.len() + usize::from(stamp.is_some());
        let mut headers = message.headers.iter().fold(OwnedHeaders::new_with_capacity(capacity), |hs, h| {
            let value = match &h.value {
                HeaderValue::Bytes(b) => Some(b.as_slice()),
                HeaderValue::Text(t) => Some(t.as_bytes()),
                HeaderValue::Null => None,
            };
            hs.insert(Header { key: &h.key, value })
        });
        if let Some((name, uuid)) = &stamp {
            headers = headers.insert(Header { key: name, value: Some(uuid.as_bytes()) });
        }
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&message.topic).timestamp(produced_timestamp(message.timestamp_ms)).headers(headers);
        if let Some(p) = target_partition(message.partition, plan.needed, plan.available) {
            record = record.partition(p);
        }
        if let Some(payload) = &message.payload {
            record = record.payload(payload.as_slice());
        }
        match &message.key {
            Key::Null => {}
            Key::Bytes(b) => record = record.key(b.as_slice()),
            Key::Text(t) => record = record.key(t.as_bytes()),
        }
        match self.producer.send_result(record) {
            Err((error, _)) => {
                let error = delivery_error(&message, &error);
                futures::future::ready(Err(error)).boxed()
            }
            Ok(delivery) => async move {
                match delivery.await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err((error, _))) => Err(delivery_error(&message, &error)),
                    Err(_) => Err(SinkError::Unavailable(format!(
                        "message {} for topic {:?}: the producer closed before the broker acknowledged it",
                        message.uuid, message.topic
                    ))),
                }
            }
            .boxed(),
        }
    }

    /// Nothing to do: a message Kafka acknowledged is already as durable
    /// as the cluster makes it (waiting here for the rest would drain the
    /// pipeline at every checkpoint).
    async fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_goes_out_as_one_ms_and_none_as_kafkas_none() {
        assert_eq!(produced_timestamp(Some(0)), 1);
        assert_eq!(produced_timestamp(None), -1);
        assert_eq!(produced_timestamp(Some(1)), 1);
        assert_eq!(produced_timestamp(Some(1_700_000_000_123)), 1_700_000_000_123);
    }

    #[test]
    fn original_partition_kept_only_when_the_target_has_enough() {
        // Enough partitions (equal or more): the original one.
        assert_eq!(target_partition(Some(2), Some(3), 3), Some(2));
        assert_eq!(target_partition(Some(0), Some(3), 8), Some(0));
        // Too few: the partitioner picks, even for partitions that exist.
        assert_eq!(target_partition(Some(0), Some(3), 2), None);
        // Unknown original partition, or unknown need: the partitioner.
        assert_eq!(target_partition(None, Some(3), 3), None);
        assert_eq!(target_partition(Some(1), None, 3), None);
        // A partition outside the target (a wrong `needed`): never sent there.
        assert_eq!(target_partition(Some(3), Some(3), 3), None);
        assert_eq!(target_partition(Some(-1), Some(3), 3), None);
    }

    #[test]
    fn queue_holds_twice_the_in_flight_limits_and_one_large_message() {
        let limits = KafkaSinkLimits {
            in_flight_messages_max: 1000,
            in_flight_bytes_max: 64 << 20,
            delivery_timeout_ms: 30_000,
            create_topics: false,
            stamp_header: None,
        };
        assert_eq!(queue_messages(&limits), 2000);
        assert_eq!(queue_kbytes(&limits), (128 << 10) + MESSAGE_BYTES_MAX.div_ceil(1024));
        let huge = KafkaSinkLimits { in_flight_messages_max: usize::MAX, in_flight_bytes_max: usize::MAX, ..limits };
        assert_eq!(queue_messages(&huge), QUEUE_SETTING_MAX);
        assert_eq!(queue_kbytes(&huge), QUEUE_SETTING_MAX);
    }
}
