//! What the archiver counts, for `/metrics`, progress lines and summaries.
//!
//! Every update is an atomic add, plus a read lock on a map the first time a
//! topic is seen per lookup; memory is bounded by the number of topics and
//! partitions, never by traffic (latencies go into fixed-bucket histograms).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Per-topic totals since start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicTotals {
    pub archived: u64,
    pub duplicates: u64,
    pub conflicts: u64,
    pub skipped_test: u64,
    /// Object bytes written.
    pub size_bytes: u64,
}

/// Upper bounds (seconds) of the latency histogram buckets: 1 ms to 30 s,
/// wide enough for a local filesystem write and for an S3 PUT under retry.
pub const LATENCY_BUCKETS: [f64; 14] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The live counters of one topic; shared so updates need no write lock.
#[derive(Debug, Default)]
struct TopicCounters {
    archived: AtomicU64,
    duplicates: AtomicU64,
    conflicts: AtomicU64,
    skipped_test: AtomicU64,
    size_bytes: AtomicU64,
}

impl TopicCounters {
    fn snapshot(&self) -> TopicTotals {
        TopicTotals {
            archived: self.archived.load(Relaxed),
            duplicates: self.duplicates.load(Relaxed),
            conflicts: self.conflicts.load(Relaxed),
            skipped_test: self.skipped_test.load(Relaxed),
            size_bytes: self.size_bytes.load(Relaxed),
        }
    }
}

/// A fixed-bucket histogram: one counter per bucket (not cumulative; the
/// last one is the overflow past the largest bound) and the sum in
/// nanoseconds, so that recording is two atomic adds and never allocates.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

/// A consistent-enough copy of a [`Histogram`]: cumulative bucket counts
/// whose last entry (`+Inf`) is by construction equal to the count.
struct HistogramSnapshot {
    cumulative: [u64; LATENCY_BUCKETS.len() + 1],
    sum_seconds: f64,
}

impl Histogram {
    fn observe(&self, seconds: f64) {
        // NaN and negative durations (a clock step) count as zero rather than vanish.
        let seconds = if seconds.is_finite() && seconds > 0.0 { seconds } else { 0.0 };
        let bucket = LATENCY_BUCKETS.iter().position(|&le| seconds <= le).unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Relaxed);
        // `as` saturates: an absurd value cannot wrap the sum.
        self.sum_nanos.fetch_add((seconds * 1e9) as u64, Relaxed);
    }

    fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = [0; LATENCY_BUCKETS.len() + 1];
        let mut running = 0u64;
        for (slot, bucket) in cumulative.iter_mut().zip(&self.buckets) {
            running = running.saturating_add(bucket.load(Relaxed));
            *slot = running;
        }
        HistogramSnapshot { cumulative, sum_seconds: self.sum_nanos.load(Relaxed) as f64 / 1e9 }
    }
}

/// What the previous [`Metrics::progress_line`] saw, to report a rate over
/// the last interval rather than an average that flattens out over hours.
#[derive(Debug, Default)]
struct ProgressMark {
    archived: u64,
}

/// The content type Prometheus expects for the text exposition format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whatever a `/metrics` endpoint serves: `archiver run`'s [`Metrics`], or
/// a restore's counters.
pub trait Exposition: Send + Sync {
    /// The Prometheus text exposition format 0.0.4.
    fn render_prometheus(&self) -> String;
}

impl Exposition for Metrics {
    fn render_prometheus(&self) -> String {
        Metrics::render_prometheus(self)
    }
}

/// The archiver's counters. Cheap to update from many tasks.
#[derive(Debug, Default)]
pub struct Metrics {
    topics: RwLock<BTreeMap<String, Arc<TopicCounters>>>,
    healed: AtomicU64,
    retries: Mutex<BTreeMap<&'static str, u64>>,
    in_flight: AtomicU64,
    /// topic → partition → lag; nested so an update needs no key allocation.
    lag: Mutex<BTreeMap<String, BTreeMap<i32, i64>>>,
    object_write_seconds: Histogram,
    index_batch_seconds: Histogram,
    progress: Mutex<ProgressMark>,
    pending: Mutex<Pending>,
}

/// Messages taken but not yet durable, and when one last became so.
#[derive(Debug, Default)]
struct Pending {
    count: u64,
    progress_at: Option<std::time::Instant>,
}

/// Locks `mutex`, carrying on after a panic elsewhere: counters stay usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// The counters of `topic`, created on first sight. The common case takes
    /// only a read lock and allocates nothing.
    fn topic(&self, topic: &str) -> Arc<TopicCounters> {
        let found = self.topics.read().unwrap_or_else(|p| p.into_inner()).get(topic).cloned();
        if let Some(counters) = found {
            return counters;
        }
        let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        Arc::clone(topics.entry(topic.to_owned()).or_default())
    }

    pub fn archived(&self, topic: &str, size_bytes: u64) {
        let counters = self.topic(topic);
        counters.archived.fetch_add(1, Relaxed);
        counters.size_bytes.fetch_add(size_bytes, Relaxed);
    }

    pub fn duplicate(&self, topic: &str) {
        self.topic(topic).duplicates.fetch_add(1, Relaxed);
    }

    pub fn conflict(&self, topic: &str) {
        self.topic(topic).conflicts.fetch_add(1, Relaxed);
    }

    pub fn skipped_test(&self, topic: &str) {
        self.topic(topic).skipped_test.fetch_add(1, Relaxed);
    }

    /// An index row restored for an object that had lost it (crash between
    /// object write and index write).
    pub fn healed(&self) {
        self.healed.fetch_add(1, Relaxed);
    }

    /// A transient failure of `what` ("store", "index", "source", "commit") that will be retried.
    pub fn retry(&self, what: &'static str) {
        *lock(&self.retries).entry(what).or_default() += 1;
    }

    pub fn object_write_seconds(&self, seconds: f64) {
        self.object_write_seconds.observe(seconds);
    }

    pub fn index_batch_seconds(&self, seconds: f64) {
        self.index_batch_seconds.observe(seconds);
    }

    /// A message was taken from the source.
    pub fn message_taken(&self) {
        let mut pending = lock(&self.pending);
        if pending.count == 0 {
            pending.progress_at = Some(std::time::Instant::now());
        }
        pending.count += 1;
    }

    /// A message taken is durable (or needed nothing written).
    pub fn message_done(&self) {
        let mut pending = lock(&self.pending);
        pending.count = pending.count.saturating_sub(1);
        pending.progress_at = Some(std::time::Instant::now());
    }

    /// How long messages have been waiting with none becoming durable: the
    /// time no progress was possible (a backend down). Zero when none waits.
    pub fn stalled_for(&self) -> Duration {
        let pending = lock(&self.pending);
        match pending.progress_at {
            Some(at) if pending.count > 0 => at.elapsed(),
            _ => Duration::ZERO,
        }
    }

    pub fn set_in_flight(&self, in_flight: usize) {
        self.in_flight.store(u64::try_from(in_flight).unwrap_or(u64::MAX), Relaxed);
    }

    /// The consumer lag of one partition (high watermark minus committed
    /// position); negative means unknown and is exported as given.
    pub fn set_lag(&self, topic: &str, partition: i32, lag: i64) {
        let mut all = lock(&self.lag);
        match all.get_mut(topic) {
            Some(partitions) => {
                partitions.insert(partition, lag);
            }
            None => {
                all.insert(topic.to_owned(), BTreeMap::from([(partition, lag)]));
            }
        }
    }

    /// Forgets the lag of a partition this consumer no longer owns (after a
    /// rebalance), so that `/metrics` does not keep reporting a stale value.
    pub fn remove_lag(&self, topic: &str, partition: i32) {
        let mut all = lock(&self.lag);
        if let Some(partitions) = all.get_mut(topic) {
            partitions.remove(&partition);
            if partitions.is_empty() {
                all.remove(topic);
            }
        }
    }

    pub fn topic_totals(&self) -> BTreeMap<String, TopicTotals> {
        let topics = self.topics.read().unwrap_or_else(|p| p.into_inner());
        topics.iter().map(|(name, counters)| (name.clone(), counters.snapshot())).collect()
    }

    pub fn healed_total(&self) -> u64 {
        self.healed.load(Relaxed)
    }

    /// The sum of the known (non-negative) partition lags.
    fn total_lag(&self) -> i64 {
        let all = lock(&self.lag);
        all.values().flat_map(|partitions| partitions.values()).filter(|&&lag| lag > 0).sum()
    }

    /// One human line for the periodic progress log, e.g.
    /// `archived 1234 (56.7/s, 12.3 MB), duplicates 5, conflicts 1, skipped _test 2, in flight 8, lag 40`.
    ///
    /// Counts, bytes (decimal MB) and lag are totals since start; the rate is
    /// over the last interval: `elapsed` must be the time since the previous
    /// call (since start for the first), and each call remembers the archived
    /// count it saw. An interval rate shows a stall at once, where an average
    /// since start would hide it for hours.
    pub fn progress_line(&self, elapsed: Duration) -> String {
        let totals = self.topic_totals().into_values().fold(TopicTotals::default(), add_totals);
        let since_previous = {
            let mut mark = lock(&self.progress);
            let delta = totals.archived.saturating_sub(mark.archived);
            mark.archived = totals.archived;
            delta
        };
        let seconds = elapsed.as_secs_f64();
        let rate = if seconds > 0.0 { since_previous as f64 / seconds } else { 0.0 };
        format!(
            "archived {} ({rate:.1}/s, {:.1} MB), duplicates {}, conflicts {}, skipped _test {}, in flight {}, lag {}",
            totals.archived,
            totals.size_bytes as f64 / 1e6,
            totals.duplicates,
            totals.conflicts,
            totals.skipped_test,
            self.in_flight.load(Relaxed),
            self.total_lag(),
        )
    }

    /// Everything in the Prometheus text exposition format 0.0.4.
    pub fn render_prometheus(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.render_topic_counters(&mut out);
        render_header(
            &mut out,
            "archiver_healed_total",
            "counter",
            "Index rows restored for objects that had lost them.",
        );
        let _ = writeln!(out, "archiver_healed_total {}", self.healed_total());
        self.render_retries(&mut out);
        render_histogram(
            &mut out,
            "archiver_object_write_seconds",
            "Time to write one object to the store.",
            &self.object_write_seconds.snapshot(),
        );
        render_histogram(
            &mut out,
            "archiver_index_batch_seconds",
            "Time to commit one batch of index rows.",
            &self.index_batch_seconds.snapshot(),
        );
        render_header(&mut out, "archiver_in_flight", "gauge", "Messages read but not yet archived.");
        let _ = writeln!(out, "archiver_in_flight {}", self.in_flight.load(Relaxed));
        self.render_lag(&mut out);
        out
    }

    fn render_topic_counters(&self, out: &mut String) {
        let totals = self.topic_totals();
        for (name, help, value) in TOPIC_FAMILIES {
            render_header(out, name, "counter", help);
            for (topic, t) in &totals {
                let _ = writeln!(out, "{name}{{topic=\"{}\"}} {}", escape_label(topic), value(t));
            }
        }
    }

    fn render_retries(&self, out: &mut String) {
        render_header(
            out,
            "archiver_retries_total",
            "counter",
            "Transient failures that were retried, by what failed.",
        );
        for (what, count) in lock(&self.retries).iter() {
            let _ = writeln!(out, "archiver_retries_total{{what=\"{}\"}} {count}", escape_label(what));
        }
    }

    fn render_lag(&self, out: &mut String) {
        render_header(out, "archiver_consumer_lag", "gauge", "Messages not yet consumed, per partition.");
        for (topic, partitions) in lock(&self.lag).iter() {
            let topic = escape_label(topic);
            for (partition, lag) in partitions {
                let _ = writeln!(out, "archiver_consumer_lag{{topic=\"{topic}\",partition=\"{partition}\"}} {lag}");
            }
        }
    }
}

/// A per-topic counter family: metric name, help text, and its field.
type TopicFamily = (&'static str, &'static str, fn(&TopicTotals) -> u64);

const TOPIC_FAMILIES: [TopicFamily; 5] = [
    ("archiver_messages_archived_total", "Messages newly archived.", |t| t.archived),
    ("archiver_duplicates_total", "Messages already in the archive, identical.", |t| t.duplicates),
    ("archiver_conflicts_total", "Messages whose identity was archived with other bytes.", |t| t.conflicts),
    ("archiver_skipped_test_total", "Messages skipped because they were marked _test.", |t| t.skipped_test),
    ("archiver_archived_bytes_total", "Object bytes written.", |t| t.size_bytes),
];

fn add_totals(mut sum: TopicTotals, t: TopicTotals) -> TopicTotals {
    sum.archived += t.archived;
    sum.duplicates += t.duplicates;
    sum.conflicts += t.conflicts;
    sum.skipped_test += t.skipped_test;
    sum.size_bytes += t.size_bytes;
    sum
}

/// `# HELP` and `# TYPE` lines of one metric.
pub fn render_header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn render_histogram(out: &mut String, name: &str, help: &str, snapshot: &HistogramSnapshot) {
    render_header(out, name, "histogram", help);
    for (le, count) in LATENCY_BUCKETS.iter().zip(&snapshot.cumulative) {
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {count}");
    }
    let count = snapshot.cumulative[LATENCY_BUCKETS.len()];
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
    let _ = writeln!(out, "{name}_sum {}", snapshot.sum_seconds);
    let _ = writeln!(out, "{name}_count {count}");
}

/// Escapes a label value as the text format requires: topic names come from
/// the broker and are not ours to trust.
pub fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}
