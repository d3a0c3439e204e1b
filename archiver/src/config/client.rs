//! The Kafka login of a program other than `archiver` (mockhop's producer),
//! resolved exactly as `archiver run` resolves its own, so that a credential
//! that works for one works for the other.

use super::credentials::CredentialNames;
use super::env::Env;
use super::file::KafkaSection;
use super::resolve;
use super::{ConfigError, CredentialSource};
use crate::source::{KafkaConnection, SecurityProtocol};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What the program was told; every `None` is found as `archiver run` finds
/// it: the password in the environment (`CredentialNames::password_var`,
/// with a username) or hop's auth.toml entry for the first broker, the
/// protocol, mechanism and CA file from that entry, else the defaults
/// (SASL_SSL and SCRAM-SHA-512 with a credential, plaintext without).
#[derive(Debug, Clone, Default)]
pub struct ClientLogin {
    pub brokers: String,
    pub security_protocol: Option<SecurityProtocol>,
    pub sasl_mechanism: Option<String>,
    pub username: Option<String>,
    pub ca_location: Option<String>,
    /// hop's auth.toml [default: where hop keeps it; a missing default file
    /// means no credential].
    pub auth_file: Option<PathBuf>,
}

/// The connection `login` asks for, and where its credential came from.
/// `vars` is the environment (the password variable, `HOME` and
/// `XDG_CONFIG_HOME` to find auth.toml).
pub fn client_connection(
    login: &ClientLogin,
    names: CredentialNames,
    vars: &BTreeMap<String, String>,
) -> Result<(KafkaConnection, CredentialSource), ConfigError> {
    let section = KafkaSection {
        brokers: Some(login.brokers.clone()),
        security_protocol: login.security_protocol,
        sasl_mechanism: login.sasl_mechanism.clone(),
        username: login.username.clone(),
        ca_location: login.ca_location.clone(),
        auth_file: login.auth_file.clone(),
        ..KafkaSection::default()
    };
    resolve::connection(&section, Env::new(vars), names)
}
