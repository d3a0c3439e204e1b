//! The configuration of `archiver restore`: the same sources and
//! precedence as `archiver run` (flags > `ARCHIVER_*` > the TOML file >
//! defaults), sharing `[kafka]` (the target cluster is reached exactly as
//! `run` reaches its source: SASL_SSL/SCRAM, hop's auth.toml), `[backends]`
//! and `log_format`, plus its own `[restore]` section. What to restore
//! (topics, window, target) is given per job on the command line
//! (`ops::restore::JobArgs`), never in the file.

use super::args::command_args;
use super::env::Env;
use super::file::{AuthFileArgs, BackendsArgs, KafkaArgs, LogFormatArgs, RestoreLimitsArgs};
use super::resolve::{INTERVAL_MS, backends, count, kafka, ranged, required};
use super::{Backends, ConfigError, Effective, KafkaSettings, process_env, stack};
use crate::telemetry::logging::LogFormat;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

command_args! {
    /// Settings of `archiver restore` (see [`load_restore`]).
    pub struct RestoreArgs {
        /// TOML configuration file (the same file as `archiver run`'s; section [restore]).
        #[arg(long, value_name = "FILE")]
        pub config: Option<PathBuf>,
    }
    groups {
        auth: AuthFileArgs,
        kafka: KafkaArgs => "Target Kafka",
        backends: BackendsArgs => "Backends",
        limits: RestoreLimitsArgs => "Restore limits",
        log_format: LogFormatArgs => "Restore limits",
    }
}

/// Bounds of a restore (`[restore]` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoreLimits {
    pub in_flight_messages_max: usize,
    pub in_flight_bytes_max: usize,
    pub fetch_concurrency: usize,
    pub delivery_timeout_ms: u64,
}

/// The effective configuration of `archiver restore`.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreConfig {
    pub config_file: Option<PathBuf>,
    /// The target cluster; `None` when the job needs none (an export, a dry run).
    pub kafka: Option<KafkaSettings>,
    pub backends: Backends,
    pub limits: RestoreLimits,
    /// Where job files are kept.
    pub state_dir: PathBuf,
    pub metrics_addr: Option<SocketAddr>,
    pub progress_interval_ms: u64,
    pub log_format: LogFormat,
    pub effective: Effective,
}

/// The configuration from `args`, the process environment, the config file
/// and the defaults; the Kafka settings are resolved (and required) only
/// when `needs_kafka`.
pub fn load_restore(args: &RestoreArgs, needs_kafka: bool) -> Result<RestoreConfig, ConfigError> {
    load_restore_from(args, needs_kafka, &process_env())
}

/// [`load_restore`] with the environment given as a map.
pub fn load_restore_from(
    args: &RestoreArgs,
    needs_kafka: bool,
    vars: &BTreeMap<String, String>,
) -> Result<RestoreConfig, ConfigError> {
    let env = Env::new(vars);
    let (layer, config_file) = stack(args.layer(), args.config.as_ref(), env)?;
    let kafka = needs_kafka.then(|| kafka(&layer.kafka, env)).transpose()?;
    let r = &layer.restore;
    let limits = RestoreLimits {
        in_flight_messages_max: count("restore.in_flight_messages_max", r.in_flight_messages_max, 1..=1_000_000)?,
        in_flight_bytes_max: count("restore.in_flight_bytes_max", r.in_flight_bytes_max, 1 << 20..=1 << 34)?,
        fetch_concurrency: count("restore.fetch_concurrency", r.fetch_concurrency, 1..=1024)?,
        delivery_timeout_ms: ranged("restore.delivery_timeout_ms", r.delivery_timeout_ms, 1_000..=3_600_000)?,
    };
    let state_dir =
        r.state_dir.clone().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| default_state_dir(env), Ok)?;
    let effective = RestoreArgs::own_keys(&layer);
    Ok(RestoreConfig {
        config_file,
        kafka,
        backends: backends(layer.backends.clone())?,
        limits,
        state_dir,
        metrics_addr: required("restore.metrics_addr", r.metrics_addr)?.0,
        progress_interval_ms: ranged("restore.progress_interval_ms", r.progress_interval_ms, INTERVAL_MS)?,
        log_format: required("observability.log_format", layer.observability.log_format)?,
        effective: Effective(effective),
    })
}

/// `$XDG_STATE_HOME/hop-archiver/restore`, else `$HOME/.local/state/hop-archiver/restore`.
fn default_state_dir(env: Env<'_>) -> Result<PathBuf, ConfigError> {
    let state_home = env.raw("XDG_STATE_HOME").map(PathBuf::from);
    let state_home = state_home.or_else(|| env.raw("HOME").map(|home| Path::new(home).join(".local/state")));
    state_home.map(|dir| dir.join("hop-archiver/restore")).ok_or_else(|| {
        ConfigError::Incomplete("restore.state_dir is not set and neither XDG_STATE_HOME nor HOME is".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn kafka_is_required_only_when_the_job_sends_to_kafka() {
        let env = vars(&[("HOME", "/home/op"), ("ARCHIVER_STORE_URL", "file:///srv/objects")]);
        let export = load_restore_from(&RestoreArgs::default(), false, &env).unwrap();
        assert_eq!(export.kafka, None);
        assert_eq!(export.state_dir, PathBuf::from("/home/op/.local/state/hop-archiver/restore"));
        let err = load_restore_from(&RestoreArgs::default(), true, &env).unwrap_err();
        assert!(err.to_string().contains("kafka.brokers is not set"), "{err}");
    }

    #[test]
    fn limits_are_range_checked() {
        let env = vars(&[("HOME", "/h"), ("ARCHIVER_RESTORE_IN_FLIGHT_MESSAGES_MAX", "0")]);
        let err = load_restore_from(&RestoreArgs::default(), false, &env).unwrap_err();
        assert!(err.to_string().contains("restore.in_flight_messages_max"), "{err}");
    }
}
