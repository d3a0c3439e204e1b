//! From the stacked layers (declared defaults included) to a checked
//! [`RunConfig`]: computed defaults filled in, every range and combination
//! checked, credentials found, and the effective keys kept for rendering.

use super::credentials::{self, CredentialNames, KafkaCredential};
use super::env::Env;
use super::file::{
    BackendsSection, KafkaSection, Layer, ObservabilitySection, PipelineSection, RunSection, TopicsSection,
};
use super::value::{MetricsAddr, TopicMode};
use super::{
    Backends, ConfigError, Credential, CredentialSource, Effective, KafkaSettings, ObservabilitySettings,
    PipelineSettings, RunArgs, RunConfig, RunControl, TopicSelection, TopicSettings,
};
use crate::source::{KafkaConnection, SecurityProtocol};
use crate::telemetry::redact::mask_password;
use crate::text::{TextIndexing, TextLimits};
use std::ops::RangeInclusive;
use std::path::PathBuf;

/// Periodic timers: fast enough for tests, slow enough not to spin.
pub(super) const INTERVAL_MS: RangeInclusive<u64> = 10..=86_400_000;

/// The SASL mechanism when neither the settings nor hop's auth.toml name one.
const SASL_MECHANISM: &str = "SCRAM-SHA-512";

pub fn resolve(layer: Layer, env: Env<'_>, config_file: Option<PathBuf>) -> Result<RunConfig, ConfigError> {
    let kafka = kafka(&layer.kafka, env)?;
    let credential = kafka.connection.username.clone().zip(kafka.connection.password.clone());
    let credential = credential.map(|(username, password)| Credential { username, password });
    let topics = topics(&layer.topics, env, credential.as_ref())?;
    let mut effective = RunArgs::own_keys(&layer);
    let backends = backends(layer.backends)?;
    let mut pipeline = pipeline(layer.pipeline.clone())?;
    pipeline.text = text_indexing(&layer.pipeline, &pipeline.public_topics, &mut effective.pipeline)?;
    let observability = observability(layer.observability)?;
    write_back_kafka(&mut effective.kafka, &kafka);
    write_back_topics(&mut effective.topics, &topics, credential.as_ref());
    effective.backends.store_url = Some(backends.store_url.clone());
    effective.pipeline.public_topics = Some(pipeline.public_topics.clone());
    effective.observability.liveness_file = observability.liveness_file.clone();
    Ok(RunConfig {
        config_file,
        kafka,
        topics,
        backends,
        pipeline,
        observability,
        run: run(layer.run)?,
        effective: Effective(effective),
    })
}

/// The Kafka keys that are computed (from the credential and auth.toml) or
/// normalized, as resolved.
fn write_back_kafka(section: &mut KafkaSection, kafka: &KafkaSettings) {
    let connection = &kafka.connection;
    section.brokers = Some(connection.brokers.clone());
    section.security_protocol = Some(connection.security_protocol);
    section.sasl_mechanism = Some(connection.sasl_mechanism.clone());
    section.username = connection.username.clone();
    section.ca_location = connection.ca_location.clone();
    section.auth_file = match &kafka.credential_source {
        CredentialSource::AuthFile(path) => Some(path.clone()),
        _ => None,
    };
}

/// The topic keys that give `topics`' selection.
fn write_back_topics(section: &mut TopicsSection, topics: &TopicSettings, kafka: Option<&Credential>) {
    let (select, names, veto, hopauth_url, hopauth_username) = match &topics.selection {
        TopicSelection::All { veto } => (TopicMode::All, None, veto, None, None),
        TopicSelection::Explicit { names, veto } => (TopicMode::Explicit, Some(names.clone()), veto, None, None),
        TopicSelection::Hopauth { url, veto, credential } => {
            // Its own username only: the Kafka credential is used by default.
            let own = credential.as_ref().filter(|c| Some(*c) != kafka);
            (TopicMode::Hopauth, None, veto, Some(url.clone()), own.map(|c| c.username.clone()))
        }
    };
    section.select = Some(select);
    section.names = names;
    section.veto = Some(veto.clone());
    section.hopauth_url = hopauth_url;
    section.hopauth_username = hopauth_username;
}

pub(super) fn kafka(section: &KafkaSection, env: Env<'_>) -> Result<KafkaSettings, ConfigError> {
    let (connection, credential_source) = connection(section, env, credentials::ARCHIVER)?;
    let group_id = required("kafka.group_id", section.group_id.clone())?;
    if group_id.trim().is_empty() {
        return Err(ConfigError::Incomplete("kafka.group_id must not be empty".into()));
    }
    Ok(KafkaSettings {
        connection,
        group_id,
        session_timeout_ms: ranged("kafka.session_timeout_ms", section.session_timeout_ms, 1_000..=3_600_000)?,
        membership: required("kafka.membership", section.membership)?,
        credential_source,
    })
}

/// The brokers, TLS/SASL settings and credential of `section`: what is not
/// set comes from the auth.toml entry, else the defaults.
pub(super) fn connection(
    section: &KafkaSection,
    env: Env<'_>,
    names: CredentialNames,
) -> Result<(KafkaConnection, CredentialSource), ConfigError> {
    let brokers = brokers(section.brokers.as_deref())?;
    let KafkaCredential { credential, source, entry } = credentials::kafka(section, env, &brokers, names)?;
    let fallback_protocol = if credential.is_some() { SecurityProtocol::SaslSsl } else { SecurityProtocol::Plaintext };
    let security_protocol =
        section.security_protocol.or(entry.as_ref().map(|e| e.protocol)).unwrap_or(fallback_protocol);
    let sasl_mechanism = section.sasl_mechanism.clone().or(entry.as_ref().map(|e| e.mechanism.clone()));
    let ca_location = section.ca_location.clone().or(entry.and_then(|e| e.ssl_ca_location));
    let (username, password) = credential.map(|c| (c.username, c.password)).unzip();
    let connection = KafkaConnection {
        brokers,
        security_protocol,
        sasl_mechanism: sasl_mechanism.unwrap_or_else(|| SASL_MECHANISM.into()),
        username,
        password,
        ca_location,
    };
    Ok((connection, source))
}

/// `host:port[,host:port…]`, required: an archive of record must not
/// quietly read from whatever listens on localhost.
fn brokers(brokers: Option<&str>) -> Result<String, ConfigError> {
    let Some(brokers) = brokers.map(str::trim).filter(|b| !b.is_empty()) else {
        return Err(ConfigError::Incomplete(
            "kafka.brokers is not set (--kafka-brokers, ARCHIVER_KAFKA_BROKERS or [kafka] brokers)".into(),
        ));
    };
    if brokers.contains("://") || brokers.split(',').any(|b| b.trim().is_empty()) {
        return Err(ConfigError::Invalid {
            origin: "kafka.brokers".into(),
            message: format!("invalid value '{brokers}': expected host:port[,host:port...] without a URL scheme"),
        });
    }
    Ok(brokers.to_owned())
}

fn topics(section: &TopicsSection, env: Env<'_>, kafka: Option<&Credential>) -> Result<TopicSettings, ConfigError> {
    let veto = patterns("topics.veto", section.veto.clone())?;
    let selection = match mode(section)? {
        TopicMode::All => TopicSelection::All { veto },
        TopicMode::Explicit => TopicSelection::Explicit { names: explicit_names(section.names.clone())?, veto },
        TopicMode::Hopauth => TopicSelection::Hopauth {
            url: hopauth_url(section.hopauth_url.as_deref())?,
            veto,
            credential: credentials::hopauth(section, env, kafka)?,
        },
    };
    let refresh_interval_ms = ranged("topics.refresh_interval_ms", section.refresh_interval_ms, INTERVAL_MS)?;
    Ok(TopicSettings { selection, refresh_interval_ms })
}

/// `topics.select`, or what the other keys imply.
fn mode(section: &TopicsSection) -> Result<TopicMode, ConfigError> {
    if let Some(mode) = section.select {
        return Ok(mode);
    }
    match (section.names.is_some(), section.hopauth_url.is_some()) {
        (true, true) => Err(ConfigError::Incomplete(
            "both topics.names and topics.hopauth_url are set: choose with topics.select = \"explicit\" or \"hopauth\""
                .into(),
        )),
        (true, false) => Ok(TopicMode::Explicit),
        (false, true) => Ok(TopicMode::Hopauth),
        (false, false) => Ok(TopicMode::All),
    }
}

fn explicit_names(names: Option<Vec<String>>) -> Result<Vec<String>, ConfigError> {
    let mut names = patterns("topics.names", names)?;
    if names.is_empty() {
        return Err(ConfigError::Incomplete("topics.select is \"explicit\" but topics.names is empty".into()));
    }
    if let Some(bad) = names.iter().find(|n| n.contains('*')) {
        return Err(ConfigError::Invalid {
            origin: "topics.names".into(),
            message: format!("invalid value '{bad}': expected topic names (globs belong in topics.veto)"),
        });
    }
    names.sort();
    names.dedup();
    Ok(names)
}

fn hopauth_url(url: Option<&str>) -> Result<String, ConfigError> {
    let url = url.ok_or_else(|| {
        ConfigError::Incomplete("topics.select is \"hopauth\" but topics.hopauth_url is not set".into())
    })?;
    match url::Url::parse(url) {
        Ok(parsed) if !parsed.username().is_empty() || parsed.password().is_some() => Err(invalid_url(
            "topics.hopauth_url",
            url,
            "a URL without credentials (set topics.hopauth_username and ARCHIVER_HOPAUTH_PASSWORD)",
        )),
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(url.trim_end_matches('/').to_owned()),
        _ => Err(invalid_url("topics.hopauth_url", url, "an http:// or https:// URL")),
    }
}

/// A list of names or globs (none if unset); blank entries are mistakes,
/// not wildcards.
pub(super) fn patterns(key: &str, given: Option<Vec<String>>) -> Result<Vec<String>, ConfigError> {
    let list = given.unwrap_or_default();
    if list.iter().any(|p| p.trim().is_empty()) {
        return Err(ConfigError::Invalid { origin: key.into(), message: "contains an empty name".into() });
    }
    Ok(list.into_iter().map(|p| p.trim().to_owned()).collect())
}

/// Which topics' text is indexed: the `text_topics` patterns, else the
/// public topics; and the limits. Written back into `effective`.
pub(super) fn text_indexing(
    section: &PipelineSection,
    public_topics: &[String],
    effective: &mut PipelineSection,
) -> Result<TextIndexing, ConfigError> {
    let topics = match section.text_topics.clone() {
        Some(given) => patterns("pipeline.text_topics", Some(given))?,
        None => public_topics.to_vec(),
    };
    let message_size_bytes_max =
        count("pipeline.text_message_size_bytes_max", section.text_message_size_bytes_max, 0..=1 << 30)?;
    let text_chars_max = count("pipeline.text_chars_max", section.text_chars_max, 0..=1 << 20)?;
    effective.text_topics = Some(topics.clone());
    Ok(TextIndexing { topics, limits: TextLimits { message_size_bytes_max, text_chars_max } })
}

pub(super) fn backends(section: BackendsSection) -> Result<Backends, ConfigError> {
    let index_url = required("backends.index_url", section.index_url)?;
    if !["postgres://", "postgresql://", "sqlite:"].iter().any(|p| index_url.starts_with(p)) {
        return Err(invalid_url("backends.index_url", &index_url, "postgres://…, postgresql://… or sqlite://PATH"));
    }
    if index_url.contains(":memory:") || index_url.contains("mode=memory") {
        return Err(volatile("backends.index_url", &index_url));
    }
    let store_url = durable_store_url("backends.store_url", required("backends.store_url", section.store_url)?)?;
    Ok(Backends { index_url, store_url })
}

/// A store URL that keeps what it holds (`s3://…` or `file:///DIR`, a
/// relative `file://` made absolute); `key` names the setting or flag in
/// errors. What `backends.store_url` must be, and an audit's `--replica`.
pub fn durable_store_url(key: &str, url: String) -> Result<String, ConfigError> {
    let url = absolute_file_url(url);
    match url::Url::parse(&url) {
        Ok(parsed) if parsed.scheme() == "memory" => Err(volatile(key, &url)),
        Ok(parsed) if matches!(parsed.scheme(), "file" | "s3") => Ok(url),
        _ => Err(invalid_url(key, &url, "s3://BUCKET?…, file:///DIR")),
    }
}

/// An in-memory backend keeps nothing after the process exits, while `run`
/// commits Kafka offsets (and `serve` acknowledges uploads) as if it did:
/// the archive would vanish with nothing left to redeliver it. The
/// operator tools would read an empty archive, or fill one that vanishes.
fn volatile(key: &str, url: &str) -> ConfigError {
    ConfigError::Invalid {
        origin: key.into(),
        message: format!(
            "'{}' keeps nothing after the process exits: it starts empty, and whatever is archived or indexed \
             there vanishes, offsets and uploads acknowledged all the same; use a durable backend \
             (postgres://…, sqlite://PATH, s3://…, file:///DIR)",
            mask_password(url)
        ),
    }
}

/// `file://relative/dir` (not a valid file URL) made absolute against the
/// working directory, so the default `file://./archive/objects` works and
/// `archiver config` shows where objects really go.
fn absolute_file_url(url: String) -> String {
    let Some(path) = url.strip_prefix("file://").filter(|p| !p.starts_with('/')) else { return url };
    let absolute = std::env::current_dir().map(|cwd| cwd.join(path));
    match absolute.ok().and_then(|p| url::Url::from_file_path(p).ok()) {
        Some(fixed) => fixed.to_string().replace("/./", "/"),
        None => url,
    }
}

pub(super) fn invalid_url(key: &str, url: &str, expected: &str) -> ConfigError {
    ConfigError::Invalid {
        origin: key.into(),
        message: format!("invalid value '{}': expected {expected}", mask_password(url)),
    }
}

fn pipeline(section: PipelineSection) -> Result<PipelineSettings, ConfigError> {
    let retry_initial_backoff_ms =
        ranged("pipeline.retry_initial_backoff_ms", section.retry_initial_backoff_ms, 1..=3_600_000)?;
    let retry_max_backoff_ms =
        ranged("pipeline.retry_max_backoff_ms", section.retry_max_backoff_ms, retry_initial_backoff_ms..=3_600_000)?;
    Ok(PipelineSettings {
        in_flight_max: count("pipeline.in_flight_max", section.in_flight_max, 1..=4096)?,
        batch_rows_max: count("pipeline.batch_rows_max", section.batch_rows_max, 1..=10_000)?,
        batch_wait_ms: ranged("pipeline.batch_wait_ms", section.batch_wait_ms, 0..=60_000)?,
        archive_test_messages: required("pipeline.archive_test_messages", section.archive_test_messages)?,
        public_topics: patterns("pipeline.public_topics", section.public_topics)?,
        text: TextIndexing::default(),
        retry_initial_backoff_ms,
        retry_max_backoff_ms,
    })
}

fn observability(section: ObservabilitySection) -> Result<ObservabilitySettings, ConfigError> {
    let MetricsAddr(metrics_addr) = required("observability.metrics_addr", section.metrics_addr)?;
    Ok(ObservabilitySettings {
        metrics_addr,
        liveness_file: section.liveness_file.filter(|p| !p.as_os_str().is_empty()),
        liveness_interval_ms: ranged("observability.liveness_interval_ms", section.liveness_interval_ms, INTERVAL_MS)?,
        log_format: required("observability.log_format", section.log_format)?,
        progress_interval_ms: ranged("observability.progress_interval_ms", section.progress_interval_ms, INTERVAL_MS)?,
    })
}

fn run(section: RunSection) -> Result<RunControl, ConfigError> {
    if section.max_messages == Some(0) {
        return Err(out_of_range("run.max_messages", "at least 1", 0));
    }
    Ok(RunControl { until_eos: required("run.until_eos", section.until_eos)?, max_messages: section.max_messages })
}

/// The value of a setting that has a default, so is always set once the
/// declared defaults are stacked; else an error naming `key`.
pub(super) fn required<T>(key: &str, value: Option<T>) -> Result<T, ConfigError> {
    value.ok_or_else(|| ConfigError::Incomplete(format!("{key} is not set")))
}

/// `value` (see [`required`]) if within `range`, else an error naming `key`.
pub(super) fn ranged(key: &'static str, value: Option<u64>, range: RangeInclusive<u64>) -> Result<u64, ConfigError> {
    let value = required(key, value)?;
    if range.contains(&value) {
        return Ok(value);
    }
    let requirement = format!("between {} and {}", range.start(), range.end());
    Err(out_of_range(key, &requirement, value))
}

/// A count that sizes memory, as `usize`.
pub(super) fn count(key: &'static str, value: Option<u64>, range: RangeInclusive<u64>) -> Result<usize, ConfigError> {
    let value = ranged(key, value, range)?;
    usize::try_from(value).map_err(|_| out_of_range(key, "addressable", value))
}

pub(super) fn out_of_range(key: &'static str, requirement: &str, value: u64) -> ConfigError {
    ConfigError::OutOfRange { key, requirement: requirement.into(), value: value.to_string() }
}
