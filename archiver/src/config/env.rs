//! The `ARCHIVER_*` environment variables. Each is named after its flag:
//! `--in-flight-max` ⇔ `ARCHIVER_IN_FLIGHT_MAX`.
//!
//! The environment is passed in as a map rather than read here, so tests can
//! give each case its own environment without touching the process's.

use super::ConfigError;
use super::file::{
    BackendsSection, KafkaSection, Layer, ObservabilitySection, PipelineSection, RunSection, ServeSection,
    TopicsSection,
};
use super::value::{Setting, invalid_value, split_list};
use std::collections::BTreeMap;

/// The Kafka password: only ever from the environment or hop's auth.toml.
pub const KAFKA_PASSWORD: &str = "ARCHIVER_KAFKA_PASSWORD";
/// The hopauth password, when hopauth takes another credential than Kafka.
pub const HOPAUTH_PASSWORD: &str = "ARCHIVER_HOPAUTH_PASSWORD";
/// The config file, like `--config`.
pub const CONFIG: &str = "ARCHIVER_CONFIG";

/// A view of environment variables.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    vars: &'a BTreeMap<String, String>,
}

impl<'a> Env<'a> {
    pub fn new(vars: &'a BTreeMap<String, String>) -> Env<'a> {
        Env { vars }
    }

    /// The value of `name`; an empty value counts as unset, as a
    /// `FOO=` line in a compose file usually means "not configured".
    pub fn raw(&self, name: &str) -> Option<&'a str> {
        self.vars.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// The typed value of `name`, or an error naming the variable.
    pub fn get<T: Setting>(&self, name: &str) -> Result<Option<T>, ConfigError> {
        let Some(text) = self.raw(name) else { return Ok(None) };
        match T::parse(text) {
            Some(value) => Ok(Some(value)),
            None => Err(ConfigError::Invalid { origin: name.into(), message: invalid_value::<T>(text) }),
        }
    }

    /// A list; here an empty value is an empty list (`ARCHIVER_TOPICS_VETO=`
    /// archives the heartbeat too).
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.vars.get(name).map(|v| split_list(v))
    }
}

/// Every setting the environment gives.
pub fn layer(env: Env<'_>) -> Result<Layer, ConfigError> {
    Ok(Layer {
        kafka: kafka(env)?,
        topics: topics(env)?,
        backends: BackendsSection {
            index_url: env.get("ARCHIVER_INDEX_URL")?,
            store_url: env.get("ARCHIVER_STORE_URL")?,
        },
        pipeline: pipeline(env)?,
        observability: observability(env)?,
        run: RunSection { until_eos: env.get("ARCHIVER_UNTIL_EOS")?, max_messages: env.get("ARCHIVER_MAX_MESSAGES")? },
        serve: serve(env)?,
    })
}

fn serve(env: Env<'_>) -> Result<ServeSection, ConfigError> {
    Ok(ServeSection {
        listen_addr: env.get("ARCHIVER_LISTEN_ADDR")?,
        credentials_file: env.get("ARCHIVER_CREDENTIALS_FILE")?,
        read_only: env.get("ARCHIVER_READ_ONLY")?,
        upload_size_bytes_max: env.get("ARCHIVER_UPLOAD_SIZE_BYTES_MAX")?,
        request_timeout_ms: env.get("ARCHIVER_REQUEST_TIMEOUT_MS")?,
        page_rows_max: env.get("ARCHIVER_PAGE_ROWS_MAX")?,
        auth_realm: env.get("ARCHIVER_AUTH_REALM")?,
        connections_max: env.get("ARCHIVER_CONNECTIONS_MAX")?,
        header_read_timeout_ms: env.get("ARCHIVER_HEADER_READ_TIMEOUT_MS")?,
        client_rate_bytes_per_s_min: env.get("ARCHIVER_CLIENT_RATE_BYTES_PER_S_MIN")?,
        client_rate_window_ms: env.get("ARCHIVER_CLIENT_RATE_WINDOW_MS")?,
        uploads_in_flight_max: env.get("ARCHIVER_UPLOADS_IN_FLIGHT_MAX")?,
        response_size_bytes_max: env.get("ARCHIVER_RESPONSE_SIZE_BYTES_MAX")?,
        response_memory_bytes_max: env.get("ARCHIVER_RESPONSE_MEMORY_BYTES_MAX")?,
    })
}

fn kafka(env: Env<'_>) -> Result<KafkaSection, ConfigError> {
    Ok(KafkaSection {
        brokers: env.get("ARCHIVER_KAFKA_BROKERS")?,
        security_protocol: env.get("ARCHIVER_KAFKA_SECURITY_PROTOCOL")?,
        sasl_mechanism: env.get("ARCHIVER_KAFKA_SASL_MECHANISM")?,
        username: env.get("ARCHIVER_KAFKA_USERNAME")?,
        ca_location: env.get("ARCHIVER_KAFKA_CA_LOCATION")?,
        group_id: env.get("ARCHIVER_KAFKA_GROUP_ID")?,
        session_timeout_ms: env.get("ARCHIVER_KAFKA_SESSION_TIMEOUT_MS")?,
        membership: env.get("ARCHIVER_KAFKA_MEMBERSHIP")?,
        auth_file: env.get("ARCHIVER_AUTH_FILE")?,
    })
}

fn topics(env: Env<'_>) -> Result<TopicsSection, ConfigError> {
    Ok(TopicsSection {
        select: env.get("ARCHIVER_TOPICS_SELECT")?,
        names: env.list("ARCHIVER_TOPICS"),
        veto: env.list("ARCHIVER_TOPICS_VETO"),
        hopauth_url: env.get("ARCHIVER_HOPAUTH_URL")?,
        hopauth_username: env.get("ARCHIVER_HOPAUTH_USERNAME")?,
        refresh_interval_ms: env.get("ARCHIVER_TOPICS_REFRESH_INTERVAL_MS")?,
    })
}

fn pipeline(env: Env<'_>) -> Result<PipelineSection, ConfigError> {
    Ok(PipelineSection {
        in_flight_max: env.get("ARCHIVER_IN_FLIGHT_MAX")?,
        batch_rows_max: env.get("ARCHIVER_BATCH_ROWS_MAX")?,
        batch_wait_ms: env.get("ARCHIVER_BATCH_WAIT_MS")?,
        archive_test_messages: env.get("ARCHIVER_ARCHIVE_TEST_MESSAGES")?,
        public_topics: env.list("ARCHIVER_PUBLIC_TOPICS"),
        retry_initial_backoff_ms: env.get("ARCHIVER_RETRY_INITIAL_BACKOFF_MS")?,
        retry_max_backoff_ms: env.get("ARCHIVER_RETRY_MAX_BACKOFF_MS")?,
    })
}

fn observability(env: Env<'_>) -> Result<ObservabilitySection, ConfigError> {
    Ok(ObservabilitySection {
        metrics_addr: env.get("ARCHIVER_METRICS_ADDR")?,
        liveness_file: env.get("ARCHIVER_LIVENESS_FILE")?,
        liveness_interval_ms: env.get("ARCHIVER_LIVENESS_INTERVAL_MS")?,
        log_format: env.get("ARCHIVER_LOG_FORMAT")?,
        progress_interval_ms: env.get("ARCHIVER_PROGRESS_INTERVAL_MS")?,
    })
}
