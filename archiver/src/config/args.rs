//! The flags of `archiver run` and `archiver config`: the groups declared
//! with their settings in `file.rs`, each under its help heading.

use super::file::{
    AuthFileArgs, BackendsArgs, KafkaArgs, LivenessArgs, LogFormatArgs, ObservabilityArgs, PipelineArgs,
    PublicTopicsArgs, StopArgs, TextIndexArgs, TopicsArgs,
};
use std::path::PathBuf;

/// Declares a command's args struct from its own flags and the setting
/// groups it flattens (`field: Group => "Help heading"`), listed once: the
/// macro writes the struct, `layer` (the keys its flags give) and
/// `own_keys` (the keys of a layer the command reads, for its effective
/// configuration), so a group cannot be parsed and then ignored.
macro_rules! command_args {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                pub $field:ident: $field_ty:ty,
            )*
        }
        groups {
            $($group_field:ident: $group:ident $(=> $heading:literal)?,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, clap::Args)]
        pub struct $name {
            $(
                $(#[$field_meta])*
                pub $field: $field_ty,
            )*
            $(
                #[command(flatten $(, next_help_heading = $heading)?)]
                pub $group_field: $group,
            )*
        }

        impl $name {
            /// The settings given as flags.
            pub(crate) fn layer(&self) -> $crate::config::file::Layer {
                let mut layer = $crate::config::file::Layer::default();
                $($crate::config::file::FlagGroup::apply(&self.$group_field, &mut layer);)*
                layer
            }

            /// The keys of `layer` this command reads.
            pub(crate) fn own_keys(layer: &$crate::config::file::Layer) -> $crate::config::file::Layer {
                let mut own = $crate::config::file::Layer::default();
                $(<$group as $crate::config::file::FlagGroup>::copy_keys(layer, &mut own);)*
                own
            }
        }
    };
}
pub(super) use command_args;

/// Help text listing where settings come from; for `after_help`.
pub const SOURCES_HELP: &str = "\
Every setting comes from, in order of precedence: a flag; the environment \
variable named after the flag (--in-flight-max => ARCHIVER_IN_FLIGHT_MAX); \
the TOML file given by --config / ARCHIVER_CONFIG (sections [kafka], \
[topics], [backends], [pipeline], [observability], [run], [serve]; `archiver \
config` prints one); the built-in default. Passwords are read only from \
ARCHIVER_KAFKA_PASSWORD / ARCHIVER_HOPAUTH_PASSWORD or hop's auth.toml.";

command_args! {
    /// Settings of `archiver run`, all optional: what a flag leaves unset comes
    /// from the environment, the config file or the defaults (see
    /// [`super::load`]).
    pub struct RunArgs {
        /// TOML configuration file.
        #[arg(long, value_name = "FILE")]
        pub config: Option<PathBuf>,
    }
    groups {
        auth: AuthFileArgs,
        kafka: KafkaArgs => "Kafka",
        topics: TopicsArgs => "Topics",
        backends: BackendsArgs => "Backends",
        pipeline: PipelineArgs => "Pipeline",
        public_topics: PublicTopicsArgs => "Pipeline",
        text: TextIndexArgs => "Pipeline",
        observability: ObservabilityArgs => "Observability",
        liveness: LivenessArgs => "Observability",
        log_format: LogFormatArgs => "Observability",
        stop: StopArgs => "Run",
    }
}
