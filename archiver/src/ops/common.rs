//! What the operator tools that walk an archive (`reindex`, `audit`,
//! `repair`) share: retries of transient errors, topic patterns, where job
//! files live, and progress on a terminal or in the log.

use crate::pipeline::Backoff;
use crate::topics::glob_match;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Attempts of a store or index call that fails transiently.
pub const ATTEMPTS_MAX: u32 = 6;

/// What an interrupted tool tells its operator to do next: resume a job,
/// or start over.
pub fn next_step(has_job: bool) -> &'static str {
    if has_job {
        "run the same command again to resume"
    } else {
        "run it again (with --job NAME a run resumes instead of starting over)"
    }
}

/// Calls `call` until it succeeds, fails for good, or has failed
/// transiently [`ATTEMPTS_MAX`] times, backing off between attempts.
pub async fn retrying<T, E: std::fmt::Display, F: Future<Output = Result<T, E>>>(
    what: &str,
    mut call: impl FnMut() -> F,
    transient: fn(&E) -> bool,
) -> Result<T, E> {
    let mut backoff = Backoff::new(200, 5_000);
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if transient(&e) && attempt < ATTEMPTS_MAX => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, attempt, delay_ms = delay.as_millis() as u64, "{what} failed; retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// `--topic` values: trimmed, empty ones dropped.
pub fn patterns(topics: &[String]) -> Vec<String> {
    topics.iter().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect()
}

/// A `--topic` pattern that selects nothing: most likely a typo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--topic {pattern}: matches no topic in the {place} (topics: {known})")]
pub struct NoTopicMatches {
    pub pattern: String,
    pub place: &'static str,
    pub known: String,
}

/// The topics of `topics` that `patterns` select (every topic when there
/// is no pattern); a pattern that selects none of them is an error naming
/// `place` ("store", "index or store", …) and what it holds.
pub fn select_topics(
    topics: &[String],
    patterns: &[String],
    place: &'static str,
) -> Result<Vec<String>, NoTopicMatches> {
    if patterns.is_empty() {
        return Ok(topics.to_vec());
    }
    if let Some(unmatched) = patterns.iter().find(|p| !topics.iter().any(|t| glob_match(p, t))) {
        let known = if topics.is_empty() { format!("the {place} holds none") } else { topics.join(", ") };
        return Err(NoTopicMatches { pattern: unmatched.clone(), place, known });
    }
    Ok(topics.iter().filter(|t| patterns.iter().any(|p| glob_match(p, t))).cloned().collect())
}

/// `--state-dir` unset and no directory to default to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--state-dir: not given, and neither XDG_STATE_HOME nor HOME is set")]
pub struct NoStateDir;

/// Where a tool's job files live: `given` (`--state-dir`), else
/// `$XDG_STATE_HOME/hop-archiver/<tool>`, else
/// `$HOME/.local/state/hop-archiver/<tool>`.
pub fn state_dir(given: Option<&PathBuf>, tool: &str) -> Result<PathBuf, NoStateDir> {
    if let Some(dir) = given {
        return Ok(dir.clone());
    }
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let home = var("XDG_STATE_HOME").or_else(|| var("HOME").map(|h| h.join(".local/state")));
    home.map(|dir| dir.join("hop-archiver").join(tool)).ok_or(NoStateDir)
}

/// Progress of a long walk: a bar (or a spinner, when the total is not
/// known) on a terminal, else a log line every interval.
pub struct Progress {
    tool: &'static str,
    bar: Option<ProgressBar>,
    interval: Duration,
    last_log: Instant,
    done: u64,
    done_at_last_log: u64,
    phase: String,
}

impl Progress {
    /// Progress of `tool`'s work, counted in `unit`s ("keys", "objects").
    pub fn new(tool: &'static str, unit: &'static str, interval: Duration) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
            bar.set_style(style(None, unit));
            bar
        });
        Progress { tool, bar, interval, last_log: Instant::now(), done: 0, done_at_last_log: 0, phase: String::new() }
    }

    /// A new phase (`name`, shown before the counts) of `total` units when
    /// known; the count starts again from `already` (done by an earlier run).
    pub fn phase(&mut self, name: &str, unit: &'static str, total: Option<u64>, already: u64) {
        self.phase = name.to_owned();
        self.done = already;
        self.done_at_last_log = already;
        self.last_log = Instant::now();
        if let Some(bar) = &self.bar {
            bar.set_style(style(total, unit));
            bar.set_prefix(name.to_owned());
            bar.set_length(total.unwrap_or(0));
            bar.set_position(already);
            bar.reset_eta();
        }
    }

    /// `units` more done; `summary` says what was found so far.
    pub fn advance(&mut self, units: u64, summary: impl FnOnce() -> String) {
        self.done += units;
        if let Some(bar) = &self.bar {
            bar.inc(units);
            bar.set_message(summary());
            return;
        }
        let elapsed = self.last_log.elapsed();
        if elapsed >= self.interval {
            let rate = (self.done - self.done_at_last_log) as f64 / elapsed.as_secs_f64();
            let (tool, phase) = (self.tool, &self.phase);
            let summary = summary();
            tracing::info!(done = self.done, rate_per_s = rate as u64, "{tool} progress {phase}: {summary}");
            self.last_log = Instant::now();
            self.done_at_last_log = self.done;
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn style(total: Option<u64>, unit: &str) -> ProgressStyle {
    let template = match total {
        Some(_) => format!("{{prefix}} {{wide_bar}} {{pos}}/{{len}} {unit}, {{per_sec}}, eta {{eta}}\n{{msg}}"),
        None => format!("{{spinner}} {{prefix}} {{pos}} {unit}, {{per_sec}}, {{elapsed}}: {{msg}}"),
    };
    ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_must_each_select_a_topic() {
        let topics = vec!["gcn.notice".to_owned(), "lvk.alerts".to_owned()];
        assert_eq!(select_topics(&topics, &[], "store").unwrap(), topics);
        assert_eq!(select_topics(&topics, &["gcn.*".into()], "store").unwrap(), ["gcn.notice"]);
        let err = select_topics(&topics, &["gcn.*".into(), "nope".into()], "store").unwrap_err().to_string();
        assert!(err.contains("--topic nope") && err.contains("gcn.notice, lvk.alerts"), "{err}");
    }
}
