//! Finding the Kafka and hopauth credentials.
//!
//! Kafka, as upstream resolves it: a username from the configuration plus
//! `ARCHIVER_KAFKA_PASSWORD`; otherwise the hop `auth.toml` entry for the
//! first broker's host (and the username, if one is configured). The file is
//! read only when needed, and a missing default file just means "no SASL".
//! Other Kafka clients (mockhop's producer) resolve theirs the same way,
//! with a password variable and username settings of their own
//! ([`CredentialNames`]).
//! hopauth: `topics.hopauth_username` plus `ARCHIVER_HOPAUTH_PASSWORD`, else
//! the Kafka credential (hopauth issues both, and checks SCRAM against the
//! same credential table).

use super::auth_toml::{self, AuthEntry, NoMatch};
use super::env::{self, Env};
use super::file::{KafkaSection, TopicsSection};
use super::{ConfigError, Credential, CredentialSource};
use crate::source::SecurityProtocol;
use std::path::{Path, PathBuf};

/// The Kafka credential and, when it came from auth.toml, the entry (whose
/// protocol, mechanism and CA file fill in what the configuration leaves open).
pub struct KafkaCredential {
    pub credential: Option<Credential>,
    pub source: CredentialSource,
    pub entry: Option<AuthEntry>,
}

impl KafkaCredential {
    fn none() -> KafkaCredential {
        KafkaCredential { credential: None, source: CredentialSource::None, entry: None }
    }
}

/// What a program calls the inputs of its Kafka credential, for its errors.
#[derive(Debug, Clone, Copy)]
pub struct CredentialNames {
    /// The environment variable holding the password.
    pub password_var: &'static str,
    /// Where the username is set.
    pub username: &'static str,
}

/// `archiver`'s names.
pub(super) const ARCHIVER: CredentialNames = CredentialNames {
    password_var: env::KAFKA_PASSWORD,
    username: "kafka.username, ARCHIVER_KAFKA_USERNAME or --kafka-username",
};

/// Resolves the Kafka credential for `kafka` (brokers already checked).
pub fn kafka(
    kafka: &KafkaSection,
    env: Env<'_>,
    brokers: &str,
    names: CredentialNames,
) -> Result<KafkaCredential, ConfigError> {
    let username = kafka.username.as_deref();
    match (username, env.raw(names.password_var)) {
        (Some(user), Some(password)) => {
            let credential = Credential { username: user.into(), password: password.into() };
            return Ok(KafkaCredential {
                credential: Some(credential),
                source: CredentialSource::Environment,
                entry: None,
            });
        }
        (None, Some(_)) => {
            return Err(ConfigError::Incomplete(format!(
                "{} is set but no Kafka username is ({})",
                names.password_var, names.username
            )));
        }
        _ => {}
    }
    if matches!(kafka.security_protocol, Some(SecurityProtocol::Plaintext | SecurityProtocol::Ssl)) {
        return Ok(KafkaCredential::none());
    }
    from_auth_file(kafka, env, brokers, names)
}

fn from_auth_file(
    kafka: &KafkaSection,
    env: Env<'_>,
    brokers: &str,
    names: CredentialNames,
) -> Result<KafkaCredential, ConfigError> {
    let username = kafka.username.as_deref();
    let explicit = kafka.auth_file.is_some();
    let path = kafka.auth_file.clone().or_else(|| auth_toml::default_path(env));
    let Some(path) = path.filter(|p| explicit || p.exists()) else {
        return match username {
            Some(user) => Err(no_password(user, None, names)),
            None => Ok(KafkaCredential::none()),
        };
    };
    let entries = auth_toml::read(&path)?;
    let broker = brokers.split(',').next().unwrap_or_default().trim();
    match auth_toml::select(&entries, broker, username) {
        Ok(entry) => Ok(found(entry, path)),
        Err(NoMatch::None) => match username {
            Some(user) => Err(no_password(user, Some(&path), names)),
            // A hop user's auth.toml for another cluster: this one needs none.
            None if !explicit && kafka.security_protocol.is_none() => Ok(KafkaCredential::none()),
            None => Err(no_match(&path, broker)),
        },
        Err(NoMatch::Ambiguous(candidates)) => Err(ambiguous(&path, broker, &candidates, names)),
    }
}

fn found(entry: &AuthEntry, path: PathBuf) -> KafkaCredential {
    let credential = Credential { username: entry.username.clone(), password: entry.password.clone() };
    KafkaCredential {
        credential: Some(credential),
        source: CredentialSource::AuthFile(path),
        entry: Some(entry.clone()),
    }
}

fn no_password(user: &str, path: Option<&Path>, names: CredentialNames) -> ConfigError {
    let looked = path.map(|p| format!(" (no entry for it in {})", p.display())).unwrap_or_default();
    ConfigError::Incomplete(format!(
        "no password for Kafka user {user:?}{looked}: set {} or add the credential to hop's auth.toml",
        names.password_var
    ))
}

fn no_match(path: &Path, broker: &str) -> ConfigError {
    ConfigError::AuthFile { path: path.into(), message: format!("no entry for host {broker:?}") }
}

fn ambiguous(path: &Path, broker: &str, candidates: &[String], names: CredentialNames) -> ConfigError {
    ConfigError::AuthFile {
        path: path.into(),
        message: format!(
            "several entries suit host {broker:?} ({}); choose one with {}",
            candidates.join("; "),
            names.username
        ),
    }
}

/// The hopauth credential: its own, or the Kafka one.
pub fn hopauth(
    topics: &TopicsSection,
    env: Env<'_>,
    kafka: Option<&Credential>,
) -> Result<Option<Credential>, ConfigError> {
    match (&topics.hopauth_username, env.raw(env::HOPAUTH_PASSWORD)) {
        (Some(user), Some(password)) => Ok(Some(Credential { username: user.clone(), password: password.into() })),
        (None, None) => Ok(kafka.cloned()),
        (Some(_), None) => {
            Err(ConfigError::Incomplete(format!("topics.hopauth_username is set but {} is not", env::HOPAUTH_PASSWORD)))
        }
        (None, Some(_)) => {
            Err(ConfigError::Incomplete(format!("{} is set but topics.hopauth_username is not", env::HOPAUTH_PASSWORD)))
        }
    }
}
