//! The configuration of `archiver health`: what a container's health check
//! asks, from the same sources as `run` and `serve` (flags > `ARCHIVER_*` >
//! the TOML file > defaults), so that one check line serves both roles.
//!
//! With a liveness file configured (`archiver run`'s
//! `ARCHIVER_LIVENESS_FILE`) its age is checked; without one (`archiver
//! serve`), the API's `/health_check` at `serve.listen_addr`, asked on
//! loopback when the server listens on every address. `--url` asks that URL
//! whatever the settings say.

use super::args::command_args;
use super::env::Env;
use super::file::{Layer, LivenessAgeArgs, LivenessArgs};
use super::resolve::{INTERVAL_MS, out_of_range, ranged};
use super::serve::listen_addr;
use super::{ConfigError, process_env, stack};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

/// How long the API may take to answer, unless `--timeout-ms` says.
const TIMEOUT_MS_DEFAULT: u64 = 5_000;
/// The liveness file's oldest acceptable age, in liveness intervals, unless
/// configured: one late refresh on a loaded machine is not a failure.
const MAX_AGE_INTERVALS: u64 = 3;

command_args! {
    /// Flags of `archiver health`, all optional (see [`load_health`]).
    pub struct HealthArgs {
        /// TOML configuration file (the same file as `archiver run`'s and `serve`'s).
        #[arg(long, value_name = "FILE")]
        pub config: Option<PathBuf>,
        /// Ask this URL (healthy when it answers 200) instead of what the settings imply.
        #[arg(long, value_name = "URL")]
        pub url: Option<String>,
        /// How long the API may take to answer [default: 5000].
        #[arg(long, value_name = "MS")]
        pub timeout_ms: Option<u64>,
    }
    groups {
        liveness: LivenessArgs => "Liveness file (archiver run)",
        age: LivenessAgeArgs => "Liveness file (archiver run)",
    }
}

/// What `archiver health` checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthCheck {
    /// `archiver run`: the timestamp in `file` is at most `max_age_ms` old.
    Liveness { file: PathBuf, max_age_ms: u64 },
    /// `archiver serve`: a GET of `url` answers 200 within `timeout_ms`.
    Api { url: String, timeout_ms: u64 },
}

/// The check from `args`, the process environment, the config file and the
/// defaults.
pub fn load_health(args: &HealthArgs) -> Result<HealthCheck, ConfigError> {
    load_health_from(args, &process_env())
}

/// [`load_health`] with the environment given as a map.
pub fn load_health_from(args: &HealthArgs, vars: &BTreeMap<String, String>) -> Result<HealthCheck, ConfigError> {
    let (layer, _) = stack(args.layer(), args.config.as_ref(), Env::new(vars))?;
    let timeout_ms = ranged("--timeout-ms", Some(args.timeout_ms.unwrap_or(TIMEOUT_MS_DEFAULT)), 1..=600_000)?;
    if let Some(url) = &args.url {
        return Ok(HealthCheck::Api { url: url.clone(), timeout_ms });
    }
    match liveness(&HealthArgs::own_keys(&layer))? {
        Some(check) => Ok(check),
        None => Ok(HealthCheck::Api { url: health_check_url(listen_addr(layer.serve.listen_addr)?), timeout_ms }),
    }
}

/// The liveness check, if a liveness file is configured.
fn liveness(own: &Layer) -> Result<Option<HealthCheck>, ConfigError> {
    let o = &own.observability;
    let Some(file) = o.liveness_file.clone().filter(|p| !p.as_os_str().is_empty()) else { return Ok(None) };
    let interval_ms = ranged("observability.liveness_interval_ms", o.liveness_interval_ms, INTERVAL_MS)?;
    let max_age_ms = match o.liveness_max_age_ms {
        // Younger than one interval: a healthy archiver would fail between two refreshes.
        Some(age) if age < interval_ms => {
            return Err(out_of_range(
                "observability.liveness_max_age_ms",
                "at least observability.liveness_interval_ms",
                age,
            ));
        }
        Some(age) => age,
        None => interval_ms.saturating_mul(MAX_AGE_INTERVALS),
    };
    Ok(Some(HealthCheck::Liveness { file, max_age_ms }))
}

/// `/health_check` where the server listens; a server on every address is
/// asked on loopback, the one address a check inside its container reaches.
fn health_check_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/health_check", SocketAddr::new(ip, listen.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pairs: &[(&str, &str)]) -> Result<HealthCheck, ConfigError> {
        let vars = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        load_health_from(&HealthArgs::default(), &vars)
    }

    fn api(url: &str) -> HealthCheck {
        HealthCheck::Api { url: url.into(), timeout_ms: 5_000 }
    }

    #[test]
    fn without_a_liveness_file_the_api_is_asked_on_loopback() {
        assert_eq!(check(&[]).unwrap(), api("http://127.0.0.1:8000/health_check"));
        assert_eq!(
            check(&[("ARCHIVER_LISTEN_ADDR", "0.0.0.0:8080")]).unwrap(),
            api("http://127.0.0.1:8080/health_check")
        );
        assert_eq!(check(&[("ARCHIVER_LISTEN_ADDR", "[::]:81")]).unwrap(), api("http://[::1]:81/health_check"));
        assert_eq!(check(&[("ARCHIVER_LISTEN_ADDR", "10.1.2.3:82")]).unwrap(), api("http://10.1.2.3:82/health_check"));
        let err = check(&[("ARCHIVER_LISTEN_ADDR", "nowhere")]).unwrap_err();
        assert!(err.to_string().contains("serve.listen_addr"), "{err}");
        // An empty variable (`ARCHIVER_LIVENESS_FILE=` in a compose file) is no file.
        assert_eq!(check(&[("ARCHIVER_LIVENESS_FILE", "")]).unwrap(), api("http://127.0.0.1:8000/health_check"));
    }

    #[test]
    fn a_liveness_file_is_checked_with_three_intervals_unless_configured() {
        let file = ("ARCHIVER_LIVENESS_FILE", "/tmp/alive");
        let liveness = |max_age_ms| HealthCheck::Liveness { file: "/tmp/alive".into(), max_age_ms };
        assert_eq!(check(&[file]).unwrap(), liveness(30_000));
        assert_eq!(check(&[file, ("ARCHIVER_LIVENESS_INTERVAL_MS", "1000")]).unwrap(), liveness(3_000));
        assert_eq!(check(&[file, ("ARCHIVER_LIVENESS_MAX_AGE_MS", "12000")]).unwrap(), liveness(12_000));
        let err = check(&[file, ("ARCHIVER_LIVENESS_MAX_AGE_MS", "9999")]).unwrap_err();
        assert!(err.to_string().contains("observability.liveness_max_age_ms"), "{err}");
    }

    #[test]
    fn a_url_flag_wins_over_the_liveness_file() {
        let args = HealthArgs { url: Some("http://api:9/h".into()), timeout_ms: Some(50), ..HealthArgs::default() };
        let vars = [("ARCHIVER_LIVENESS_FILE".to_owned(), "/tmp/alive".to_owned())].into();
        let expected = HealthCheck::Api { url: "http://api:9/h".into(), timeout_ms: 50 };
        assert_eq!(load_health_from(&args, &vars).unwrap(), expected);
    }
}
