//! What a running restore tells its operator: a progress bar on a terminal
//! (messages, bytes, rate, ETA), else a one-line log every interval;
//! Prometheus counters for `/metrics`.

use crate::telemetry::metrics::{Exposition, escape_label, render_header};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Counters of a restore, by target topic.
#[derive(Debug, Default)]
pub struct RestoreMetrics {
    topics: Mutex<BTreeMap<String, [u64; 2]>>,
    skipped: AtomicU64,
    resent: AtomicU64,
    in_flight: AtomicU64,
}

impl RestoreMetrics {
    fn sent(&self, topic: &str, size_bytes: u64) {
        let mut topics = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        let counts = topics.entry(topic.to_owned()).or_default();
        counts[0] += 1;
        counts[1] += size_bytes;
    }
}

impl Exposition for RestoreMetrics {
    fn render_prometheus(&self) -> String {
        let mut out = String::new();
        let topics = self.topics.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for (index, (name, help)) in [
            ("archiver_restore_messages_total", "Messages acknowledged by the target."),
            ("archiver_restore_bytes_total", "Key, header and payload bytes acknowledged by the target."),
        ]
        .into_iter()
        .enumerate()
        {
            render_header(&mut out, name, "counter", help);
            for (topic, counts) in &topics {
                let _ = writeln!(out, "{name}{{topic=\"{}\"}} {}", escape_label(topic), counts[index]);
            }
        }
        for (name, kind, help, value) in [
            ("archiver_restore_skipped_total", "counter", "Missing or unreadable objects skipped.", &self.skipped),
            (
                "archiver_restore_resent_total",
                "counter",
                "Copies sent again after restarts: one per interrupted run that may have sent the message.",
                &self.resent,
            ),
            ("archiver_restore_in_flight", "gauge", "Messages sent and not yet checkpointed.", &self.in_flight),
        ] {
            render_header(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {}", value.load(Relaxed));
        }
        out
    }
}

/// Progress of one restore.
pub struct Progress {
    bar: Option<ProgressBar>,
    metrics: std::sync::Arc<RestoreMetrics>,
    interval: Duration,
    state: Mutex<LogState>,
}

struct LogState {
    last_log: Instant,
    messages: u64,
    bytes: u64,
    messages_at_last_log: u64,
}

impl Progress {
    /// A bar when stderr is a terminal (and `quiet` is false), else logs
    /// every `interval`. `total` is the selection's size when known.
    pub fn new(
        total_messages: Option<u64>,
        interval: Duration,
        metrics: std::sync::Arc<RestoreMetrics>,
        quiet: bool,
    ) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = total_messages.map_or_else(ProgressBar::new_spinner, ProgressBar::new);
            let template = "{spinner} {bar:30} {pos}/{len} messages, {msg}, {per_sec}, eta {eta}";
            bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
            bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
            bar
        });
        let state = LogState { last_log: Instant::now(), messages: 0, bytes: 0, messages_at_last_log: 0 };
        Progress { bar, metrics, interval, state: Mutex::new(state) }
    }

    /// A message the target acknowledged.
    /// `resent`: the copies of it interrupted runs may have sent.
    pub fn sent(&self, topic: &str, size_bytes: u64, resent: u64) {
        self.metrics.sent(topic, size_bytes);
        if resent > 0 {
            self.metrics.resent.fetch_add(resent, Relaxed);
        }
        self.advance(size_bytes);
    }

    /// A message skipped (`--on-missing skip`).
    pub fn skipped(&self) {
        self.metrics.skipped.fetch_add(1, Relaxed);
        self.advance(0);
    }

    pub fn set_in_flight(&self, in_flight: usize) {
        self.metrics.in_flight.store(in_flight as u64, Relaxed);
    }

    fn advance(&self, size_bytes: u64) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.messages += 1;
        state.bytes += size_bytes;
        if let Some(bar) = &self.bar {
            bar.inc(1);
            if state.messages % 64 == 1 {
                bar.set_message(format!("{:.1} MB", state.bytes as f64 / 1e6));
            }
            return;
        }
        let elapsed = state.last_log.elapsed();
        if elapsed >= self.interval {
            let rate = (state.messages - state.messages_at_last_log) as f64 / elapsed.as_secs_f64();
            tracing::info!(
                messages = state.messages,
                mb = state.bytes as f64 / 1e6,
                rate_per_s = rate as u64,
                "restore progress"
            );
            state.last_log = Instant::now();
            state.messages_at_last_log = state.messages;
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rule: `/metrics` during a restore shows what was acknowledged per
    /// target topic, the skipped and re-sent counts and what is in flight.
    #[test]
    fn metrics_count_what_the_target_acknowledged() {
        let metrics = std::sync::Arc::new(RestoreMetrics::default());
        let progress = Progress::new(Some(3), Duration::from_secs(3600), std::sync::Arc::clone(&metrics), true);
        progress.sent("replay.a", 10, 0);
        progress.sent("replay.a", 5, 1);
        progress.sent("replay.\"b", 1, 0);
        progress.skipped();
        progress.set_in_flight(7);
        let text = metrics.render_prometheus();
        for line in [
            "archiver_restore_messages_total{topic=\"replay.a\"} 2",
            "archiver_restore_bytes_total{topic=\"replay.a\"} 15",
            "archiver_restore_messages_total{topic=\"replay.\\\"b\"} 1",
            "archiver_restore_skipped_total 1",
            "archiver_restore_resent_total 1",
            "archiver_restore_in_flight 7",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }
}
