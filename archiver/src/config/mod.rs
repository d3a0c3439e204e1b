//! The configuration of `archiver run`: typed, validated, from four sources.
//!
//! Precedence, highest first: command-line flags ([`RunArgs`]), `ARCHIVER_*`
//! environment variables (named after the flags), the TOML file
//! (`--config` / `ARCHIVER_CONFIG`), built-in defaults. Each source is read
//! into the same shape (`file::Layer`), the layers are stacked, and
//! `resolve` turns the result into a [`RunConfig`], checking every value.
//! Errors name the key and where it came from.
//!
//! Secrets: the Kafka password comes only from `ARCHIVER_KAFKA_PASSWORD` or
//! hop's `auth.toml`, the hopauth password only from
//! `ARCHIVER_HOPAUTH_PASSWORD` (or it is the Kafka credential). A password in
//! the config file is an error. `Debug` and [`RunConfig::render_masked`]
//! show `***` for every secret, including passwords inside backend URLs.

mod args;
pub mod auth_toml;
mod client;
mod credentials;
mod env;
mod file;
mod health;
mod render;
mod resolve;
mod restore;
mod serve;
mod tools;
mod value;

pub use crate::source::{Credential, TopicSelection};
pub use args::{RunArgs, SOURCES_HELP};
pub use client::{ClientLogin, client_connection};
pub use credentials::CredentialNames;
pub use file::{
    AuthFileArgs, BackendsArgs, KafkaArgs, LivenessAgeArgs, LivenessArgs, LogFormatArgs, ObservabilityArgs,
    PipelineArgs, PublicTopicsArgs, RestoreLimitsArgs, ServeAccessArgs, ServeLimitsArgs, ServerArgs, StopArgs,
    TextIndexArgs, TopicsArgs,
};
pub use health::{HealthArgs, HealthCheck, load_health, load_health_from};
pub use render::Effective;
pub use resolve::durable_store_url;
pub use restore::{RestoreArgs, RestoreConfig, RestoreLimits, load_restore, load_restore_from};
pub use serve::{ServeArgs, ServeConfig, ServeLimits, load_serve, load_serve_from, serve_defaults};
pub use tools::{ToolArgs, ToolConfig, load_tool, load_tool_from};
pub use value::{Membership, MetricsAddr, TopicMode};

use crate::source::KafkaConnection;
use crate::telemetry::logging::LogFormat;
use crate::telemetry::redact::mask_password;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A configuration that cannot be used, and why. Never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value that does not parse; `origin` is the variable, flag or
    /// `file: key` it came from.
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
    #[error("{key} must be {requirement} (got {value})")]
    OutOfRange { key: &'static str, requirement: String, value: String },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: `{key}`: secrets are not read from the config file; {hint}", path.display())]
    SecretInFile { path: PathBuf, key: String, hint: &'static str },
    #[error("hop auth file {}: {message}", path.display())]
    AuthFile { path: PathBuf, message: String },
    /// A setting that is required, or settings that contradict each other.
    #[error("{0}")]
    Incomplete(String),
}

/// Where the Kafka credential was found, for `archiver config` and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// No credential: the cluster is reached without SASL.
    None,
    /// `ARCHIVER_KAFKA_PASSWORD` (and a configured username).
    Environment,
    /// An entry of hop's auth.toml.
    AuthFile(PathBuf),
}

/// The effective configuration of `archiver run`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    pub kafka: KafkaSettings,
    pub topics: TopicSettings,
    pub backends: Backends,
    pub pipeline: PipelineSettings,
    pub observability: ObservabilitySettings,
    pub run: RunControl,
    /// The same configuration as keys, for [`RunConfig::render_masked`].
    pub effective: Effective,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KafkaSettings {
    /// Brokers, TLS/SASL settings and the credential.
    pub connection: KafkaConnection,
    pub group_id: String,
    pub session_timeout_ms: u64,
    pub membership: Membership,
    pub credential_source: CredentialSource,
}

impl KafkaSettings {
    /// The connection's librdkafka settings plus the consumer group's.
    pub fn consumer_config(&self) -> rdkafka::ClientConfig {
        let mut config = self.connection.client_config();
        config.set("group.id", &self.group_id);
        config.set("session.timeout.ms", self.session_timeout_ms.to_string());
        config
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TopicSettings {
    pub selection: TopicSelection,
    /// How often the topic set is computed again, traffic or not.
    pub refresh_interval_ms: u64,
}

/// Where the archive lives. `Debug` masks passwords in the URLs.
#[derive(Clone, PartialEq, Eq)]
pub struct Backends {
    /// `postgres://…`, `postgresql://…` or `sqlite:…`.
    pub index_url: String,
    /// `file:///abs/dir` or `s3://bucket?…` (never in memory: see `resolve::volatile`).
    pub store_url: String,
}

impl fmt::Debug for Backends {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backends")
            .field("index_url", &mask_password(&self.index_url))
            .field("store_url", &mask_password(&self.store_url))
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineSettings {
    /// Object writes in flight at most; bounds memory, never the backlog.
    pub in_flight_max: usize,
    pub batch_rows_max: usize,
    pub batch_wait_ms: u64,
    /// Archive messages with a `_test` header (upstream never does).
    pub archive_test_messages: bool,
    /// Topics whose rows are marked public (globs).
    pub public_topics: Vec<String>,
    /// Topics whose text is indexed for search, and how much.
    pub text: crate::text::TextIndexing,
    pub retry_initial_backoff_ms: u64,
    pub retry_max_backoff_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservabilitySettings {
    /// `None`: no metrics endpoint.
    pub metrics_addr: Option<SocketAddr>,
    pub liveness_file: Option<PathBuf>,
    pub liveness_interval_ms: u64,
    pub log_format: LogFormat,
    pub progress_interval_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunControl {
    /// Stop once every assigned partition is drained.
    pub until_eos: bool,
    /// Stop after this many messages.
    pub max_messages: Option<u64>,
}

/// Every `ARCHIVER_*` variable the archiver reads: one per declared setting,
/// the two passwords and the config file's.
pub fn variables() -> impl Iterator<Item = &'static str> {
    file::Layer::variables().chain([env::KAFKA_PASSWORD, env::HOPAUTH_PASSWORD, env::CONFIG])
}

/// The configuration from `args`, the process environment, the config file
/// and the defaults.
pub fn load(args: &RunArgs) -> Result<RunConfig, ConfigError> {
    load_from(args, &process_env())
}

/// The process environment, without the variables that are not Unicode.
pub fn process_env() -> BTreeMap<String, String> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
}

/// [`load`] with the environment given as a map (for tests, and anyone who
/// must not consult the process environment). `HOME` and `XDG_CONFIG_HOME`
/// are read from it too, to find hop's auth.toml.
pub fn load_from(args: &RunArgs, vars: &BTreeMap<String, String>) -> Result<RunConfig, ConfigError> {
    let env = env::Env::new(vars);
    let (layer, config_file) = stack(args.layer(), args.config.as_ref(), env)?;
    resolve::resolve(layer, env, config_file)
}

/// The flags' layer over the environment's over the config file's (named by
/// `--config`, else `ARCHIVER_CONFIG`) over the declared defaults, and the
/// file that was read. `run` and `serve` both stack their sources here.
fn stack(
    flags: file::Layer,
    config: Option<&PathBuf>,
    env: env::Env<'_>,
) -> Result<(file::Layer, Option<PathBuf>), ConfigError> {
    let config_file = config.cloned().or_else(|| env.raw(env::CONFIG).map(PathBuf::from));
    let from_file = match &config_file {
        Some(path) => file::read(path)?,
        None => file::Layer::default(),
    };
    let layer = flags.or(file::Layer::from_env(env)?).or(from_file).or(file::Layer::defaults());
    Ok((layer, config_file))
}
