//! The configuration of the operator tools (`archiver status`, `audit`,
//! `reindex`, `repair`, `inspect UUID`): the same sources and precedence
//! as `archiver run` (flags > `ARCHIVER_*` > the TOML file > defaults) and
//! the same `[backends]`, `[kafka]` (for `status`'s consumer lag),
//! `[pipeline] public_topics` and the text settings (`reindex` marks rows
//! public and indexes their text as `run` does)
//! and `log_format`. What each tool does is given by its own flags.

use super::args::command_args;
use super::env::Env;
use super::file::{AuthFileArgs, BackendsArgs, KafkaArgs, LogFormatArgs, PublicTopicsArgs, TextIndexArgs};
use super::resolve::{backends, kafka, patterns, required, text_indexing};
use super::{Backends, ConfigError, Effective, KafkaSettings, process_env, stack};
use crate::telemetry::logging::LogFormat;
use std::collections::BTreeMap;
use std::path::PathBuf;

command_args! {
    /// Settings shared by the operator tools (see [`load_tool`]).
    pub struct ToolArgs {
        /// TOML configuration file (the same file as `archiver run`'s).
        #[arg(long, value_name = "FILE")]
        pub config: Option<PathBuf>,
    }
    groups {
        auth: AuthFileArgs,
        kafka: KafkaArgs => "Kafka",
        backends: BackendsArgs => "Backends",
        public_topics: PublicTopicsArgs => "Backends",
        text: TextIndexArgs => "Backends",
        log_format: LogFormatArgs => "Backends",
    }
}

/// The effective configuration of an operator tool.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolConfig {
    pub config_file: Option<PathBuf>,
    pub backends: Backends,
    /// Resolved only for a tool that asked for it.
    pub kafka: Option<KafkaSettings>,
    /// Topics whose rows are public (globs), as `archiver run` marks them.
    pub public_topics: Vec<String>,
    /// Topics whose text is indexed for search, as `archiver run` indexes it.
    pub text: crate::text::TextIndexing,
    pub log_format: LogFormat,
    /// The keys the tool read, for printing.
    pub effective: Effective,
}

/// The configuration from `args`, the process environment, the config file
/// and the defaults; Kafka is resolved (and required) only when `needs_kafka`.
pub fn load_tool(args: &ToolArgs, needs_kafka: bool) -> Result<ToolConfig, ConfigError> {
    load_tool_from(args, needs_kafka, &process_env())
}

/// [`load_tool`] with the environment given as a map.
pub fn load_tool_from(
    args: &ToolArgs,
    needs_kafka: bool,
    vars: &BTreeMap<String, String>,
) -> Result<ToolConfig, ConfigError> {
    let env = Env::new(vars);
    let (layer, config_file) = stack(args.layer(), args.config.as_ref(), env)?;
    let mut effective = ToolArgs::own_keys(&layer);
    let public_topics = patterns("pipeline.public_topics", layer.pipeline.public_topics.clone())?;
    let text = text_indexing(&layer.pipeline, &public_topics, &mut effective.pipeline)?;
    Ok(ToolConfig {
        config_file,
        kafka: needs_kafka.then(|| kafka(&layer.kafka, env)).transpose()?,
        backends: backends(layer.backends.clone())?,
        public_topics,
        text,
        log_format: required("observability.log_format", layer.observability.log_format)?,
        effective: Effective(effective),
    })
}
