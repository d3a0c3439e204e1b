//! `archiver config`: the effective configuration as TOML, secrets masked.
//!
//! The body is a valid config file (passwords have no key there; they are
//! described, masked, in the leading comments), so an operator can save it
//! and start from it. It is the [`Effective`] layer `resolve` leaves: the
//! stacked sources over the declared defaults, restricted to the keys the
//! command reads, with the computed values (topic selection, credential,
//! absolute store URL…) written back; each key is masked as its
//! declaration says.

use super::file::Layer;
use super::{Credential, CredentialSource, RunConfig, TopicSelection, env};
use std::fmt;

/// The effective configuration as config file keys. `Debug` shows the
/// masked rendering.
#[derive(Clone, PartialEq, Default)]
pub struct Effective(pub(super) Layer);

impl Effective {
    /// The keys as a config file, secrets masked, empty sections left out.
    pub fn render_masked(&self) -> String {
        self.0.render_masked()
    }
}

impl fmt::Debug for Effective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Effective").field(&self.render_masked()).finish()
    }
}

/// What every secret is shown as.
pub(super) const MASK: &str = "***";

impl RunConfig {
    /// The effective configuration as TOML, with `***` for every secret:
    /// the Kafka and hopauth passwords and any password in a backend URL.
    pub fn render_masked(&self) -> String {
        format!("{}\n{}", self.header(), self.effective.render_masked())
    }

    fn header(&self) -> String {
        let file = self.config_file.as_ref().map_or_else(|| "no config file".into(), |p| p.display().to_string());
        let mut lines = vec![
            "# Effective configuration of `archiver run`.".to_owned(),
            format!("# Sources: flags > ARCHIVER_* environment > {file} > defaults."),
            format!("# Kafka credential: {}", self.kafka_credential_line()),
        ];
        if let TopicSelection::Hopauth { credential, .. } = &self.topics.selection {
            lines.push(format!("# hopauth credential: {}", self.hopauth_credential_line(credential.as_ref())));
        }
        lines.join("\n")
    }

    fn kafka_credential_line(&self) -> String {
        let user = self.kafka.connection.username.as_deref().unwrap_or("");
        match &self.kafka.credential_source {
            CredentialSource::None => "none".into(),
            CredentialSource::Environment => format!("user {user:?}, password {MASK} from {}", env::KAFKA_PASSWORD),
            CredentialSource::AuthFile(path) => format!("user {user:?}, password {MASK} from {}", path.display()),
        }
    }

    fn hopauth_credential_line(&self, credential: Option<&Credential>) -> String {
        let Some(credential) = credential else { return "none (requests are unauthenticated)".into() };
        let source = match self.is_kafka_credential(credential) {
            true => "the Kafka credential".to_owned(),
            false => format!("from {}", env::HOPAUTH_PASSWORD),
        };
        format!("user {:?}, password {MASK} ({source})", credential.username)
    }

    fn is_kafka_credential(&self, credential: &Credential) -> bool {
        let connection = &self.kafka.connection;
        connection.username.as_deref() == Some(credential.username.as_str())
            && connection.password.as_deref() == Some(credential.password.as_str())
    }
}
