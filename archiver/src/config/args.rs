//! The flags of `archiver run` and `archiver config`: the groups declared
//! with their settings in `file.rs`, each under its help heading.

use super::file::{
    AuthFileArgs, BackendsArgs, FlagGroup, KafkaArgs, Layer, LogFormatArgs, ObservabilityArgs, PipelineArgs,
    PublicTopicsArgs, StopArgs, TopicsArgs,
};
use std::path::PathBuf;

/// Help text listing where settings come from; for `after_help`.
pub const SOURCES_HELP: &str = "\
Every setting comes from, in order of precedence: a flag; the environment \
variable named after the flag (--in-flight-max => ARCHIVER_IN_FLIGHT_MAX); \
the TOML file given by --config / ARCHIVER_CONFIG (sections [kafka], \
[topics], [backends], [pipeline], [observability], [run], [serve]; `archiver \
config` prints one); the built-in default. Passwords are read only from \
ARCHIVER_KAFKA_PASSWORD / ARCHIVER_HOPAUTH_PASSWORD or hop's auth.toml.";

/// Settings of `archiver run`, all optional: what a flag leaves unset comes
/// from the environment, the config file or the defaults (see
/// [`super::load`]).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunArgs {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub auth: AuthFileArgs,
    #[command(flatten, next_help_heading = "Kafka")]
    pub kafka: KafkaArgs,
    #[command(flatten, next_help_heading = "Topics")]
    pub topics: TopicsArgs,
    #[command(flatten, next_help_heading = "Backends")]
    pub backends: BackendsArgs,
    #[command(flatten, next_help_heading = "Pipeline")]
    pub pipeline: PipelineArgs,
    #[command(flatten, next_help_heading = "Pipeline")]
    pub public_topics: PublicTopicsArgs,
    #[command(flatten, next_help_heading = "Observability")]
    pub observability: ObservabilityArgs,
    #[command(flatten, next_help_heading = "Observability")]
    pub log_format: LogFormatArgs,
    #[command(flatten, next_help_heading = "Run")]
    pub stop: StopArgs,
}

impl RunArgs {
    /// The settings given as flags.
    pub(crate) fn layer(&self) -> Layer {
        let groups: [&dyn FlagGroup; 9] = [
            &self.auth,
            &self.kafka,
            &self.topics,
            &self.backends,
            &self.pipeline,
            &self.public_topics,
            &self.observability,
            &self.log_format,
            &self.stop,
        ];
        super::file::flags_layer(&groups)
    }
}
