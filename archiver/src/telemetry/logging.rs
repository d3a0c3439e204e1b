//! Log setup for every `archiver` command: tracing to stderr, as text for a
//! terminal or JSON for a log collector, filtered by `RUST_LOG`.
//!
//! librdkafka's own messages arrive through the `log` crate under the target
//! `librdkafka` (rdkafka's default client context) and are bridged into the
//! same output, so `RUST_LOG=librdkafka=debug` is how to see them. rdkafka
//! derives librdkafka's log level from this filter when a client is created,
//! so call [`init`] before creating any Kafka client.

use std::io::IsTerminal as _;

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::util::SubscriberInitExt as _;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, coloured when stderr is a terminal.
    #[default]
    Text,
    /// One JSON object per line, event fields at the top level.
    Json,
}

/// Installs the global subscriber: `RUST_LOG` when set and valid, otherwise
/// `default_filter` (e.g. `"info"`), otherwise `info`.
///
/// Logs go to stderr so that stdout stays for command output (summaries,
/// `inspect` results). A second call is a no-op: the first subscriber stays,
/// which lets tests and embedding code call it freely.
pub fn init(format: LogFormat, default_filter: &str) {
    let (filter, rejected) = filter(default_filter);
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).finish().try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).finish().try_init(),
    };
    if installed.is_ok()
        && let Some(rejected) = rejected
    {
        tracing::warn!("ignoring invalid log filter {rejected}");
    }
}

/// The first valid filter of `RUST_LOG` (when set) and `default_filter`,
/// falling back to `info`; plus which one was rejected and why, to report
/// once logging works, since it cannot be logged before.
fn filter(default_filter: &str) -> (EnvFilter, Option<String>) {
    let from_env = std::env::var(EnvFilter::DEFAULT_ENV).ok().filter(|value| !value.trim().is_empty());
    let candidates = [(EnvFilter::DEFAULT_ENV, from_env.as_deref()), ("default", Some(default_filter))];
    let mut rejected = None;
    for (what, directives) in candidates {
        let Some(directives) = directives else { continue };
        match EnvFilter::try_new(directives) {
            Ok(filter) => return (filter, rejected),
            Err(error) => {
                rejected.get_or_insert(format!("{what} {directives:?}: {error}"));
            }
        }
    }
    (EnvFilter::new("info"), rejected)
}
