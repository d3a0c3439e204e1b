//! The shape every configuration source is read into: [`Layer`], one
//! optional value per key, grouped in the TOML file's sections. The config
//! file, the environment and the flags each become a `Layer`; they are
//! stacked with [`Layer::or`] (higher precedence first), and `archiver
//! config` writes the effective values back out in the same shape, so its
//! output is itself a valid config file.

use super::ConfigError;
use super::value::{Membership, MetricsAddr, TopicMode, text};
use crate::source::SecurityProtocol;
use crate::telemetry::logging::LogFormat;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Declares a section: every field optional, unknown keys rejected, and
/// `or` taking each field from `self` unless it is unset.
macro_rules! section {
    ($(#[$meta:meta])* $name:ident { $($(#[$field_meta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $(
                $(#[$field_meta])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }

        impl $name {
            /// Each value from `self`, else from `lower`.
            pub fn or(self, lower: Self) -> Self {
                Self { $($field: self.$field.or(lower.$field),)* }
            }
        }
    };
}

section! {
    /// `[kafka]`: the cluster and the consumer group.
    KafkaSection {
        brokers: String,
        #[serde(with = "text")]
        security_protocol: SecurityProtocol,
        sasl_mechanism: String,
        username: String,
        ca_location: String,
        group_id: String,
        session_timeout_ms: u64,
        #[serde(with = "text")]
        membership: Membership,
        auth_file: PathBuf,
    }
}

section! {
    /// `[topics]`: which topics to archive, and how often to look again.
    TopicsSection {
        #[serde(with = "text")]
        select: TopicMode,
        names: Vec<String>,
        veto: Vec<String>,
        hopauth_url: String,
        hopauth_username: String,
        refresh_interval_ms: u64,
    }
}

section! {
    /// `[backends]`: where objects and index rows go.
    BackendsSection {
        index_url: String,
        store_url: String,
    }
}

section! {
    /// `[pipeline]`: concurrency, batching, retries.
    PipelineSection {
        in_flight_max: u64,
        batch_rows_max: u64,
        batch_wait_ms: u64,
        archive_test_messages: bool,
        public_topics: Vec<String>,
        retry_initial_backoff_ms: u64,
        retry_max_backoff_ms: u64,
    }
}

section! {
    /// `[observability]`: metrics, liveness, logs, progress.
    ObservabilitySection {
        #[serde(with = "text")]
        metrics_addr: MetricsAddr,
        liveness_file: PathBuf,
        liveness_interval_ms: u64,
        #[serde(with = "text")]
        log_format: LogFormat,
        progress_interval_ms: u64,
    }
}

section! {
    /// `[run]`: when to stop (usually given as flags).
    RunSection {
        until_eos: bool,
        max_messages: u64,
    }
}

section! {
    /// `[serve]`: the HTTP API of `archiver serve` (ignored by `archiver run`).
    ServeSection {
        listen_addr: String,
        credentials_file: PathBuf,
        read_only: bool,
        upload_size_bytes_max: u64,
        request_timeout_ms: u64,
        page_rows_max: u64,
        auth_realm: String,
        connections_max: u64,
        header_read_timeout_ms: u64,
        client_rate_bytes_per_s_min: u64,
        client_rate_window_ms: u64,
        uploads_in_flight_max: u64,
        response_size_bytes_max: u64,
        response_memory_bytes_max: u64,
    }
}

/// Every key of the configuration, each possibly unset.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    #[serde(default)]
    pub kafka: KafkaSection,
    #[serde(default)]
    pub topics: TopicsSection,
    #[serde(default)]
    pub backends: BackendsSection,
    #[serde(default)]
    pub pipeline: PipelineSection,
    #[serde(default)]
    pub observability: ObservabilitySection,
    #[serde(default)]
    pub run: RunSection,
    #[serde(default, skip_serializing_if = "is_default")]
    pub serve: ServeSection,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

impl Layer {
    /// Each value from `self`, else from `lower`.
    pub fn or(self, lower: Layer) -> Layer {
        Layer {
            kafka: self.kafka.or(lower.kafka),
            topics: self.topics.or(lower.topics),
            backends: self.backends.or(lower.backends),
            pipeline: self.pipeline.or(lower.pipeline),
            observability: self.observability.or(lower.observability),
            run: self.run.or(lower.run),
            serve: self.serve.or(lower.serve),
        }
    }
}

/// Reads the config file at `path`.
pub fn read(path: &Path) -> Result<Layer, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
    parse(path, &text)
}

/// Parses config file text; `path` only names the file in errors.
pub fn parse(path: &Path, text: &str) -> Result<Layer, ConfigError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| file_error(path, text, None, &e))?;
    reject_secrets(path, &table, "")?;
    let deserializer = toml::Deserializer::parse(text).map_err(|e| file_error(path, text, None, &e))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e.path().to_string();
        file_error(path, text, Some(key), e.inner())
    })
}

/// Secrets have no place in a file that gets copied around, checked in
/// and printed: any key named like a password is refused outright.
fn reject_secrets(path: &Path, table: &toml::Table, prefix: &str) -> Result<(), ConfigError> {
    for (name, value) in table {
        let key = format!("{prefix}{name}");
        if name.to_ascii_lowercase().contains("password") || name.eq_ignore_ascii_case("secret") {
            return Err(ConfigError::SecretInFile { path: path.into(), key, hint: secret_hint(name) });
        }
        if let toml::Value::Table(inner) = value {
            reject_secrets(path, inner, &format!("{key}."))?;
        }
    }
    Ok(())
}

fn secret_hint(name: &str) -> &'static str {
    if name.contains("hopauth") {
        "set ARCHIVER_HOPAUTH_PASSWORD in the environment instead"
    } else {
        "set ARCHIVER_KAFKA_PASSWORD in the environment or use hop's auth.toml instead"
    }
}

/// `file: key: message (line N)`, with serde's "field" called a "key". An
/// unknown key is named by its full path instead: `unknown key
/// `pipeline.in_flight_mx``.
fn file_error(path: &Path, text: &str, key: Option<String>, error: &toml::de::Error) -> ConfigError {
    let mut message = error.message().trim().replace("unknown field", "unknown key");
    let mut key = key.filter(|k| !k.is_empty() && k != ".");
    if let Some(full) = key.take_if(|_| message.starts_with("unknown key `")) {
        let name = full.rsplit('.').next().unwrap_or_default();
        message = message.replacen(&format!("`{name}`"), &format!("`{full}`"), 1);
    }
    let origin = match key {
        Some(key) => format!("{}: {key}", path.display()),
        None => path.display().to_string(),
    };
    match error.span().map(|span| text.bytes().take(span.start).filter(|&b| b == b'\n').count() + 1) {
        Some(line) => ConfigError::Invalid { origin, message: format!("{message} (line {line})") },
        None => ConfigError::Invalid { origin, message },
    }
}
