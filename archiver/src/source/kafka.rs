//! The Kafka source: a librdkafka consumer in a consumer group.
//!
//! Offsets are never committed automatically: the pipeline commits each
//! partition only up to what is durable (`enable.auto.commit=false`). The
//! topic set is re-resolved on a timer that runs whether or not messages
//! arrive, and the subscription changes without a restart. Consumer lag per
//! partition comes from librdkafka's statistics.

use super::{Delivered, MessageSource, Position, SourceError};
use crate::index::TimestampType;
use crate::ops::metrics::Metrics;
use crate::record::{Header, Key, Message};
use async_trait::async_trait;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message as _};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientConfig, Offset, Timestamp, TopicPartitionList};
use std::sync::Arc;
use std::time::Duration;

/// Decides which of the broker's visible topics to consume.
#[async_trait]
pub trait TopicSelector: Send + Sync {
    async fn select(&self, visible: Vec<String>) -> Result<Vec<String>, String>;
}

/// Settings of the consumer beyond the connection itself.
#[derive(Debug, Clone)]
pub struct KafkaSourceOptions {
    pub group_id: String,
    pub session_timeout_ms: u64,
    pub refresh_interval_ms: u64,
    /// Finish once every assigned partition is drained.
    pub until_eos: bool,
}

/// Bounds librdkafka's prefetch queue, so memory follows the in-flight
/// limit rather than the backlog.
const PREFETCH_KBYTES_MAX: &str = "32768";
const METADATA_TIMEOUT_MS: u64 = 10_000;
const STATISTICS_INTERVAL_MS: &str = "10000";

/// Feeds librdkafka's statistics into the lag gauge.
pub struct LagContext {
    metrics: Arc<Metrics>,
}

impl ClientContext for LagContext {
    fn stats(&self, statistics: Statistics) {
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    self.metrics.set_lag(topic, *partition, p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for LagContext {}

pub struct KafkaSource {
    consumer: Arc<StreamConsumer<LagContext>>,
    selector: Arc<dyn TopicSelector>,
    options: KafkaSourceOptions,
    subscribed: Vec<String>,
    refresh: tokio::time::Interval,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource").field("subscribed", &self.subscribed).finish_non_exhaustive()
    }
}

impl KafkaSource {
    /// Connects, resolves the topic set and subscribes.
    pub async fn connect(
        mut config: ClientConfig,
        options: KafkaSourceOptions,
        selector: Arc<dyn TopicSelector>,
        metrics: Arc<Metrics>,
    ) -> Result<KafkaSource, SourceError> {
        config
            .set("group.id", &options.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", options.session_timeout_ms.to_string())
            .set("enable.partition.eof", if options.until_eos { "true" } else { "false" })
            .set("queued.max.messages.kbytes", PREFETCH_KBYTES_MAX)
            .set("statistics.interval.ms", STATISTICS_INTERVAL_MS);
        let consumer: StreamConsumer<LagContext> =
            config.create_with_context(LagContext { metrics }).map_err(|e| fatal("cannot create consumer", &e))?;
        let mut refresh = tokio::time::interval(Duration::from_millis(options.refresh_interval_ms.max(1000)));
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        refresh.tick().await;
        let mut source =
            KafkaSource { consumer: Arc::new(consumer), selector, options, subscribed: Vec::new(), refresh };
        source.resubscribe().await?;
        Ok(source)
    }

    /// The topics currently consumed.
    pub fn topics(&self) -> &[String] {
        &self.subscribed
    }

    async fn visible_topics(&self) -> Result<Vec<String>, SourceError> {
        let consumer = Arc::clone(&self.consumer);
        let metadata = tokio::task::spawn_blocking(move || {
            consumer.fetch_metadata(None, Duration::from_millis(METADATA_TIMEOUT_MS)).map(|m| {
                m.topics().iter().filter(|t| t.error().is_none()).map(|t| t.name().to_owned()).collect::<Vec<_>>()
            })
        })
        .await
        .map_err(|e| SourceError::Unavailable(format!("metadata task failed: {e}")))?;
        metadata.map_err(|e| SourceError::Unavailable(format!("cannot list topics: {e}")))
    }

    /// Re-resolves the topic set; changes the subscription if it changed.
    async fn resubscribe(&mut self) -> Result<(), SourceError> {
        let visible = self.visible_topics().await?;
        let mut wanted = self.selector.select(visible).await.map_err(SourceError::Unavailable)?;
        wanted.sort();
        wanted.dedup();
        if wanted == self.subscribed {
            return Ok(());
        }
        tracing::info!(topics = ?wanted, "subscribing");
        if wanted.is_empty() {
            self.consumer.unsubscribe();
        } else {
            let names: Vec<&str> = wanted.iter().map(String::as_str).collect();
            self.consumer.subscribe(&names).map_err(|e| fatal("cannot subscribe", &e))?;
        }
        self.subscribed = wanted;
        Ok(())
    }

    async fn receive(&mut self) -> Result<Received, SourceError> {
        tokio::select! {
            _ = self.refresh.tick() => {
                if let Err(e) = self.resubscribe().await {
                    tracing::warn!(error = %e, "topic refresh failed; keeping the current topics");
                }
                Ok(Received::Nothing)
            }
            received = self.consumer.recv() => match received {
                Ok(message) => Ok(Received::Message(delivered(&message))),
                Err(KafkaError::PartitionEOF(_)) => Ok(Received::EndOfPartition),
                Err(e) => Err(unavailable("receive failed", &e)),
            },
        }
    }

    /// Whether every assigned partition is consumed up to its high watermark.
    async fn all_drained(&self) -> Result<bool, SourceError> {
        if self.subscribed.is_empty() {
            return Ok(true);
        }
        let consumer = Arc::clone(&self.consumer);
        tokio::task::spawn_blocking(move || drained(&consumer))
            .await
            .map_err(|e| SourceError::Unavailable(format!("drain check failed: {e}")))?
            .map_err(|e| unavailable("cannot check for the end of the partitions", &e))
    }
}

enum Received {
    Message(Delivered),
    EndOfPartition,
    Nothing,
}

/// Blocking: compares each assigned partition's position (or committed
/// offset, before anything was consumed) with its high watermark.
fn drained(consumer: &StreamConsumer<LagContext>) -> Result<bool, KafkaError> {
    let timeout = Duration::from_millis(METADATA_TIMEOUT_MS);
    // Lists from the consumer must not outlive this function: one still
    // alive when the consumer drops makes the drop hang.
    let assignment = consumer.assignment()?;
    if assignment.count() == 0 {
        return Ok(false);
    }
    let positions = consumer.position()?;
    let committed = consumer.committed_offsets(assignment.clone(), timeout)?;
    for element in assignment.elements() {
        let (topic, partition) = (element.topic(), element.partition());
        let (low, high) = consumer.fetch_watermarks(topic, partition, timeout)?;
        let offset_of = |list: &TopicPartitionList| match list.find_partition(topic, partition).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => Some(o),
            _ => None,
        };
        let at = offset_of(&positions).or_else(|| offset_of(&committed)).unwrap_or(low);
        if at < high {
            return Ok(false);
        }
    }
    Ok(true)
}

#[async_trait]
impl MessageSource for KafkaSource {
    async fn next(&mut self) -> Result<Option<Delivered>, SourceError> {
        loop {
            match self.receive().await? {
                Received::Message(delivered) => return Ok(Some(delivered)),
                Received::EndOfPartition | Received::Nothing if self.options.until_eos => {
                    if self.all_drained().await? {
                        return Ok(None);
                    }
                }
                Received::EndOfPartition | Received::Nothing => {}
            }
        }
    }

    async fn commit(&mut self, positions: &[Position]) -> Result<(), SourceError> {
        let mut list = TopicPartitionList::new();
        for p in positions {
            list.add_partition_offset(&p.topic, p.partition, Offset::Offset(p.next_offset))
                .map_err(|e| unavailable("bad commit position", &e))?;
        }
        match self.consumer.commit(&list, CommitMode::Async) {
            Ok(()) => Ok(()),
            // Partitions revoked in a rebalance: their new owner re-reads them.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
            Err(e) => Err(unavailable("commit failed", &e)),
        }
    }
}

fn delivered(m: &BorrowedMessage<'_>) -> Delivered {
    let (timestamp, timestamp_type) = match m.timestamp() {
        Timestamp::CreateTime(t) => (t, TimestampType::Create),
        Timestamp::LogAppendTime(t) => (t, TimestampType::LogAppend),
        Timestamp::NotAvailable => (-1, TimestampType::NotAvailable),
    };
    let headers = m.headers().map_or_else(Vec::new, |hs| hs.iter().map(|h| Header::new(h.key, h.value)).collect());
    let message = Message {
        topic: m.topic().to_owned(),
        timestamp,
        key: m.key().map_or(Key::Null, |k| Key::Bytes(k.to_vec())),
        headers,
        payload: m.payload().map(<[u8]>::to_vec),
    };
    Delivered { message, partition: m.partition(), offset: m.offset(), timestamp_type }
}

fn fatal(what: &str, e: &KafkaError) -> SourceError {
    SourceError::Fatal(format!("{what}: {e}"))
}

fn unavailable(what: &str, e: &KafkaError) -> SourceError {
    SourceError::Unavailable(format!("{what}: {e}"))
}
