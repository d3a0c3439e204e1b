//! Every setting, declared once, and the shape every configuration source
//! is read into: [`Layer`], one optional value per key, grouped in the TOML
//! file's sections. The config file, the environment and the flags each
//! become a `Layer`; they are stacked with [`Layer::or`] (higher precedence
//! first), and `archiver config` writes the effective values back out in the
//! same shape, so its output is itself a valid config file.

use super::ConfigError;
use super::env::Env;
use super::value::{FlagValue, Membership, MetricsAddr, Setting, TopicMode, parse_setting, text};
use crate::source::SecurityProtocol;
use crate::telemetry::logging::LogFormat;
use crate::telemetry::redact::mask_password;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Declares a `[section]` of the file from its settings. Each setting is
///
/// ```text
/// /// Help of the flag.
/// #[arg(…)]              // optional: more clap attributes (value_name, alias…)
/// #[serde(…)]            // optional: more serde attributes (`with = "text"`)
/// key: Type = default => flag_name, "ARCHIVER_VARIABLE", mask;
/// ```
///
/// giving the TOML key `[section] key`, the flag `--flag-name` (parsed by
/// [`parse_setting`], as the variable and the file are, so all fail with the
/// same words), the variable, and the help text naming the variable. `=
/// default` is optional: a plain value, filled in below every source by
/// [`Layer::defaults`] and shown in the help as `[default: …]`; a setting
/// whose default is computed (from other settings or the credential) has
/// none here, says so in its help and is defaulted in `resolve`. `, mask`
/// is optional too: the function that masks the value in `archiver config`
/// (passwords in URLs). The settings are grouped into clap argument
/// structs, which `RunArgs` and `ServeArgs` flatten under a help heading
/// each (see `command_args!`); a group is the unit a command takes, so
/// `serve` can take `--log-format` without `run`'s other `[observability]`
/// flags. The macro writes the section struct (all keys optional, unknown
/// keys rejected), `or`, the defaults, the masking, the environment reading
/// and, per group, the args struct, the flags-to-`Layer` step and the copy
/// of the group's keys.
macro_rules! section {
    (
        $(#[$meta:meta])*
        [$layer_key:ident] $name:ident {
            $(
                $(#[doc = $group_doc:literal])*
                $group:ident {
                    $(
                        $(#[doc = $doc:literal])*
                        $(#[arg($($arg:tt)*)])*
                        $(#[serde($($serde:tt)*)])*
                        $key:ident: $ty:ty $(= $default:expr)? => $flag:ident, $env:literal $(, $mask:path)?;
                    )*
                }
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(
                $(#[doc = $doc])*
                $(#[serde($($serde)*)])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $key: Option<$ty>,
            )*)*
        }

        impl $name {
            /// The `ARCHIVER_*` variable of every key of the section.
            pub const VARIABLES: &'static [&'static str] = &[$($($env,)*)*];

            /// Each value from `self`, else from `lower`.
            pub fn or(self, lower: Self) -> Self {
                Self { $($($key: self.$key.or(lower.$key),)*)* }
            }

            /// The declared defaults; computed ones are left unset.
            pub fn defaults() -> Self {
                Self { $($($key: declared_default!($ty $(, $default)?),)*)* }
            }

            /// Every value that could hold a secret masked.
            fn mask(&mut self) {
                $($($(self.$key = self.$key.as_deref().map($mask);)?)*)*
            }

            /// Every key the environment gives.
            pub fn from_env(env: Env<'_>) -> Result<Self, ConfigError> {
                Ok(Self { $($($key: env.get($env)?,)*)* })
            }
        }

        $(
            $(#[doc = $group_doc])*
            #[derive(Debug, Clone, Default, clap::Args)]
            pub struct $group {
                $(
                    #[arg(
                        long,
                        help = flag_help(
                            concat!($($doc),*),
                            $env,
                            declared_default!($ty $(, $default)?).as_ref().map(Setting::render),
                        ),
                        value_parser = parse_setting::< <$ty as FlagValue>::Item >,
                    )]
                    $(#[arg($($arg)*)])*
                    pub $flag: Option<$ty>,
                )*
            }

            impl FlagGroup for $group {
                fn apply(&self, layer: &mut Layer) {
                    $(layer.$layer_key.$key = self.$flag.clone().map(FlagValue::from_flag);)*
                }

                fn copy_keys(from: &Layer, into: &mut Layer) {
                    $(into.$layer_key.$key = from.$layer_key.$key.clone();)*
                }
            }
        )*
    };
}

/// A declared default as the setting's value: `64`, `"archiver"`,
/// `&["sys.heartbeat"]`, or none.
macro_rules! declared_default {
    ($ty:ty) => {
        None::<$ty>
    };
    ($ty:ty, $default:expr) => {
        Some(<$ty as DefaultFrom<_>>::default_from($default))
    };
}

/// What a declaration may write as a default for a setting of type `Self`.
pub trait DefaultFrom<T> {
    fn default_from(value: T) -> Self;
}

impl<T> DefaultFrom<T> for T {
    fn default_from(value: T) -> T {
        value
    }
}

impl DefaultFrom<&str> for String {
    fn default_from(value: &str) -> String {
        value.to_owned()
    }
}

impl<const N: usize> DefaultFrom<[&str; N]> for Vec<String> {
    fn default_from(value: [&str; N]) -> Vec<String> {
        value.iter().map(|v| v.to_string()).collect()
    }
}

/// A group of flags: sets the keys its flags give.
pub trait FlagGroup {
    fn apply(&self, layer: &mut Layer);
    /// Copies the keys of this group's settings.
    fn copy_keys(from: &Layer, into: &mut Layer)
    where
        Self: Sized;
}

/// A flag's help: its declared text, its declared default, and the variable
/// that sets it too.
fn flag_help(doc: &str, env: &str, default: Option<String>) -> String {
    let doc = doc.trim().trim_end_matches('.');
    match default {
        Some(default) => format!("{doc} [default: {default}] [env: {env}]"),
        None => format!("{doc} [env: {env}]"),
    }
}

section! {
    /// `[kafka]`: the cluster and the consumer group.
    [kafka] KafkaSection {
        /// The cluster and the consumer group.
        KafkaArgs {
            /// Kafka bootstrap servers, host:port[,host:port...].
            #[arg(value_name = "HOSTS")]
            brokers: String => kafka_brokers, "ARCHIVER_KAFKA_BROKERS";
            /// plaintext, ssl, sasl-plaintext or sasl-ssl [default: sasl-ssl with a credential, else plaintext].
            #[arg(value_name = "PROTOCOL")]
            #[serde(with = "text")]
            security_protocol: SecurityProtocol => kafka_security_protocol, "ARCHIVER_KAFKA_SECURITY_PROTOCOL";
            /// SASL mechanism [default: SCRAM-SHA-512].
            #[arg(value_name = "MECHANISM")]
            sasl_mechanism: String => kafka_sasl_mechanism, "ARCHIVER_KAFKA_SASL_MECHANISM";
            /// Kafka username (the password comes from ARCHIVER_KAFKA_PASSWORD or auth.toml).
            #[arg(value_name = "NAME")]
            username: String => kafka_username, "ARCHIVER_KAFKA_USERNAME";
            /// CA certificate file for TLS.
            #[arg(value_name = "FILE")]
            ca_location: String => kafka_ca_location, "ARCHIVER_KAFKA_CA_LOCATION";
            /// Consumer group id.
            #[arg(value_name = "ID")]
            group_id: String = "archiver" => kafka_group_id, "ARCHIVER_KAFKA_GROUP_ID";
            /// Consumer session timeout.
            #[arg(value_name = "MS")]
            session_timeout_ms: u64 = 45_000 => kafka_session_timeout_ms, "ARCHIVER_KAFKA_SESSION_TIMEOUT_MS";
            /// group, or standalone: every partition, no group join, offsets still committed to the group.
            #[arg(value_name = "MODE")]
            #[serde(with = "text")]
            membership: Membership = Membership::Group => kafka_membership, "ARCHIVER_KAFKA_MEMBERSHIP";
        }
        /// Where the Kafka credential is looked up.
        AuthFileArgs {
            /// hop's auth.toml [default: $XDG_CONFIG_HOME/hop/auth.toml, else ~/.config/hop/auth.toml].
            #[arg(value_name = "FILE")]
            auth_file: PathBuf => auth_file, "ARCHIVER_AUTH_FILE";
        }
    }
}

section! {
    /// `[topics]`: which topics to archive, and how often to look again.
    [topics] TopicsSection {
        /// Which topics to archive.
        TopicsArgs {
            /// all, explicit or hopauth [default: explicit with --topics, hopauth with --hopauth-url, else all].
            #[arg(value_name = "MODE")]
            #[serde(with = "text")]
            select: TopicMode => topics_select, "ARCHIVER_TOPICS_SELECT";
            /// These topics (comma-separated), minus the veto list.
            #[arg(value_name = "NAMES")]
            names: Vec<String> => topics, "ARCHIVER_TOPICS";
            /// Topics never archived, whatever the selection: names or globs with `*`.
            // The heartbeat is public, so every credential sees it; it is noise.
            #[arg(value_name = "PATTERNS")]
            veto: Vec<String> = ["sys.heartbeat"] => topics_veto, "ARCHIVER_TOPICS_VETO";
            /// hopauth base URL; GET {url}/v1/topics tells which topics are archivable.
            #[arg(value_name = "URL")]
            hopauth_url: String => hopauth_url, "ARCHIVER_HOPAUTH_URL", mask_password;
            /// hopauth username [default: the Kafka credential].
            #[arg(value_name = "NAME")]
            hopauth_username: String => hopauth_username, "ARCHIVER_HOPAUTH_USERNAME";
            /// How often the topic set is looked at again.
            #[arg(value_name = "MS")]
            refresh_interval_ms: u64 = 60_000 => topics_refresh_interval_ms, "ARCHIVER_TOPICS_REFRESH_INTERVAL_MS";
        }
    }
}

section! {
    /// `[backends]`: where objects and index rows go.
    [backends] BackendsSection {
        /// Where objects and index rows go (`run` and `serve`).
        BackendsArgs {
            /// Index: postgres://… or sqlite://PATH.
            #[arg(visible_alias = "index", value_name = "URL")]
            index_url: String = "sqlite://./archive/index.db" => index_url, "ARCHIVER_INDEX_URL", mask_password;
            /// Object store: s3://BUCKET?endpoint=… or file://DIR.
            // Resolved against the working directory when loaded.
            #[arg(visible_alias = "store", value_name = "URL")]
            store_url: String = "file://./archive/objects" => store_url, "ARCHIVER_STORE_URL", mask_password;
        }
    }
}

section! {
    /// `[pipeline]`: concurrency, batching, retries.
    [pipeline] PipelineSection {
        /// Concurrency, batching, retries.
        PipelineArgs {
            /// Object writes in flight at most, 1..=4096.
            #[arg(value_name = "N")]
            in_flight_max: u64 = 64 => in_flight_max, "ARCHIVER_IN_FLIGHT_MAX";
            /// Index rows per batch at most, 1..=10000.
            #[arg(value_name = "N")]
            batch_rows_max: u64 = 500 => batch_rows_max, "ARCHIVER_BATCH_ROWS_MAX";
            /// Longest wait before a partial index batch is written.
            #[arg(value_name = "MS")]
            batch_wait_ms: u64 = 200 => batch_wait_ms, "ARCHIVER_BATCH_WAIT_MS";
            /// Archive messages marked `_test` too.
            #[arg(value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
            archive_test_messages: bool = false => archive_test_messages, "ARCHIVER_ARCHIVE_TEST_MESSAGES";
            /// First retry delay after a transient error.
            #[arg(value_name = "MS")]
            retry_initial_backoff_ms: u64 = 100 => retry_initial_backoff_ms, "ARCHIVER_RETRY_INITIAL_BACKOFF_MS";
            /// Longest retry delay.
            #[arg(value_name = "MS")]
            retry_max_backoff_ms: u64 = 30_000 => retry_max_backoff_ms, "ARCHIVER_RETRY_MAX_BACKOFF_MS";
        }
        /// Which topics anyone may read (`run` marks their rows, `serve` serves them).
        PublicTopicsArgs {
            /// Topics readable without a credential: names or globs (comma-separated).
            #[arg(value_name = "PATTERNS")]
            public_topics: Vec<String> => public_topics, "ARCHIVER_PUBLIC_TOPICS";
        }
        /// Which topics' text is indexed for search, and how much (everything that writes rows).
        TextIndexArgs {
            /// Topics whose text is indexed for search: names or globs (comma-separated) [default: the public topics].
            #[arg(value_name = "PATTERNS")]
            text_topics: Vec<String> => text_topics, "ARCHIVER_TEXT_TOPICS";
            /// Payloads this large or larger are not read for search, only their headers (upstream's text_index_message_size_limit).
            #[arg(value_name = "BYTES")]
            text_message_size_bytes_max: u64 = crate::text::MESSAGE_SIZE_BYTES_MAX_DEFAULT => text_message_size_bytes_max, "ARCHIVER_TEXT_MESSAGE_SIZE_BYTES_MAX";
            /// Characters of text indexed per message at most (upstream's text_index_size_limit).
            #[arg(value_name = "N")]
            text_chars_max: u64 = crate::text::TEXT_CHARS_MAX_DEFAULT => text_chars_max, "ARCHIVER_TEXT_CHARS_MAX";
        }
    }
}

section! {
    /// `[observability]`: metrics, liveness, logs, progress.
    [observability] ObservabilitySection {
        /// Metrics, progress.
        ObservabilityArgs {
            /// Where /metrics listens, or `none`.
            #[arg(value_name = "ADDR")]
            #[serde(with = "text")]
            metrics_addr: MetricsAddr = MetricsAddr::local(9464) => metrics_addr, "ARCHIVER_METRICS_ADDR";
            /// How often a one-line progress summary is logged.
            #[arg(value_name = "MS")]
            progress_interval_ms: u64 = 30_000 => progress_interval_ms, "ARCHIVER_PROGRESS_INTERVAL_MS";
        }
        /// The liveness file (`run` writes it, `health` reads it).
        LivenessArgs {
            /// File touched on a timer while the archiver is healthy.
            #[arg(value_name = "FILE")]
            liveness_file: PathBuf => liveness_file, "ARCHIVER_LIVENESS_FILE";
            /// How often the liveness file is refreshed.
            #[arg(value_name = "MS")]
            liveness_interval_ms: u64 = 10_000 => liveness_interval_ms, "ARCHIVER_LIVENESS_INTERVAL_MS";
        }
        /// How old the liveness file may be (`health`).
        LivenessAgeArgs {
            /// Oldest liveness file `archiver health` accepts [default: 3 × the liveness interval].
            #[arg(value_name = "MS")]
            liveness_max_age_ms: u64 => liveness_max_age_ms, "ARCHIVER_LIVENESS_MAX_AGE_MS";
        }
        /// The log format (`run` and `serve`).
        LogFormatArgs {
            /// text or json.
            #[arg(value_name = "FORMAT")]
            #[serde(with = "text")]
            log_format: LogFormat = LogFormat::Text => log_format, "ARCHIVER_LOG_FORMAT";
        }
    }
}

section! {
    /// `[run]`: when to stop (usually given as flags).
    [run] RunSection {
        /// When `archiver run` stops.
        StopArgs {
            /// Stop once every assigned partition is drained.
            #[arg(value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
            until_eos: bool = false => until_eos, "ARCHIVER_UNTIL_EOS";
            /// Stop after archiving this many messages.
            #[arg(value_name = "N")]
            max_messages: u64 => max_messages, "ARCHIVER_MAX_MESSAGES";
        }
    }
}

section! {
    /// `[serve]`: the HTTP API of `archiver serve` (ignored by `archiver run`).
    [serve] ServeSection {
        /// Who may do what.
        ServeAccessArgs {
            /// TOML file of bearer-token hashes and their permissions.
            #[arg(value_name = "FILE")]
            credentials_file: PathBuf => credentials_file, "ARCHIVER_CREDENTIALS_FILE";
            /// Realm named in `WWW-Authenticate`.
            #[arg(value_name = "REALM")]
            auth_realm: String = "hop-archiver" => auth_realm, "ARCHIVER_AUTH_REALM";
            /// Refuse uploads and retractions.
            #[arg(value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
            read_only: bool = false => read_only, "ARCHIVER_READ_ONLY";
        }
        /// The listener and its requests.
        ServerArgs {
            /// Address to listen on.
            #[arg(value_name = "ADDR")]
            listen_addr: String = "127.0.0.1:8000" => listen_addr, "ARCHIVER_LISTEN_ADDR";
            /// Largest accepted upload body.
            // Large enough for hop-client's offloaded messages; far below the
            // index's 2 GiB `size` column.
            #[arg(value_name = "BYTES")]
            upload_size_bytes_max: u64 = 64 * 1024 * 1024 => upload_size_bytes_max, "ARCHIVER_UPLOAD_SIZE_BYTES_MAX";
            /// A request taking longer is answered 408.
            #[arg(value_name = "MS")]
            request_timeout_ms: u64 = 30_000 => request_timeout_ms, "ARCHIVER_REQUEST_TIMEOUT_MS";
            /// Full messages per listing page at most, 1..=1000.
            // Upstream's cap; metadata-only pages may hold up to the index's `PAGE_ROWS_MAX`.
            #[arg(value_name = "N")]
            page_rows_max: u64 = 64 => page_rows_max, "ARCHIVER_PAGE_ROWS_MAX";
        }
        /// Bounds against hostile clients.
        ServeLimitsArgs {
            /// Connections served at once; at the limit the longest-idle one is closed.
            // So idle clients never lock out a request. Keep it below the
            // process's file-descriptor limit (`ulimit -n`).
            #[arg(value_name = "N")]
            connections_max: u64 = 1024 => connections_max, "ARCHIVER_CONNECTIONS_MAX";
            /// Longest wait for a request head or, on keep-alive, for the next request.
            #[arg(value_name = "MS")]
            header_read_timeout_ms: u64 = 10_000 => header_read_timeout_ms, "ARCHIVER_HEADER_READ_TIMEOUT_MS";
            /// Clients reading responses or sending uploads slower than this are dropped.
            #[arg(value_name = "BYTES")]
            client_rate_bytes_per_s_min: u64 = 4096 => client_rate_bytes_per_s_min, "ARCHIVER_CLIENT_RATE_BYTES_PER_S_MIN";
            /// The window over which that rate is judged.
            #[arg(value_name = "MS")]
            client_rate_window_ms: u64 = 10_000 => client_rate_window_ms, "ARCHIVER_CLIENT_RATE_WINDOW_MS";
            /// Uploads received at once; more get 503.
            #[arg(value_name = "N")]
            uploads_in_flight_max: u64 = 16 => uploads_in_flight_max, "ARCHIVER_UPLOADS_IN_FLIGHT_MAX";
            /// Largest response built in memory; listings page earlier.
            #[arg(value_name = "BYTES")]
            response_size_bytes_max: u64 = 32 * 1024 * 1024 => response_size_bytes_max, "ARCHIVER_RESPONSE_SIZE_BYTES_MAX";
            /// Memory for response bodies being built or sent, all requests together.
            #[arg(value_name = "BYTES")]
            response_memory_bytes_max: u64 = 512 * 1024 * 1024 => response_memory_bytes_max, "ARCHIVER_RESPONSE_MEMORY_BYTES_MAX";
        }
    }
}

section! {
    /// `[restore]`: how `archiver restore` reads and sends (ignored by `run` and `serve`).
    [restore] RestoreSection {
        /// Bounds and bookkeeping of a restore.
        RestoreLimitsArgs {
            /// Messages sent and not yet checkpointed at most: what a crash may send twice.
            #[arg(value_name = "N")]
            in_flight_messages_max: u64 = 1000 => in_flight_messages_max, "ARCHIVER_RESTORE_IN_FLIGHT_MESSAGES_MAX";
            /// Bytes of messages sent and not yet acknowledged at most.
            #[arg(value_name = "BYTES")]
            in_flight_bytes_max: u64 = 64 * 1024 * 1024 => in_flight_bytes_max, "ARCHIVER_RESTORE_IN_FLIGHT_BYTES_MAX";
            /// Objects read from the store at once.
            #[arg(value_name = "N")]
            fetch_concurrency: u64 = 64 => fetch_concurrency, "ARCHIVER_RESTORE_FETCH_CONCURRENCY";
            /// How long Kafka may take to acknowledge a message before the restore stops.
            #[arg(value_name = "MS")]
            delivery_timeout_ms: u64 = 60_000 => delivery_timeout_ms, "ARCHIVER_RESTORE_DELIVERY_TIMEOUT_MS";
            /// Directory of the job files (`--job`); default: $XDG_STATE_HOME/hop-archiver/restore.
            #[arg(value_name = "DIR")]
            state_dir: PathBuf => state_dir, "ARCHIVER_RESTORE_STATE_DIR";
            /// Where /metrics listens while the restore runs, or `none`.
            #[arg(value_name = "ADDR")]
            #[serde(with = "text")]
            metrics_addr: MetricsAddr = MetricsAddr(None) => metrics_addr, "ARCHIVER_RESTORE_METRICS_ADDR";
            /// How often a one-line progress summary is logged when stderr is not a terminal.
            #[arg(value_name = "MS")]
            progress_interval_ms: u64 = 10_000 => progress_interval_ms, "ARCHIVER_RESTORE_PROGRESS_INTERVAL_MS";
        }
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
    #[serde(default, skip_serializing_if = "is_default")]
    pub restore: RestoreSection,
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
            restore: self.restore.or(lower.restore),
        }
    }

    /// The declared defaults, to stack below every source: settings whose
    /// default is computed stay unset, for `resolve` to fill in.
    pub fn defaults() -> Layer {
        Layer {
            kafka: KafkaSection::defaults(),
            topics: TopicsSection::defaults(),
            backends: BackendsSection::defaults(),
            pipeline: PipelineSection::defaults(),
            observability: ObservabilitySection::defaults(),
            run: RunSection::defaults(),
            serve: ServeSection::defaults(),
            restore: RestoreSection::defaults(),
        }
    }

    /// The layer as a config file, with every value that could hold a
    /// secret masked (the keys declared with a mask: passwords in URLs).
    /// Sections left empty are left out.
    pub fn render_masked(&self) -> String {
        let mut layer = self.clone();
        layer.kafka.mask();
        layer.topics.mask();
        layer.backends.mask();
        layer.pipeline.mask();
        layer.observability.mask();
        layer.run.mask();
        layer.serve.mask();
        layer.restore.mask();
        let body = toml::to_string(&layer).unwrap_or_else(|e| format!("# cannot render: {e}\n"));
        let blocks: Vec<&str> = body.split("\n\n").filter(|block| block.contains('=')).collect();
        blocks.join("\n\n")
    }

    /// The `ARCHIVER_*` variable of every key, section by section.
    pub fn variables() -> impl Iterator<Item = &'static str> {
        [
            KafkaSection::VARIABLES,
            TopicsSection::VARIABLES,
            BackendsSection::VARIABLES,
            PipelineSection::VARIABLES,
            ObservabilitySection::VARIABLES,
            RunSection::VARIABLES,
            ServeSection::VARIABLES,
            RestoreSection::VARIABLES,
        ]
        .into_iter()
        .flatten()
        .copied()
    }

    /// Every key the environment gives.
    pub fn from_env(env: Env<'_>) -> Result<Layer, ConfigError> {
        Ok(Layer {
            kafka: KafkaSection::from_env(env)?,
            topics: TopicsSection::from_env(env)?,
            backends: BackendsSection::from_env(env)?,
            pipeline: PipelineSection::from_env(env)?,
            observability: ObservabilitySection::from_env(env)?,
            run: RunSection::from_env(env)?,
            serve: ServeSection::from_env(env)?,
            restore: RestoreSection::from_env(env)?,
        })
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

#[cfg(test)]
mod tests {
    use super::super::{RunArgs, ServeArgs};
    use clap::{Args, Command};

    /// Every setting's variable is its flag's name in upper case, as
    /// `SOURCES_HELP` promises, and the help shows it.
    #[test]
    fn every_flag_names_its_variable() {
        for command in [RunArgs::augment_args(Command::new("run")), ServeArgs::augment_args(Command::new("serve"))] {
            let mut checked = 0;
            for arg in command.get_arguments() {
                let Some(long) = arg.get_long().filter(|l| !["config", "print-config"].contains(l)) else { continue };
                let variable = format!("ARCHIVER_{}", long.replace('-', "_").to_ascii_uppercase());
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                assert!(help.ends_with(&format!("[env: {variable}]")), "--{long}: {help}");
                checked += 1;
            }
            assert!(checked > 10, "{}: {checked} settings", command.get_name());
        }
    }

    /// A declared default is filled in below every source and shown in the
    /// help; a computed one is neither.
    #[test]
    fn declared_defaults_in_layer_and_help() {
        let defaults = super::Layer::defaults();
        assert_eq!(defaults.pipeline.in_flight_max, Some(64));
        assert_eq!(defaults.topics.veto, Some(vec!["sys.heartbeat".to_owned()]));
        assert_eq!(defaults.kafka.security_protocol, None);
        let command = RunArgs::augment_args(Command::new("run"));
        let help = |long: &str| {
            let arg = command.get_arguments().find(|a| a.get_long() == Some(long)).unwrap();
            arg.get_help().unwrap().to_string()
        };
        assert_eq!(
            help("in-flight-max"),
            "Object writes in flight at most, 1..=4096 [default: 64] [env: ARCHIVER_IN_FLIGHT_MAX]"
        );
        assert!(help("metrics-addr").contains("[default: 127.0.0.1:9464]"));
        assert!(help("topics-veto").contains("[default: sys.heartbeat]"));
    }
}
