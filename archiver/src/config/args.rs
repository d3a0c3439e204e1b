//! The flags of `archiver run` and `archiver config`.

use super::file::{
    BackendsSection, KafkaSection, Layer, ObservabilitySection, PipelineSection, RunSection, TopicsSection,
};
use super::value::{Membership, MetricsAddr, TopicMode, parse_setting};
use crate::source::SecurityProtocol;
use crate::telemetry::logging::LogFormat;
use std::path::PathBuf;

/// Help text listing where settings come from; for `after_help`.
pub const SOURCES_HELP: &str = "\
Every setting comes from, in order of precedence: a flag; the environment \
variable named after the flag (--in-flight-max => ARCHIVER_IN_FLIGHT_MAX); \
the TOML file given by --config / ARCHIVER_CONFIG (sections [kafka], \
[topics], [backends], [pipeline], [observability], [run]; `archiver config` \
prints one); the built-in default. Passwords are read only from \
ARCHIVER_KAFKA_PASSWORD / ARCHIVER_HOPAUTH_PASSWORD or hop's auth.toml.";

/// Settings of `archiver run`, all optional: what a flag leaves unset comes
/// from the environment, the config file or the defaults (see
/// [`super::load`]). Typed values go through the same parsers as the
/// environment, so both fail with the same words.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunArgs {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// hop's auth.toml [default: $XDG_CONFIG_HOME/hop/auth.toml, else ~/.config/hop/auth.toml].
    #[arg(long, value_name = "FILE")]
    pub auth_file: Option<PathBuf>,

    /// Kafka bootstrap servers, host:port[,host:port...].
    #[arg(long, value_name = "HOSTS", help_heading = "Kafka")]
    pub kafka_brokers: Option<String>,
    /// plaintext, ssl, sasl-plaintext or sasl-ssl [default: sasl-ssl with a credential, else plaintext].
    #[arg(long, value_name = "PROTOCOL", value_parser = parse_setting::<SecurityProtocol>, help_heading = "Kafka")]
    pub kafka_security_protocol: Option<SecurityProtocol>,
    /// SASL mechanism [default: SCRAM-SHA-512].
    #[arg(long, value_name = "MECHANISM", help_heading = "Kafka")]
    pub kafka_sasl_mechanism: Option<String>,
    /// Kafka username (the password comes from ARCHIVER_KAFKA_PASSWORD or auth.toml).
    #[arg(long, value_name = "NAME", help_heading = "Kafka")]
    pub kafka_username: Option<String>,
    /// CA certificate file for TLS.
    #[arg(long, value_name = "FILE", help_heading = "Kafka")]
    pub kafka_ca_location: Option<String>,
    /// Consumer group id [default: archiver].
    #[arg(long, value_name = "ID", help_heading = "Kafka")]
    pub kafka_group_id: Option<String>,
    /// Consumer session timeout [default: 45000].
    #[arg(long, value_name = "MS", value_parser = parse_setting::<u64>, help_heading = "Kafka")]
    pub kafka_session_timeout_ms: Option<u64>,
    /// group, or standalone: every partition, no group join, offsets still committed to the group [default: group].
    #[arg(long, value_name = "MODE", value_parser = parse_setting::<Membership>, help_heading = "Kafka")]
    pub kafka_membership: Option<Membership>,

    /// all, explicit or hopauth [default: explicit with --topics, hopauth with --hopauth-url, else all].
    #[arg(long, value_name = "MODE", value_parser = parse_setting::<TopicMode>, help_heading = "Topics")]
    pub topics_select: Option<TopicMode>,
    /// These topics (comma-separated), minus the veto list.
    #[arg(long, value_name = "NAMES", value_delimiter = ',', help_heading = "Topics")]
    pub topics: Option<Vec<String>>,
    /// Topics never archived, whatever the selection: names or globs with `*` [default: sys.heartbeat].
    #[arg(long, value_name = "PATTERNS", value_delimiter = ',', help_heading = "Topics")]
    pub topics_veto: Option<Vec<String>>,
    /// hopauth base URL; GET {url}/v1/topics tells which topics are archivable.
    #[arg(long, value_name = "URL", help_heading = "Topics")]
    pub hopauth_url: Option<String>,
    /// hopauth username [default: the Kafka credential].
    #[arg(long, value_name = "NAME", help_heading = "Topics")]
    pub hopauth_username: Option<String>,
    /// How often the topic set is looked at again [default: 60000].
    #[arg(long, value_name = "MS", value_parser = parse_setting::<u64>, help_heading = "Topics")]
    pub topics_refresh_interval_ms: Option<u64>,

    /// Index: postgres://… or sqlite://PATH [default: sqlite://./archive/index.db].
    #[arg(long, visible_alias = "index", value_name = "URL", help_heading = "Backends")]
    pub index_url: Option<String>,
    /// Object store: s3://BUCKET?endpoint=… or file://DIR [default: file://./archive/objects].
    #[arg(long, visible_alias = "store", value_name = "URL", help_heading = "Backends")]
    pub store_url: Option<String>,

    /// Object writes in flight at most, 1..=4096 [default: 64].
    #[arg(long, value_name = "N", value_parser = parse_setting::<u64>, help_heading = "Pipeline")]
    pub in_flight_max: Option<u64>,
    /// Index rows per batch at most, 1..=10000 [default: 500].
    #[arg(long, value_name = "N", value_parser = parse_setting::<u64>, help_heading = "Pipeline")]
    pub batch_rows_max: Option<u64>,
    /// Longest wait before a partial index batch is written [default: 200].
    #[arg(long, value_name = "MS", value_parser = parse_setting::<u64>, help_heading = "Pipeline")]
    pub batch_wait_ms: Option<u64>,
    /// Archive messages marked `_test` too [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_parser = parse_setting::<bool>, help_heading = "Pipeline")]
    pub archive_test_messages: Option<bool>,
    /// Topics readable without a credential: names or globs (comma-separated).
    #[arg(long, value_name = "PATTERNS", value_delimiter = ',', help_heading = "Pipeline")]
    pub public_topics: Option<Vec<String>>,
    /// First retry delay after a transient error [default: 100].
    #[arg(long, value_name = "MS", value_parser = parse_setting::<u64>, help_heading = "Pipeline")]
    pub retry_initial_backoff_ms: Option<u64>,
    /// Longest retry delay [default: 30000].
    #[arg(long, value_name = "MS", value_parser = parse_setting::<u64>, help_heading = "Pipeline")]
    pub retry_max_backoff_ms: Option<u64>,

    /// Where /metrics listens, or `none` [default: 127.0.0.1:9464].
    #[arg(long, value_name = "ADDR", value_parser = parse_setting::<MetricsAddr>, help_heading = "Observability")]
    pub metrics_addr: Option<MetricsAddr>,
    /// File touched on a timer while the archiver is healthy.
    #[arg(long, value_name = "FILE", help_heading = "Observability")]
    pub liveness_file: Option<PathBuf>,
    /// How often the liveness file is refreshed [default: 10000].
    #[arg(long, value_name = "MS", value_parser = parse_setting::<u64>, help_heading = "Observability")]
    pub liveness_interval_ms: Option<u64>,
    /// text or json [default: text].
    #[arg(long, value_name = "FORMAT", value_parser = parse_setting::<LogFormat>, help_heading = "Observability")]
    pub log_format: Option<LogFormat>,
    /// How often a one-line progress summary is logged [default: 30000].
    #[arg(long, value_name = "MS", value_parser = parse_setting::<u64>, help_heading = "Observability")]
    pub progress_interval_ms: Option<u64>,

    /// Stop once every assigned partition is drained.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_parser = parse_setting::<bool>, help_heading = "Run")]
    pub until_eos: Option<bool>,
    /// Stop after archiving this many messages.
    #[arg(long, value_name = "N", value_parser = parse_setting::<u64>, help_heading = "Run")]
    pub max_messages: Option<u64>,
}

impl RunArgs {
    /// The settings given as flags.
    pub(crate) fn layer(&self) -> Layer {
        Layer {
            kafka: self.kafka(),
            topics: self.topics(),
            backends: BackendsSection { index_url: self.index_url.clone(), store_url: self.store_url.clone() },
            pipeline: self.pipeline(),
            observability: self.observability(),
            run: RunSection { until_eos: self.until_eos, max_messages: self.max_messages },
            serve: Default::default(),
        }
    }

    fn kafka(&self) -> KafkaSection {
        KafkaSection {
            brokers: self.kafka_brokers.clone(),
            security_protocol: self.kafka_security_protocol,
            sasl_mechanism: self.kafka_sasl_mechanism.clone(),
            username: self.kafka_username.clone(),
            ca_location: self.kafka_ca_location.clone(),
            group_id: self.kafka_group_id.clone(),
            session_timeout_ms: self.kafka_session_timeout_ms,
            membership: self.kafka_membership,
            auth_file: self.auth_file.clone(),
        }
    }

    fn topics(&self) -> TopicsSection {
        TopicsSection {
            select: self.topics_select,
            names: non_empty_items(&self.topics),
            veto: non_empty_items(&self.topics_veto),
            hopauth_url: self.hopauth_url.clone(),
            hopauth_username: self.hopauth_username.clone(),
            refresh_interval_ms: self.topics_refresh_interval_ms,
        }
    }

    fn pipeline(&self) -> PipelineSection {
        PipelineSection {
            in_flight_max: self.in_flight_max,
            batch_rows_max: self.batch_rows_max,
            batch_wait_ms: self.batch_wait_ms,
            archive_test_messages: self.archive_test_messages,
            public_topics: non_empty_items(&self.public_topics),
            retry_initial_backoff_ms: self.retry_initial_backoff_ms,
            retry_max_backoff_ms: self.retry_max_backoff_ms,
        }
    }

    fn observability(&self) -> ObservabilitySection {
        ObservabilitySection {
            metrics_addr: self.metrics_addr,
            liveness_file: self.liveness_file.clone(),
            liveness_interval_ms: self.liveness_interval_ms,
            log_format: self.log_format,
            progress_interval_ms: self.progress_interval_ms,
        }
    }
}

/// `--topics-veto=` is how to say "no veto": an empty item is dropped.
pub(super) fn non_empty_items(items: &Option<Vec<String>>) -> Option<Vec<String>> {
    items.as_ref().map(|items| items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()).map(str::to_owned).collect())
}
