//! `archiver status`: what the archive holds, per topic — messages, bytes,
//! earliest and latest timestamp, conflicts, retracted — for all time, the
//! last 24 hours and the last hour (upstream's `ingestutils status`
//! windows), with totals; and, when asked, the consumer group's lag.
//!
//! All time comes from the index's statistics (`Index::topic_stats`, a
//! few delta rows per topic whatever the archive's size), each window
//! from one range scan on the timestamp index (`Index::topic_stats_since`).
//! A window holds the rows whose Kafka timestamp is at least `now -
//! window` (future timestamps included, as upstream counted them). The lag
//! compares the group's committed offsets with the high watermarks, per
//! partition, summed per topic; a partition the group never committed lags
//! by everything the broker still holds.

use crate::config::{KafkaSettings, ToolConfig};
use crate::index::{self, Index, IndexError, TopicStats};
use crate::telemetry::redact::mask_password;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// What `archiver status` shows besides the statistics (its settings come
/// from [`crate::config::ToolArgs`]).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StatusArgs {
    /// Print one JSON document (exact integers, times in ms) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also show the consumer group's lag per topic: its committed offsets
    /// against the high watermarks (the [kafka] settings; group
    /// --kafka-group-id).
    #[arg(long)]
    pub lag: bool,
}

/// The windows shown, by name and length (`None`: all time).
pub const WINDOWS: [(&str, Option<i64>); 3] = [("all", None), ("24h", Some(86_400_000)), ("1h", Some(3_600_000))];

/// Longest wait for any one answer from Kafka.
const KAFKA_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("cannot read the index at {url}: {source}")]
    Index { url: String, source: IndexError },
    #[error("no index at {path}: the SQLite file does not exist (is --index-url right?)")]
    NoSqliteFile { path: String },
    #[error("cannot read the consumer group's lag from Kafka at {brokers}: {reason}")]
    Kafka { brokers: String, reason: String },
}

/// A topic's totals in one window; `None` times when it has no rows there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub messages: i64,
    pub size_bytes: i64,
    pub earliest_ms: Option<i64>,
    pub latest_ms: Option<i64>,
    pub conflicts: i64,
    pub retracted: i64,
}

impl Counts {
    fn of(stats: &TopicStats) -> Counts {
        Counts {
            messages: stats.count,
            size_bytes: stats.size_bytes,
            earliest_ms: Some(stats.earliest_ms),
            latest_ms: Some(stats.latest_ms),
            conflicts: stats.conflicts,
            retracted: stats.retracted,
        }
    }

    fn add(&mut self, other: &Counts) {
        self.messages += other.messages;
        self.size_bytes += other.size_bytes;
        self.earliest_ms = min_some(self.earliest_ms, other.earliest_ms);
        self.latest_ms = max_some(self.latest_ms, other.latest_ms);
        self.conflicts += other.conflicts;
        self.retracted += other.retracted;
    }

    fn to_json(&self) -> Json {
        json!({
            "messages": self.messages, "size_bytes": self.size_bytes,
            "earliest_ms": self.earliest_ms, "latest_ms": self.latest_ms,
            "conflicts": self.conflicts, "retracted": self.retracted,
        })
    }
}

fn min_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The group's lag on one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicLag {
    /// Messages between the committed offsets and the high watermarks.
    pub lag: i64,
    pub partitions: usize,
    /// Partitions the group has committed an offset for.
    pub committed: usize,
}

/// One topic's line of the report: counts per window (in [`WINDOWS`] order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicStatus {
    pub topic: String,
    pub windows: [Counts; 3],
    /// With `--lag`, for a topic the broker has.
    pub lag: Option<TopicLag>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub now_ms: i64,
    /// Sorted by name (bytewise).
    pub topics: Vec<TopicStatus>,
    pub totals: [Counts; 3],
    /// The group asked about with `--lag`, and its total lag.
    pub lag: Option<(String, i64)>,
}

/// Reads the report from the configured index (and Kafka, with `--lag`).
pub async fn status(config: &ToolConfig, args: &StatusArgs, now_ms: i64) -> Result<Report, StatusError> {
    let url = &config.backends.index_url;
    let failed = |source| StatusError::Index { url: mask_password(url), source };
    if let Some(path) = sqlite_file(url).filter(|path| !path.exists()) {
        return Err(StatusError::NoSqliteFile { path: path.display().to_string() });
    }
    let index = index::open(url).await.map_err(failed)?;
    let mut report = gather(index.as_ref(), now_ms).await.map_err(failed)?;
    if let Some(kafka) = config.kafka.as_ref().filter(|_| args.lag) {
        let topics: Vec<String> = report.topics.iter().map(|t| t.topic.clone()).collect();
        let settings = kafka.clone();
        let lags = tokio::task::spawn_blocking(move || group_lag(&settings, &topics))
            .await
            .map_err(|e| kafka_error(kafka, e))??;
        add_lag(&mut report, &kafka.group_id, lags);
    }
    Ok(report)
}

/// The file a `sqlite:` URL names (not for `:memory:`, which the
/// configuration refuses anyway). Opening creates a missing file, which a
/// status report should not: a mistyped path would report an empty archive.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:")).then(|| std::path::PathBuf::from(path))
}

/// The statistics of every window, per topic and in total.
pub async fn gather(index: &dyn Index, now_ms: i64) -> Result<Report, IndexError> {
    // One after the other, on the pool's one connection: at once, each
    // would wait for a connection of its own to be set up, which costs
    // about what the smaller windows do.
    let mut topics: BTreeMap<String, TopicStatus> = BTreeMap::new();
    for (slot, (_, length)) in WINDOWS.iter().enumerate() {
        let stats = match length {
            None => index.topic_stats().await?,
            Some(length) => index.topic_stats_since(now_ms.saturating_sub(*length)).await?,
        };
        for s in &stats {
            let entry = topics.entry(s.topic.clone()).or_insert_with(|| TopicStatus {
                topic: s.topic.clone(),
                windows: Default::default(),
                lag: None,
            });
            entry.windows[slot] = Counts::of(s);
        }
    }
    let mut report = Report { now_ms, topics: topics.into_values().collect(), totals: Default::default(), lag: None };
    for topic in &report.topics {
        for (total, counts) in report.totals.iter_mut().zip(&topic.windows) {
            total.add(counts);
        }
    }
    Ok(report)
}

/// Adds the lag per topic; a topic the group consumes that the archive
/// does not hold yet gets a line of its own.
fn add_lag(report: &mut Report, group_id: &str, lags: BTreeMap<String, TopicLag>) {
    let total = lags.values().map(|l| l.lag).sum();
    let mut lags = lags;
    for topic in &mut report.topics {
        topic.lag = lags.remove(&topic.topic);
    }
    for (topic, lag) in lags {
        report.topics.push(TopicStatus { topic, windows: Default::default(), lag: Some(lag) });
    }
    report.topics.sort_by(|a, b| a.topic.cmp(&b.topic));
    report.lag = Some((group_id.to_owned(), total));
}

fn kafka_error(kafka: &KafkaSettings, reason: impl std::fmt::Display) -> StatusError {
    StatusError::Kafka { brokers: kafka.connection.brokers.clone(), reason: reason.to_string() }
}

/// The lag of `settings.group_id` on every topic of `archived` the broker
/// has, and on every other (non-internal) topic the group has committed
/// offsets for. Blocking; each request waits at most [`KAFKA_TIMEOUT`].
fn group_lag(settings: &KafkaSettings, archived: &[String]) -> Result<BTreeMap<String, TopicLag>, StatusError> {
    let fail = |what: &str, e: rdkafka::error::KafkaError| kafka_error(settings, format!("{what}: {e}"));
    let mut config = settings.consumer_config();
    config.set("enable.auto.commit", "false");
    let consumer: BaseConsumer = config.create().map_err(|e| fail("cannot create a client", e))?;
    let metadata = consumer.fetch_metadata(None, KAFKA_TIMEOUT).map_err(|e| fail("no metadata", e))?;
    let mut all = TopicPartitionList::new();
    for topic in metadata.topics().iter().filter(|t| !t.name().starts_with("__") && t.error().is_none()) {
        for partition in topic.partitions() {
            all.add_partition(topic.name(), partition.id());
        }
    }
    if all.count() == 0 {
        return Ok(BTreeMap::new());
    }
    let committed = consumer.committed_offsets(all, KAFKA_TIMEOUT).map_err(|e| fail("no committed offsets", e))?;
    let mut wanted: BTreeMap<String, Vec<(i32, Option<i64>)>> = BTreeMap::new();
    for element in committed.elements() {
        let offset = match element.offset() {
            Offset::Offset(offset) => Some(offset),
            _ => None,
        };
        wanted.entry(element.topic().to_owned()).or_default().push((element.partition(), offset));
    }
    wanted.retain(|topic, partitions| {
        archived.iter().any(|a| a == topic) || partitions.iter().any(|(_, offset)| offset.is_some())
    });
    let ends = |which: Offset| -> Result<BTreeMap<(String, i32), i64>, StatusError> {
        let mut asked = TopicPartitionList::new();
        for (topic, partitions) in &wanted {
            for (partition, _) in partitions {
                asked
                    .add_partition_offset(topic, *partition, which)
                    .map_err(|e| fail("cannot ask for watermarks", e))?;
            }
        }
        let answer = consumer.offsets_for_times(asked, KAFKA_TIMEOUT).map_err(|e| fail("no watermarks", e))?;
        Ok(answer
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(offset) => Some(((e.topic().to_owned(), e.partition()), offset)),
                _ => None,
            })
            .collect())
    };
    let (highs, lows) = (ends(Offset::End)?, ends(Offset::Beginning)?);
    let mut lags = BTreeMap::new();
    for (topic, partitions) in wanted {
        let mut lag = TopicLag { partitions: partitions.len(), ..TopicLag::default() };
        for (partition, committed) in partitions {
            let key = (topic.clone(), partition);
            let high = highs.get(&key).copied().unwrap_or(0);
            let from = committed.or_else(|| lows.get(&key).copied()).unwrap_or(0);
            lag.lag += (high - from).max(0);
            lag.committed += usize::from(committed.is_some());
        }
        lags.insert(topic, lag);
    }
    Ok(lags)
}

/// The report as one JSON document.
pub fn render_json(report: &Report) -> String {
    let windows = |counts: &[Counts; 3]| -> serde_json::Map<String, Json> {
        WINDOWS.iter().zip(counts).map(|((name, _), c)| ((*name).to_owned(), c.to_json())).collect()
    };
    let topics: Vec<Json> = report
        .topics
        .iter()
        .map(|t| {
            let mut item = windows(&t.windows);
            item.insert("topic".into(), json!(t.topic));
            if let Some(lag) = &t.lag {
                item.insert(
                    "lag".into(),
                    json!({"messages": lag.lag, "partitions": lag.partitions, "committed_partitions": lag.committed}),
                );
            }
            Json::Object(item)
        })
        .collect();
    let since: serde_json::Map<String, Json> = WINDOWS
        .iter()
        .map(|(name, length)| ((*name).to_owned(), json!(length.map(|l| report.now_ms.saturating_sub(l)))))
        .collect();
    let mut totals = windows(&report.totals);
    let mut doc = json!({"now_ms": report.now_ms, "since_ms": since, "topics": topics});
    if let Some((group_id, lag)) = &report.lag {
        totals.insert("lag".into(), json!({"messages": lag}));
        doc["group_id"] = json!(group_id);
    }
    doc["totals"] = Json::Object(totals);
    format!("{doc:#}\n")
}

/// The report as a table: a line per topic and window, then the totals.
pub fn render_text(report: &Report) -> String {
    let width = report.topics.iter().map(|t| t.topic.chars().count()).max().unwrap_or(0).max(5);
    let lag_column = report.lag.is_some();
    let mut out = String::new();
    let mut header = format!(
        "{:<width$}  {:<6} {:>12} {:>10}  {:<20}  {:<20} {:>9} {:>9}",
        "TOPIC", "WINDOW", "MESSAGES", "BYTES", "EARLIEST", "LATEST", "CONFLICTS", "RETRACTED"
    );
    if lag_column {
        header.push_str(&format!(" {:>10}", "LAG"));
    }
    out.push_str(header.trim_end());
    out.push('\n');
    let mut block = |name: &str, windows: &[Counts; 3], lag: Option<i64>| {
        for (slot, ((window, _), c)) in WINDOWS.iter().zip(windows).enumerate() {
            let shown = if slot == 0 { name } else { "" };
            let mut line = format!(
                "{shown:<width$}  {window:<6} {:>12} {:>10}  {:<20}  {:<20} {:>9} {:>9}",
                c.messages,
                human_bytes(c.size_bytes),
                c.earliest_ms.map_or_else(|| "-".to_owned(), utc),
                c.latest_ms.map_or_else(|| "-".to_owned(), utc),
                c.conflicts,
                c.retracted,
            );
            if lag_column && slot == 0 {
                line.push_str(&format!(" {:>10}", lag.map_or_else(|| "-".to_owned(), |l| l.to_string())));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    };
    for topic in &report.topics {
        block(&topic.topic, &topic.windows, topic.lag.as_ref().map(|l| l.lag));
    }
    block("TOTAL", &report.totals, report.lag.as_ref().map(|(_, lag)| *lag));
    let windows = WINDOWS
        .iter()
        .filter_map(|(name, length)| length.map(|l| format!("{name} from {}", utc(report.now_ms.saturating_sub(l)))))
        .collect::<Vec<_>>()
        .join(", ");
    out.push_str(&format!(
        "{} topics at {}; windows by Kafka timestamp: {windows}",
        report.topics.len(),
        utc(report.now_ms)
    ));
    if let Some((group_id, _)) = &report.lag {
        out.push_str(&format!("; lag of consumer group {group_id:?}"));
    }
    out.push('\n');
    out
}

/// `ms` as UTC to the second (`2024-02-29T23:59:59Z`), or the number when
/// it is beyond the calendar's range.
fn utc(ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// Bytes in binary units with one decimal (`512 B`, `1.5 KiB`, `3.2 GiB`).
fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes.unsigned_abs() < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_and_utc() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_709_251_199_999), "2024-02-29T23:59:59Z");
        assert_eq!(utc(i64::MAX), format!("{} ms", i64::MAX));
    }
}
