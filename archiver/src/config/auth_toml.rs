//! hop's credential file, `auth.toml`: `[[auth]]` entries with `username`,
//! `password`, and optionally `hostname`, `protocol`, `mechanism`,
//! `ssl_ca_location` (hop-client `hop/auth.py`). Read the way hop reads it,
//! so a credential set up with `hop auth add` works unchanged.
//!
//! Errors from here name the file, the entry and the key, never a value:
//! the values are secrets.

use super::ConfigError;
use super::env::Env;
use super::value::Setting;
use crate::source::SecurityProtocol;
use std::fmt;
use std::path::{Path, PathBuf};

/// The port hop assumes when a hostname has none.
const DEFAULT_PORT: &str = "9092";

/// One `[[auth]]` entry. `Debug` masks the password.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthEntry {
    pub username: String,
    pub password: String,
    /// hop's `protocol`; hop assumes `SASL_SSL` when it is missing.
    pub protocol: SecurityProtocol,
    /// librdkafka's spelling (`SCRAM-SHA-512`) of hop's `mechanism`.
    pub mechanism: String,
    pub hostname: Option<String>,
    pub ssl_ca_location: Option<String>,
}

impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthEntry")
            .field("username", &self.username)
            .field("password", &"***")
            .field("protocol", &self.protocol)
            .field("mechanism", &self.mechanism)
            .field("hostname", &self.hostname)
            .field("ssl_ca_location", &self.ssl_ca_location)
            .finish()
    }
}

/// Where hop keeps it: `$XDG_CONFIG_HOME/hop/auth.toml`, else
/// `$HOME/.config/hop/auth.toml`.
pub fn default_path(env: Env<'_>) -> Option<PathBuf> {
    let config_home = env.raw("XDG_CONFIG_HOME").map(PathBuf::from);
    let config_home = config_home.or_else(|| env.raw("HOME").map(|home| Path::new(home).join(".config")))?;
    Some(config_home.join("hop").join("auth.toml"))
}

/// Reads the entries of the auth file at `path`. Like hop, refuses a file
/// that others could read.
pub fn read(path: &Path) -> Result<Vec<AuthEntry>, ConfigError> {
    check_permissions(path)?;
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
    parse(path, &text)
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o7077 != 0 {
        let message = format!("has unsafe permissions {mode:o}; make it readable by its owner only (chmod 600)");
        return Err(auth_error(path, message));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<(), ConfigError> {
    Ok(())
}

/// Parses auth file text: `[[auth]]` entries, or hop's older single `[auth]`.
pub fn parse(path: &Path, text: &str) -> Result<Vec<AuthEntry>, ConfigError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| text.bytes().take(s.start).filter(|&b| b == b'\n').count() + 1);
        auth_error(path, format!("is not valid TOML (line {})", line.unwrap_or(0)))
    })?;
    let tables: Vec<&toml::Table> = match table.get("auth") {
        Some(toml::Value::Array(items)) => items.iter().filter_map(toml::Value::as_table).collect(),
        Some(toml::Value::Table(one)) => vec![one],
        _ => return Err(auth_error(path, "has no [[auth]] entries".into())),
    };
    tables
        .into_iter()
        .enumerate()
        .map(|(i, t)| entry(t).map_err(|m| auth_error(path, format!("entry {}: {m}", i + 1))))
        .collect()
}

fn entry(table: &toml::Table) -> Result<AuthEntry, String> {
    let protocol = match string(table, "protocol")? {
        None => SecurityProtocol::SaslSsl,
        Some(text) => SecurityProtocol::parse(&text).ok_or_else(|| format!("unknown protocol {text:?}"))?,
    };
    let mechanism = string(table, "mechanism")?.map_or_else(|| "SCRAM-SHA-512".into(), |m| m.replace('_', "-"));
    Ok(AuthEntry {
        username: string(table, "username")?.ok_or("has no `username`")?,
        password: string(table, "password")?.ok_or("has no `password`")?,
        protocol,
        mechanism,
        hostname: string(table, "hostname")?.filter(|h| !h.is_empty()),
        ssl_ca_location: string(table, "ssl_ca_location")?,
    })
}

/// The string at `key`; the error names the key only.
fn string(table: &toml::Table, key: &str) -> Result<Option<String>, String> {
    match table.get(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("`{key}` is not a string")),
    }
}

fn auth_error(path: &Path, message: String) -> ConfigError {
    ConfigError::AuthFile { path: path.into(), message }
}

/// Why no single entry suits a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoMatch {
    /// No entry is for this host (and user).
    None,
    /// Several are; their usernames and hostnames.
    Ambiguous(Vec<String>),
}

/// The entry to use for `broker` (`host[:port]`), as hop's
/// `select_matching_auth` chooses it: entries whose hostname matches
/// (port 9092 assumed where one side gives none) win over entries without a
/// hostname; `username`, when given, must match too.
pub fn select<'a>(entries: &'a [AuthEntry], broker: &str, username: Option<&str>) -> Result<&'a AuthEntry, NoMatch> {
    let user_ok = |e: &AuthEntry| username.is_none_or(|u| e.username == u);
    let exact: Vec<&AuthEntry> = entries
        .iter()
        .filter(|e| e.hostname.as_deref().is_some_and(|h| host_matches(h, broker)) && user_ok(e))
        .collect();
    let inexact: Vec<&AuthEntry> = entries.iter().filter(|e| e.hostname.is_none() && user_ok(e)).collect();
    let matches = if exact.is_empty() { inexact } else { exact };
    match matches.as_slice() {
        [] => Err(NoMatch::None),
        [one] => Ok(one),
        many => Err(NoMatch::Ambiguous(many.iter().map(|e| describe(e)).collect())),
    }
}

fn describe(entry: &AuthEntry) -> String {
    match &entry.hostname {
        Some(host) => format!("{} for {host}", entry.username),
        None => format!("{} (no hostname)", entry.username),
    }
}

/// Whether an entry's `hostname` names `target`, both `host[:port]`.
fn host_matches(hostname: &str, target: &str) -> bool {
    let (cred_host, cred_port) = split_host_port(hostname);
    let (target_host, target_port) = split_host_port(target);
    if cred_host.is_empty() || !cred_host.eq_ignore_ascii_case(target_host) {
        return false;
    }
    match (cred_port, target_port) {
        (Some(a), Some(b)) => a == b,
        (None, None) => true,
        (Some(port), None) | (None, Some(port)) => port == DEFAULT_PORT,
    }
}

/// `host[:port]` or `[v6]:port` into its parts; `("", None)` when neither.
fn split_host_port(text: &str) -> (&str, Option<&str>) {
    let (host, rest) = match text.strip_prefix('[') {
        Some(_) => match text.find(']') {
            Some(end) => text.split_at(end + 1),
            None => return ("", None),
        },
        None => text.split_at(text.find(':').unwrap_or(text.len())),
    };
    match rest.strip_prefix(':') {
        None if rest.is_empty() => (host, None),
        Some(port) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => (host, Some(port)),
        _ => ("", None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_split() {
        assert_eq!(split_host_port("kafka.scimma.org"), ("kafka.scimma.org", None));
        assert_eq!(split_host_port("kafka.scimma.org:9092"), ("kafka.scimma.org", Some("9092")));
        assert_eq!(split_host_port("[::1]:9092"), ("[::1]", Some("9092")));
        assert_eq!(split_host_port("a:b:c"), ("", None));
        assert_eq!(split_host_port("a:"), ("", None));
    }

    #[test]
    fn default_port_matches_no_port() {
        assert!(host_matches("kafka.scimma.org", "kafka.scimma.org:9092"));
        assert!(host_matches("kafka.scimma.org:9092", "kafka.scimma.org"));
        assert!(!host_matches("kafka.scimma.org:9093", "kafka.scimma.org"));
        assert!(!host_matches("other.org", "kafka.scimma.org:9092"));
    }
}
