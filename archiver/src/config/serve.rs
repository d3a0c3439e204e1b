//! The configuration of `archiver serve`: the same sources and precedence as
//! `archiver run` (flags > `ARCHIVER_*` > the TOML file > defaults), sharing
//! `[backends]`, `[pipeline] public_topics` and `[observability] log_format`
//! with it, plus its own `[serve]` section.

use super::args::command_args;
use super::env::Env;
use super::file::{
    BackendsArgs, Layer, LogFormatArgs, PublicTopicsArgs, ServeAccessArgs, ServeLimitsArgs, ServeSection, ServerArgs,
    TextIndexArgs,
};
use super::resolve::{backends, count, out_of_range, patterns, ranged, required, text_indexing};
use super::{Backends, ConfigError, Effective, process_env, stack};
use crate::index::PAGE_ROWS_MAX;
use crate::telemetry::logging::LogFormat;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

command_args! {
    /// Flags of `archiver serve`, all optional (see [`load_serve`]).
    pub struct ServeArgs {
        /// TOML configuration file (the same file as `archiver run`'s; section [serve]).
        #[arg(long, value_name = "FILE")]
        pub config: Option<PathBuf>,
        /// Print the effective configuration (secrets masked) and exit.
        #[arg(long)]
        pub print_config: bool,
    }
    groups {
        backends: BackendsArgs => "Backends",
        public_topics: PublicTopicsArgs => "Access",
        text: TextIndexArgs => "Access",
        access: ServeAccessArgs => "Access",
        server: ServerArgs => "Server",
        log_format: LogFormatArgs => "Server",
        limits: ServeLimitsArgs => "Limits",
    }
}

/// The resolved bounds against hostile clients (`[serve]` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    pub connections_max: usize,
    pub header_read_timeout_ms: u64,
    pub client_rate_bytes_per_s_min: u64,
    pub client_rate_window_ms: u64,
    pub uploads_in_flight_max: usize,
    pub response_size_bytes_max: u64,
    pub response_memory_bytes_max: u64,
}

impl Default for ServeLimits {
    /// The declared defaults.
    fn default() -> ServeLimits {
        serve_defaults().limits
    }
}

/// The configuration of `archiver serve` from the declared defaults alone.
pub fn serve_defaults() -> ServeConfig {
    let defaults = ServeArgs::own_keys(&Layer::defaults());
    // The declared defaults are in range (`declared_defaults_resolve`).
    resolve(defaults, None).unwrap_or_else(|e| unreachable!("the declared defaults of `archiver serve`: {e}"))
}

fn resolve_limits(l: &ServeSection) -> Result<ServeLimits, ConfigError> {
    let response_size_bytes_max =
        ranged("serve.response_size_bytes_max", l.response_size_bytes_max, 64 * 1024..=1024 * 1024 * 1024)?;
    let memory_key = "serve.response_memory_bytes_max";
    let response_memory_bytes_max = ranged(memory_key, l.response_memory_bytes_max, 1024 * 1024..=1 << 40)?;
    // A listing holds its objects and its rendering: both must fit at once.
    if response_memory_bytes_max < 2 * response_size_bytes_max {
        return Err(out_of_range(
            memory_key,
            "at least twice serve.response_size_bytes_max",
            response_memory_bytes_max,
        ));
    }
    Ok(ServeLimits {
        connections_max: count("serve.connections_max", l.connections_max, 16..=1_000_000)?,
        header_read_timeout_ms: ranged("serve.header_read_timeout_ms", l.header_read_timeout_ms, 100..=600_000)?,
        client_rate_bytes_per_s_min: ranged(
            "serve.client_rate_bytes_per_s_min",
            l.client_rate_bytes_per_s_min,
            0..=1 << 30,
        )?,
        client_rate_window_ms: ranged("serve.client_rate_window_ms", l.client_rate_window_ms, 100..=600_000)?,
        uploads_in_flight_max: count("serve.uploads_in_flight_max", l.uploads_in_flight_max, 1..=1024)?,
        response_size_bytes_max,
        response_memory_bytes_max,
    })
}

/// The effective configuration of `archiver serve`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeConfig {
    pub config_file: Option<PathBuf>,
    pub backends: Backends,
    /// Topics anyone may read (names or globs).
    pub public_topics: Vec<String>,
    /// Topics whose uploads have their text indexed for search, and how much.
    pub text: crate::text::TextIndexing,
    pub log_format: LogFormat,
    pub listen_addr: SocketAddr,
    pub credentials_file: Option<PathBuf>,
    pub auth_realm: String,
    pub read_only: bool,
    pub upload_size_bytes_max: u64,
    pub request_timeout_ms: u64,
    pub page_rows_max: u32,
    pub limits: ServeLimits,
    /// The same configuration as keys, for [`ServeConfig::render_masked`].
    pub effective: Effective,
}

/// The configuration from `args`, the process environment, the config file
/// and the defaults.
pub fn load_serve(args: &ServeArgs) -> Result<ServeConfig, ConfigError> {
    load_serve_from(args, &process_env())
}

/// [`load_serve`] with the environment given as a map.
pub fn load_serve_from(args: &ServeArgs, vars: &BTreeMap<String, String>) -> Result<ServeConfig, ConfigError> {
    let (layer, config_file) = stack(args.layer(), args.config.as_ref(), Env::new(vars))?;
    resolve(layer, config_file)
}

/// `serve.listen_addr` as a socket address (`archiver health` asks there too).
pub(super) fn listen_addr(value: Option<String>) -> Result<SocketAddr, ConfigError> {
    let listen = required("serve.listen_addr", value)?;
    listen.trim().parse().map_err(|_| ConfigError::Invalid {
        origin: "serve.listen_addr".into(),
        message: format!("invalid value '{listen}': expected an address such as 127.0.0.1:8000"),
    })
}

fn resolve(layer: Layer, config_file: Option<PathBuf>) -> Result<ServeConfig, ConfigError> {
    let mut effective = ServeArgs::own_keys(&layer);
    let s = layer.serve;
    let limits = resolve_limits(&s)?;
    let listen_addr = listen_addr(s.listen_addr)?;
    let auth_realm = required("serve.auth_realm", s.auth_realm)?;
    // The realm is quoted in a response header: keep it to printable ASCII without quotes.
    if auth_realm.is_empty()
        || !auth_realm.chars().all(|c| c.is_ascii_graphic() || c == ' ')
        || auth_realm.contains('"')
    {
        return Err(ConfigError::Invalid {
            origin: "serve.auth_realm".into(),
            message: "expected printable ASCII without '\"'".into(),
        });
    }
    let page_rows_max = ranged("serve.page_rows_max", s.page_rows_max, 1..=u64::from(PAGE_ROWS_MAX))?;
    let backends = backends(layer.backends)?;
    let public_topics = patterns("pipeline.public_topics", layer.pipeline.public_topics.clone())?;
    let text = text_indexing(&layer.pipeline, &public_topics, &mut effective.pipeline)?;
    let credentials_file = s.credentials_file.filter(|p| !p.as_os_str().is_empty());
    // The computed and normalized keys, as resolved.
    effective.backends.store_url = Some(backends.store_url.clone());
    effective.pipeline.public_topics = Some(public_topics.clone());
    effective.serve.listen_addr = Some(listen_addr.to_string());
    effective.serve.credentials_file = credentials_file.clone();
    Ok(ServeConfig {
        config_file,
        backends,
        public_topics,
        text,
        log_format: required("observability.log_format", layer.observability.log_format)?,
        listen_addr,
        credentials_file,
        auth_realm,
        read_only: required("serve.read_only", s.read_only)?,
        upload_size_bytes_max: ranged(
            "serve.upload_size_bytes_max",
            s.upload_size_bytes_max,
            1024..=1024 * 1024 * 1024,
        )?,
        request_timeout_ms: ranged("serve.request_timeout_ms", s.request_timeout_ms, 100..=600_000)?,
        page_rows_max: u32::try_from(page_rows_max).map_err(|_| out_of_range("serve.page_rows_max", "a u32", 0))?,
        limits,
        effective: Effective(effective),
    })
}

impl ServeConfig {
    /// The effective configuration as a loadable TOML file, passwords in
    /// backend URLs masked. The credentials file holds only hashes and is
    /// named, never read out.
    pub fn render_masked(&self) -> String {
        let body = self.effective.render_masked();
        let file = self.config_file.as_ref().map_or_else(|| "no config file".into(), |p| p.display().to_string());
        format!(
            "# Effective configuration of `archiver serve`.\n# Sources: flags > ARCHIVER_* environment > {file} > defaults.\n\n{body}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `serve_defaults` (and `ServeLimits::default`, `ApiLimits::default`)
    /// cannot fail: the declared defaults are in range.
    #[test]
    fn declared_defaults_resolve() {
        let config = resolve(ServeArgs::own_keys(&Layer::defaults()), None).unwrap();
        assert_eq!(config.limits.connections_max, 1024);
        assert_eq!(config.listen_addr.to_string(), "127.0.0.1:8000");
    }
}
