//! The configuration of `archiver serve`: the same sources and precedence as
//! `archiver run` (flags > `ARCHIVER_*` > the TOML file > defaults), sharing
//! `[backends]`, `[pipeline] public_topics` and `[observability] log_format`
//! with it, plus its own `[serve]` section.

use super::env::Env;
use super::file::{
    BackendsArgs, BackendsSection, FlagGroup, Layer, LogFormatArgs, ObservabilitySection, PipelineSection,
    PublicTopicsArgs, ServeAccessArgs, ServeLimitsArgs, ServeSection, ServerArgs, flags_layer,
};
use super::resolve::{backends, out_of_range, patterns, ranged};
use super::{Backends, ConfigError, process_env, stack};
use crate::index::PAGE_ROWS_MAX;
use crate::telemetry::logging::LogFormat;
use crate::telemetry::redact::mask_password;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Built-in defaults of `archiver serve`.
pub mod serve_defaults {
    pub const LISTEN_ADDR: &str = "127.0.0.1:8000";
    /// Large enough for hop-client's offloaded messages; far below the
    /// index's 2 GiB `size` column.
    pub const UPLOAD_SIZE_BYTES_MAX: u64 = 64 * 1024 * 1024;
    pub const REQUEST_TIMEOUT_MS: u64 = 30_000;
    /// Full messages per listing page (upstream's cap); metadata-only pages
    /// may hold up to the index's `PAGE_ROWS_MAX`.
    pub const PAGE_ROWS_MAX: u64 = 64;
    pub const AUTH_REALM: &str = "hop-archiver";
    /// Connections served at once; at the limit the longest-idle one is
    /// closed, so idle clients never lock out a request. Keep it below the
    /// process's file-descriptor limit (`ulimit -n`).
    pub const CONNECTIONS_MAX: u64 = 1024;
    /// Longest wait for a request head, and idle keep-alive between requests.
    pub const HEADER_READ_TIMEOUT_MS: u64 = 10_000;
    /// Slowest accepted reader of a response or sender of an upload body...
    pub const CLIENT_RATE_BYTES_PER_S_MIN: u64 = 4096;
    /// ...judged over windows of this much time spent waiting for it.
    pub const CLIENT_RATE_WINDOW_MS: u64 = 10_000;
    pub const UPLOADS_IN_FLIGHT_MAX: u64 = 16;
    /// Largest response built in memory (listings page earlier).
    pub const RESPONSE_SIZE_BYTES_MAX: u64 = 32 * 1024 * 1024;
    /// Memory for response bodies being built or written, all requests together.
    pub const RESPONSE_MEMORY_BYTES_MAX: u64 = 512 * 1024 * 1024;
}

/// Flags of `archiver serve`, all optional (see [`load_serve`]).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file (the same file as `archiver run`'s; section [serve]).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the effective configuration (secrets masked) and exit.
    #[arg(long)]
    pub print_config: bool,
    #[command(flatten, next_help_heading = "Backends")]
    pub backends: BackendsArgs,
    #[command(flatten, next_help_heading = "Access")]
    pub public_topics: PublicTopicsArgs,
    #[command(flatten, next_help_heading = "Access")]
    pub access: ServeAccessArgs,
    #[command(flatten, next_help_heading = "Server")]
    pub server: ServerArgs,
    #[command(flatten, next_help_heading = "Server")]
    pub log_format: LogFormatArgs,
    #[command(flatten, next_help_heading = "Limits")]
    pub limits: ServeLimitsArgs,
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
    fn default() -> ServeLimits {
        use serve_defaults as d;
        ServeLimits {
            connections_max: d::CONNECTIONS_MAX as usize,
            header_read_timeout_ms: d::HEADER_READ_TIMEOUT_MS,
            client_rate_bytes_per_s_min: d::CLIENT_RATE_BYTES_PER_S_MIN,
            client_rate_window_ms: d::CLIENT_RATE_WINDOW_MS,
            uploads_in_flight_max: d::UPLOADS_IN_FLIGHT_MAX as usize,
            response_size_bytes_max: d::RESPONSE_SIZE_BYTES_MAX,
            response_memory_bytes_max: d::RESPONSE_MEMORY_BYTES_MAX,
        }
    }
}

fn resolve_limits(l: &ServeSection) -> Result<ServeLimits, ConfigError> {
    use serve_defaults as d;
    let usize_of =
        |key: &'static str, value: u64| usize::try_from(value).map_err(|_| out_of_range(key, "addressable", value));
    let response_size_bytes_max = ranged(
        "serve.response_size_bytes_max",
        l.response_size_bytes_max,
        d::RESPONSE_SIZE_BYTES_MAX,
        64 * 1024..=1024 * 1024 * 1024,
    )?;
    let memory_key = "serve.response_memory_bytes_max";
    let response_memory_bytes_max =
        ranged(memory_key, l.response_memory_bytes_max, d::RESPONSE_MEMORY_BYTES_MAX, 1024 * 1024..=1 << 40)?;
    // A listing holds its objects and its rendering: both must fit at once.
    if response_memory_bytes_max < 2 * response_size_bytes_max {
        return Err(out_of_range(
            memory_key,
            "at least twice serve.response_size_bytes_max",
            response_memory_bytes_max,
        ));
    }
    let connections_key = "serve.connections_max";
    let uploads_key = "serve.uploads_in_flight_max";
    Ok(ServeLimits {
        connections_max: usize_of(
            connections_key,
            ranged(connections_key, l.connections_max, d::CONNECTIONS_MAX, 16..=1_000_000)?,
        )?,
        header_read_timeout_ms: ranged(
            "serve.header_read_timeout_ms",
            l.header_read_timeout_ms,
            d::HEADER_READ_TIMEOUT_MS,
            100..=600_000,
        )?,
        client_rate_bytes_per_s_min: ranged(
            "serve.client_rate_bytes_per_s_min",
            l.client_rate_bytes_per_s_min,
            d::CLIENT_RATE_BYTES_PER_S_MIN,
            0..=1 << 30,
        )?,
        client_rate_window_ms: ranged(
            "serve.client_rate_window_ms",
            l.client_rate_window_ms,
            d::CLIENT_RATE_WINDOW_MS,
            100..=600_000,
        )?,
        uploads_in_flight_max: usize_of(
            uploads_key,
            ranged(uploads_key, l.uploads_in_flight_max, d::UPLOADS_IN_FLIGHT_MAX, 1..=1024)?,
        )?,
        response_size_bytes_max,
        response_memory_bytes_max,
    })
}

impl ServeArgs {
    /// The settings given as flags.
    fn layer(&self) -> Layer {
        let groups: [&dyn FlagGroup; 6] =
            [&self.backends, &self.public_topics, &self.access, &self.server, &self.log_format, &self.limits];
        flags_layer(&groups)
    }
}

/// The effective configuration of `archiver serve`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeConfig {
    pub config_file: Option<PathBuf>,
    pub backends: Backends,
    /// Topics anyone may read (names or globs).
    pub public_topics: Vec<String>,
    pub log_format: LogFormat,
    pub listen_addr: SocketAddr,
    pub credentials_file: Option<PathBuf>,
    pub auth_realm: String,
    pub read_only: bool,
    pub upload_size_bytes_max: u64,
    pub request_timeout_ms: u64,
    pub page_rows_max: u32,
    pub limits: ServeLimits,
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

fn resolve(layer: Layer, config_file: Option<PathBuf>) -> Result<ServeConfig, ConfigError> {
    let s = layer.serve;
    let limits = resolve_limits(&s)?;
    let listen = s.listen_addr.unwrap_or_else(|| serve_defaults::LISTEN_ADDR.into());
    let listen_addr = listen.trim().parse().map_err(|_| ConfigError::Invalid {
        origin: "serve.listen_addr".into(),
        message: format!("invalid value '{listen}': expected an address such as 127.0.0.1:8000"),
    })?;
    let auth_realm = s.auth_realm.unwrap_or_else(|| serve_defaults::AUTH_REALM.into());
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
    let page_rows_max =
        ranged("serve.page_rows_max", s.page_rows_max, serve_defaults::PAGE_ROWS_MAX, 1..=u64::from(PAGE_ROWS_MAX))?;
    Ok(ServeConfig {
        config_file,
        backends: backends(layer.backends)?,
        public_topics: patterns("pipeline.public_topics", layer.pipeline.public_topics, Vec::new)?,
        log_format: layer.observability.log_format.unwrap_or_default(),
        listen_addr,
        credentials_file: s.credentials_file.filter(|p| !p.as_os_str().is_empty()),
        auth_realm,
        read_only: s.read_only.unwrap_or(false),
        upload_size_bytes_max: ranged(
            "serve.upload_size_bytes_max",
            s.upload_size_bytes_max,
            serve_defaults::UPLOAD_SIZE_BYTES_MAX,
            1024..=1024 * 1024 * 1024,
        )?,
        request_timeout_ms: ranged(
            "serve.request_timeout_ms",
            s.request_timeout_ms,
            serve_defaults::REQUEST_TIMEOUT_MS,
            100..=600_000,
        )?,
        page_rows_max: u32::try_from(page_rows_max).map_err(|_| out_of_range("serve.page_rows_max", "a u32", 0))?,
        limits,
    })
}

impl ServeConfig {
    /// The effective configuration as a loadable TOML file, passwords in
    /// backend URLs masked. The credentials file holds only hashes and is
    /// named, never read out.
    pub fn render_masked(&self) -> String {
        let layer = Layer {
            backends: BackendsSection {
                index_url: Some(mask_password(&self.backends.index_url)),
                store_url: Some(mask_password(&self.backends.store_url)),
            },
            pipeline: PipelineSection { public_topics: Some(self.public_topics.clone()), ..Default::default() },
            observability: ObservabilitySection { log_format: Some(self.log_format), ..Default::default() },
            serve: self.serve_section(),
            ..Default::default()
        };
        let body = toml::to_string(&layer).unwrap_or_else(|e| format!("# cannot render: {e}\n"));
        // Sections `serve` does not read come out as bare headers: leave them out.
        let body: Vec<&str> = body.split("\n\n").filter(|block| block.contains('=')).collect();
        let body = body.join("\n\n");
        let file = self.config_file.as_ref().map_or_else(|| "no config file".into(), |p| p.display().to_string());
        format!(
            "# Effective configuration of `archiver serve`.\n# Sources: flags > ARCHIVER_* environment > {file} > defaults.\n\n{body}"
        )
    }

    /// The `[serve]` section that gives this configuration.
    fn serve_section(&self) -> ServeSection {
        let l = &self.limits;
        ServeSection {
            listen_addr: Some(self.listen_addr.to_string()),
            credentials_file: self.credentials_file.clone(),
            read_only: Some(self.read_only),
            upload_size_bytes_max: Some(self.upload_size_bytes_max),
            request_timeout_ms: Some(self.request_timeout_ms),
            page_rows_max: Some(u64::from(self.page_rows_max)),
            auth_realm: Some(self.auth_realm.clone()),
            connections_max: Some(l.connections_max as u64),
            header_read_timeout_ms: Some(l.header_read_timeout_ms),
            client_rate_bytes_per_s_min: Some(l.client_rate_bytes_per_s_min),
            client_rate_window_ms: Some(l.client_rate_window_ms),
            uploads_in_flight_max: Some(l.uploads_in_flight_max as u64),
            response_size_bytes_max: Some(l.response_size_bytes_max),
            response_memory_bytes_max: Some(l.response_memory_bytes_max),
        }
    }
}
