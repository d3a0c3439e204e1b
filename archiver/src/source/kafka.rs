//! The Kafka source: a librdkafka consumer in a consumer group, or
//! standalone (every partition of the selected topics assigned directly,
//! no group join; offsets still committed under the group id).
//!
//! Offsets are never committed automatically: the pipeline commits each
//! partition only up to what is durable (`enable.auto.commit=false`). The
//! topic set is re-resolved on a timer that runs whether or not messages
//! arrive, and the subscription changes without a restart. Consumer lag per
//! partition comes from librdkafka's statistics.

use super::{Delivered, LoginWatch, MessageSource, PartitionId, Position, SourceError};
use crate::index::TimestampType;
use crate::record::{Header, Key, Message};
use crate::telemetry::metrics::Metrics;
use async_trait::async_trait;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message as _};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientConfig, Offset, Timestamp, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
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
    /// Assign every partition of the selected topics instead of joining the
    /// group: no join to wait for (tansu holds one for half the session
    /// timeout, Kafka for `group.initial.rebalance.delay.ms`), no rebalances.
    pub standalone: bool,
}

/// Bound librdkafka's prefetch queue (with a consumer group, one queue for
/// all partitions), so that memory follows the in-flight limit, not the
/// backlog. Measured with `make bench` (10k messages, 21 partitions): 32 MiB
/// gave 80 MiB peak RSS, 2 MiB starved the consumer (389 msg/s steady),
/// 8 MiB gave 1 731 msg/s steady at 60 MiB. Larger messages are still
/// fetched whole.
const PREFETCH_KBYTES_MAX: &str = "8192";
/// How long a partition waits before fetching again once the prefetch queue
/// was full. librdkafka's default, 1 s, idled the consumer whenever the
/// queue filled: with an object store that costs nothing the pipeline took
/// 2 250 msg/s, with 20 ms 15 000 msg/s (10k messages, measured).
const FETCH_QUEUE_BACKOFF_MS: &str = "20";
const PREFETCH_MESSAGES_MIN: &str = "1000";
/// How long the broker may hold a fetch that found no new data. librdkafka
/// keeps one fetch in flight per broker, so while a fetch for a few caught-up
/// partitions is held, the others wait even when the prefetch queue has room
/// again, and with `--until-eos` the fetch that reports the last partitions'
/// ends is held too. At librdkafka's default, 500 ms, a traced 10k-message
/// run (tansu, 21 partitions) starved the pipeline twice for 0.2–0.3 s and
/// ended 0.5 s after its last message. Idle, 100 ms costs ten empty fetches
/// a second per broker.
const FETCH_WAIT_MAX_MS: &str = "100";
const METADATA_TIMEOUT_MS: u64 = 10_000;
const STATISTICS_INTERVAL_MS: u64 = 10_000;
/// With `--until-eos`, statistics also tell when every partition is drained,
/// and each report is looked at as it comes, so this interval bounds how
/// long the end of the stream goes unnoticed.
const STATISTICS_INTERVAL_UNTIL_EOS_MS: u64 = 100;

/// Feeds librdkafka's statistics into the lag gauge, and keeps each
/// partition's consumed and high-water offsets for `--until-eos` (so that
/// telling "drained" needs no blocking broker query). Watches librdkafka's
/// errors for a refused login.
pub struct LagContext {
    metrics: Arc<Metrics>,
    partitions: Mutex<BTreeMap<PartitionId, Progress>>,
    /// Signalled after each statistics report, for the `--until-eos` check.
    reported: tokio::sync::Notify,
    login: LoginWatch,
}

impl LagContext {
    fn new(metrics: Arc<Metrics>, login: LoginWatch) -> LagContext {
        LagContext { metrics, partitions: Mutex::default(), reported: tokio::sync::Notify::new(), login }
    }
}

/// Where a partition stood at the last statistics report.
#[derive(Debug, Clone, Copy)]
struct Progress {
    /// Next offset the application will see (consumed, or committed before).
    at: i64,
    /// Where the current fetch session last reached the end of the
    /// partition (negative: not yet). Reset whenever fetching (re)starts, so
    /// it is never a leftover of an earlier assignment.
    eof: i64,
    /// The high watermark of the latest fetch response.
    high: i64,
    low: i64,
}

impl Progress {
    /// Drained: a fetch found the end, no later fetch saw more, and the
    /// application has been handed everything before it. The end comes from
    /// fetch responses only: tansu 0.6 answers ListOffsets with a stale high
    /// watermark (measured: 6 003 while the partition held 6 667 messages).
    fn drained(self) -> bool {
        self.eof >= 0 && self.eof >= self.high && self.at.max(self.low) >= self.eof
    }
}

impl ClientContext for LagContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.login.observe(&error, reason);
        match error {
            // The end of a partition is news only for --until-eos, which asks for it.
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF) => {
                tracing::debug!(target: "librdkafka", "{reason}");
            }
            other => tracing::error!(target: "librdkafka", error = %other, "{reason}"),
        }
    }

    fn stats(&self, statistics: Statistics) {
        let mut partitions = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        partitions.clear();
        for (topic, t) in &statistics.topics {
            for (partition, p) in t.partitions.iter().filter(|(id, _)| **id >= 0) {
                if p.consumer_lag >= 0 {
                    self.metrics.set_lag(topic, *partition, p.consumer_lag);
                }
                let at = p.app_offset.max(p.committed_offset);
                let progress = Progress { at, eof: p.eof_offset, high: p.hi_offset, low: p.lo_offset };
                partitions.insert((topic.clone(), *partition), progress);
            }
        }
        drop(partitions);
        self.reported.notify_one();
    }
}

impl ConsumerContext for LagContext {
    /// A revoked partition is another member's now: its lag must not linger
    /// in this process's gauge, nor its progress in the `--until-eos` check.
    /// Assignments are logged: the first one ends the group join, which the
    /// broker may hold for seconds (`make bench` reads it as such).
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let revoked = match rebalance {
            Rebalance::Assign(assigned) => {
                tracing::info!(partitions = assigned.count(), "partitions assigned");
                return;
            }
            Rebalance::Revoke(revoked) => revoked,
            Rebalance::Error(e) => {
                tracing::warn!(error = %e, "rebalance failed");
                return;
            }
        };
        tracing::info!(partitions = revoked.count(), "partitions revoked");
        self.forget(revoked);
    }

    /// Commits are asynchronous, so a refused one shows only here (after a
    /// rebalance, or a standalone commit to a group with members). The next
    /// commit carries the same positions or later ones; until one lands, a
    /// restart would deliver those messages again.
    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        match result {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => {
                self.metrics.retry("commit");
                tracing::warn!(error = %e, "offset commit failed; the next commit carries it");
            }
        }
    }
}

impl LagContext {
    /// Partitions no longer consumed here leave the lag gauge and the
    /// `--until-eos` check.
    fn forget(&self, gone: &TopicPartitionList) {
        let mut partitions = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        for element in gone.elements() {
            self.metrics.remove_lag(element.topic(), element.partition());
            partitions.remove(&(element.topic().to_owned(), element.partition()));
        }
    }
}

pub struct KafkaSource {
    consumer: Arc<StreamConsumer<LagContext>>,
    selector: Arc<dyn TopicSelector>,
    options: KafkaSourceOptions,
    subscribed: Vec<String>,
    /// Standalone only: the partitions this process assigned itself.
    assigned: BTreeSet<PartitionId>,
    refresh: tokio::time::Interval,
    /// The latest position committed per partition, for the final commit.
    committed: BTreeMap<PartitionId, i64>,
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
            .set("queued.min.messages", PREFETCH_MESSAGES_MIN)
            .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS)
            .set("fetch.wait.max.ms", FETCH_WAIT_MAX_MS)
            .set(
                "statistics.interval.ms",
                if options.until_eos { STATISTICS_INTERVAL_UNTIL_EOS_MS } else { STATISTICS_INTERVAL_MS }.to_string(),
            );
        let context = LagContext::new(metrics, LoginWatch::new(&config));
        let consumer: StreamConsumer<LagContext> =
            config.create_with_context(context).map_err(|e| fatal("cannot create consumer", &e))?;
        let mut refresh = tokio::time::interval(Duration::from_millis(options.refresh_interval_ms.max(1000)));
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        refresh.tick().await;
        let mut source = KafkaSource {
            consumer: Arc::new(consumer),
            selector,
            options,
            subscribed: Vec::new(),
            assigned: BTreeSet::new(),
            refresh,
            committed: BTreeMap::new(),
        };
        // A refused login shows only among the consumer's events, which
        // nothing serves before the first `recv`: serve them while the first
        // topic listing waits, so a wrong password or CA ends the start at
        // once, not after the metadata timeout.
        let consumer = Arc::clone(&source.consumer);
        tokio::select! {
            subscribed = source.resubscribe() => subscribed?,
            refused = refused_login(&consumer) => return Err(refused),
        }
        Ok(source)
    }

    /// The topics currently consumed.
    pub fn topics(&self) -> &[String] {
        &self.subscribed
    }

    /// The broker's topics and their partitions.
    async fn visible_topics(&self) -> Result<BTreeMap<String, Vec<i32>>, SourceError> {
        let consumer = Arc::clone(&self.consumer);
        let metadata = tokio::task::spawn_blocking(move || {
            consumer.fetch_metadata(None, Duration::from_millis(METADATA_TIMEOUT_MS)).map(|m| {
                m.topics()
                    .iter()
                    .filter(|t| t.error().is_none())
                    .map(|t| (t.name().to_owned(), t.partitions().iter().map(|p| p.id()).collect()))
                    .collect()
            })
        })
        .await
        .map_err(|e| SourceError::Unavailable(format!("metadata task failed: {e}")))?;
        metadata.map_err(|e| {
            SourceError::Unavailable(format!("cannot list topics: {}", self.consumer.context().login.unreachable(&e)))
        })
    }

    /// Re-resolves the topic set; changes the subscription if it changed
    /// (standalone: the assignment, which also follows new partitions).
    async fn resubscribe(&mut self) -> Result<(), SourceError> {
        let visible = self.visible_topics().await?;
        let mut wanted =
            self.selector.select(visible.keys().cloned().collect()).await.map_err(SourceError::Unavailable)?;
        wanted.sort();
        wanted.dedup();
        if wanted != self.subscribed {
            tracing::info!(topics = ?wanted, "subscribing");
            // Standalone, the assignment below takes the place of a subscription.
            if !self.options.standalone {
                self.subscribe(&wanted)?;
            }
            self.subscribed = wanted;
        }
        if self.options.standalone {
            self.reassign(&visible)?;
        }
        Ok(())
    }

    fn subscribe(&self, topics: &[String]) -> Result<(), SourceError> {
        if topics.is_empty() {
            self.consumer.unsubscribe();
            return Ok(());
        }
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        self.consumer.subscribe(&names).map_err(|e| fatal("cannot subscribe", &e))
    }

    /// Standalone: assigns each partition of a subscribed topic not yet
    /// assigned, from its committed offset (else the earliest), and
    /// unassigns the partitions of topics no longer subscribed. A partition
    /// missing from one metadata answer stays assigned.
    fn reassign(&mut self, visible: &BTreeMap<String, Vec<i32>>) -> Result<(), SourceError> {
        let (gone, new) = assignment_changes(&self.assigned, &self.subscribed, visible);
        if !gone.is_empty() {
            let list = partition_list(gone.iter().map(|(t, p)| (t.as_str(), *p, Offset::Invalid)))?;
            self.consumer.incremental_unassign(&list).map_err(|e| fatal("cannot unassign partitions", &e))?;
            self.consumer.context().forget(&list);
            tracing::info!(partitions = gone.len(), "partitions unassigned");
            for partition in &gone {
                self.assigned.remove(partition);
            }
        }
        if !new.is_empty() {
            let list = partition_list(new.iter().map(|(t, p)| (t.as_str(), *p, Offset::Invalid)))?;
            self.consumer.incremental_assign(&list).map_err(|e| fatal("cannot assign partitions", &e))?;
            tracing::info!(partitions = new.len(), "partitions assigned");
            self.assigned.extend(new);
        }
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
            () = self.consumer.context().reported.notified(), if self.options.until_eos => Ok(Received::Nothing),
            received = self.consumer.recv() => match received {
                Ok(message) => Ok(Received::Message(delivered(&message))),
                Err(KafkaError::PartitionEOF(_)) => Ok(Received::EndOfPartition),
                Err(e) => match self.consumer.context().login.refused() {
                    Some(refused) => Err(refused.into()),
                    None => Err(unavailable("receive failed", &e)),
                },
            },
        }
    }

    /// Whether every assigned partition is consumed up to its high watermark,
    /// as of librdkafka's last statistics report.
    fn all_drained(&self) -> Result<bool, SourceError> {
        if self.subscribed.is_empty() {
            return Ok(true);
        }
        // The list must not outlive this call: an assignment list still
        // alive when the consumer drops makes the drop hang.
        let assigned: Vec<PartitionId> = {
            let list = self.consumer.assignment().map_err(|e| unavailable("cannot read the assignment", &e))?;
            list.elements().iter().map(|e| (e.topic().to_owned(), e.partition())).collect()
        };
        let progress = self.consumer.context().partitions.lock().unwrap_or_else(|p| p.into_inner());
        Ok(!assigned.is_empty() && assigned.iter().all(|p| progress.get(p).is_some_and(|p| p.drained())))
    }
}

/// Serves the consumer's events until one is a refused login. Only for the
/// start, while nothing is subscribed or assigned: a message taken here
/// would never reach the pipeline, so one is an error, never dropped.
async fn refused_login(consumer: &StreamConsumer<LagContext>) -> SourceError {
    loop {
        match consumer.recv().await {
            Ok(message) => {
                let at = format!("{} [{}] at {}", message.topic(), message.partition(), message.offset());
                return SourceError::Fatal(format!("a message ({at}) arrived before the subscription"));
            }
            Err(_) => {
                if let Some(refused) = consumer.context().login.refused() {
                    return refused.into();
                }
            }
        }
    }
}

/// Standalone: the assigned partitions whose topic is no longer subscribed,
/// and the visible partitions of subscribed topics not yet assigned.
fn assignment_changes(
    assigned: &BTreeSet<PartitionId>,
    subscribed: &[String],
    visible: &BTreeMap<String, Vec<i32>>,
) -> (Vec<PartitionId>, Vec<PartitionId>) {
    let gone = assigned.iter().filter(|(topic, _)| !subscribed.contains(topic)).cloned().collect();
    let new = subscribed
        .iter()
        .flat_map(|topic| visible.get(topic).into_iter().flatten().map(|p| (topic.clone(), *p)))
        .filter(|partition| !assigned.contains(partition))
        .collect();
    (gone, new)
}

enum Received {
    Message(Delivered),
    EndOfPartition,
    Nothing,
}

#[async_trait]
impl MessageSource for KafkaSource {
    async fn next(&mut self) -> Result<Option<Delivered>, SourceError> {
        loop {
            match self.receive().await? {
                Received::Message(delivered) => return Ok(Some(delivered)),
                Received::EndOfPartition | Received::Nothing if self.options.until_eos => {
                    if self.all_drained()? {
                        return Ok(None);
                    }
                }
                Received::EndOfPartition | Received::Nothing => {}
            }
        }
    }

    async fn commit(&mut self, positions: &[Position]) -> Result<(), SourceError> {
        for p in positions {
            self.committed.insert((p.topic.clone(), p.partition), p.next_offset);
        }
        let list =
            partition_list(positions.iter().map(|p| (p.topic.as_str(), p.partition, Offset::Offset(p.next_offset))))?;
        match self.consumer.commit(&list, CommitMode::Async) {
            Ok(()) => Ok(()),
            // Partitions revoked in a rebalance: their new owner re-reads them.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
            Err(e) => Err(unavailable("commit failed", &e)),
        }
    }

    async fn close(&mut self) -> Result<(), SourceError> {
        if self.committed.is_empty() {
            return Ok(());
        }
        let list = partition_list(self.committed.iter().map(|((t, p), o)| (t.as_str(), *p, Offset::Offset(*o))))?;
        let consumer = Arc::clone(&self.consumer);
        let result = tokio::task::spawn_blocking(move || consumer.commit(&list, CommitMode::Sync))
            .await
            .map_err(|e| SourceError::Unavailable(format!("final commit task failed: {e}")))?;
        match result {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
            Err(e) => Err(unavailable("final commit failed", &e)),
        }
    }
}

/// A partition list with an offset each: positions to commit, or partitions
/// to assign (`Offset::Invalid`: from the committed offset).
fn partition_list<'a>(
    positions: impl Iterator<Item = (&'a str, i32, Offset)>,
) -> Result<TopicPartitionList, SourceError> {
    let mut list = TopicPartitionList::new();
    for (topic, partition, offset) in positions {
        list.add_partition_offset(topic, partition, offset).map_err(|e| unavailable("bad partition offset", &e))?;
    }
    Ok(list)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// librdkafka's "no offset yet".
    const INVALID: i64 = -1001;

    #[test]
    fn drained_needs_an_end_found_by_this_fetch_session_and_everything_before_it_delivered() {
        let done = Progress { at: 100, eof: 100, high: 100, low: 0 };
        assert!(done.drained());
        // A high watermark from before the assignment is no evidence.
        assert!(!Progress { eof: INVALID, ..done }.drained());
        // A later fetch saw more messages.
        assert!(!Progress { high: 120, ..done }.drained());
        // Messages up to the end are still queued for the application.
        assert!(!Progress { at: 99, ..done }.drained());
        // Nothing consumed or committed, partition empty (or all deleted).
        assert!(Progress { at: INVALID, eof: 7, high: 7, low: 7 }.drained());
        assert!(!Progress { at: INVALID, eof: 7, high: 7, low: 3 }.drained());
    }

    #[test]
    fn standalone_assignment_follows_the_subscription_and_new_partitions() {
        let owned = |list: &[(&str, i32)]| list.iter().map(|(t, p)| (t.to_string(), *p)).collect::<Vec<_>>();
        let assigned: BTreeSet<(String, i32)> = owned(&[("a", 0), ("a", 1), ("b", 0), ("c", 0)]).into_iter().collect();
        let subscribed = ["a".to_string(), "c".to_string(), "d".to_string()];
        // "a" grew a partition, "c" is missing from this answer, "d" is new, "b" is no longer wanted.
        let visible = BTreeMap::from([
            ("a".to_string(), vec![0, 1, 2]),
            ("b".to_string(), vec![0]),
            ("d".to_string(), vec![0, 1]),
        ]);
        let (gone, new) = assignment_changes(&assigned, &subscribed, &visible);
        assert_eq!(gone, owned(&[("b", 0)]), "only the unsubscribed topic's partitions go");
        assert_eq!(new, owned(&[("a", 2), ("d", 0), ("d", 1)]), "new partitions and topics come, nothing twice");
    }

    #[test]
    fn a_refused_commit_counts_as_a_retry_and_nothing_to_commit_does_not() {
        let metrics = Arc::new(Metrics::new());
        let context = LagContext::new(Arc::clone(&metrics), LoginWatch::new(&ClientConfig::new()));
        let list = TopicPartitionList::new();
        context.commit_callback(Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)), &list);
        context.commit_callback(Ok(()), &list);
        assert!(!metrics.render_prometheus().contains(r#"what="commit""#));
        context.commit_callback(Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::IllegalGeneration)), &list);
        let exported = metrics.render_prometheus();
        assert!(exported.contains(r#"archiver_retries_total{what="commit"} 1"#), "{exported}");
    }

    #[test]
    fn revoked_partitions_leave_the_lag_gauge() {
        let metrics = Arc::new(Metrics::new());
        metrics.set_lag("t", 0, 5);
        metrics.set_lag("t", 1, 7);
        let context = LagContext::new(Arc::clone(&metrics), LoginWatch::new(&ClientConfig::new()));
        // Creating a client does not connect; the rebalance callback needs one.
        let consumer: BaseConsumer<LagContext> = ClientConfig::new()
            .set("group.id", "lag-test")
            .set("bootstrap.servers", "127.0.0.1:9")
            .create_with_context(context)
            .expect("client");
        let mut revoked = TopicPartitionList::new();
        revoked.add_partition("t", 0);
        consumer.context().post_rebalance(&consumer, &Rebalance::Revoke(&revoked));
        let exported = metrics.render_prometheus();
        assert!(!exported.contains(r#"archiver_consumer_lag{topic="t",partition="0"}"#), "{exported}");
        assert!(exported.contains(r#"archiver_consumer_lag{topic="t",partition="1"} 7"#), "{exported}");
    }
}
