//! How to reach a Kafka cluster, for every Kafka client in the project, and
//! how to tell that the cluster refused to let one in.

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::fmt;
use tokio::sync::watch;

/// Kafka's `security.protocol`. Hopskotch uses `SASL_SSL` with SCRAM-SHA-512.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    fn as_kafka(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }

    fn uses_sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }
}

/// Connection settings. The password is never printed (see `Debug`).
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaConnection {
    /// Bootstrap servers, `host:port[,host:port...]`.
    pub brokers: String,
    pub security_protocol: SecurityProtocol,
    /// SASL mechanism; Hopskotch uses SCRAM-SHA-512.
    pub sasl_mechanism: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// CA certificate file for TLS.
    pub ca_location: Option<String>,
}

impl fmt::Debug for KafkaConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaConnection")
            .field("brokers", &self.brokers)
            .field("security_protocol", &self.security_protocol)
            .field("sasl_mechanism", &self.sasl_mechanism)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("ca_location", &self.ca_location)
            .finish()
    }
}

impl KafkaConnection {
    /// A plaintext connection to `brokers`, as in tests.
    pub fn plaintext(brokers: impl Into<String>) -> KafkaConnection {
        KafkaConnection {
            brokers: brokers.into(),
            security_protocol: SecurityProtocol::Plaintext,
            sasl_mechanism: "SCRAM-SHA-512".into(),
            username: None,
            password: None,
            ca_location: None,
        }
    }

    /// The librdkafka settings for this connection.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        config.set("security.protocol", self.security_protocol.as_kafka());
        if self.security_protocol.uses_sasl() {
            config.set("sasl.mechanisms", &self.sasl_mechanism);
            if let Some(user) = &self.username {
                config.set("sasl.username", user);
            }
            if let Some(password) = &self.password {
                config.set("sasl.password", password);
            }
        }
        if let Some(ca) = &self.ca_location {
            config.set("ssl.ca.location", ca);
        }
        config
    }
}

/// The broker refused this client: its credentials (SASL) or its TLS
/// settings. No retry succeeds before an operator changes them, so clients
/// end with this instead of retrying for ever. `reason` is librdkafka's text,
/// which names the broker and the cause, never the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the broker refused the login ({attempt}): {reason} ({hint})")]
pub struct LoginRefused {
    /// How the client logged in (user, mechanism, protocol, CA file).
    pub attempt: String,
    pub reason: String,
    hint: &'static str,
}

/// What to check when `error` means the login was refused; `None` for every
/// other error (a broker down or slow is retried). librdkafka reports a
/// failed SASL exchange (wrong password, a mechanism the user has no
/// credential for) as `Authentication`, a failed TLS handshake (an
/// untrusted or mismatched certificate, TLS to a plaintext port) as `SSL`.
fn login_refusal(error: &KafkaError) -> Option<&'static str> {
    match error.rdkafka_error_code()? {
        RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed => {
            Some("check the username, the password and the SASL mechanism")
        }
        RDKafkaErrorCode::SSL => Some("check the CA file (ca_location), the broker's certificate and the port"),
        _ => None,
    }
}

/// How a client configured by `config` logs in, for errors: user and
/// mechanism (with SASL), protocol, CA file. Never the password.
fn describe_login(config: &ClientConfig) -> (String, bool) {
    let protocol = config.get("security.protocol").unwrap_or("plaintext");
    let sasl = protocol.starts_with("sasl");
    let mut attempt = match (sasl, config.get("sasl.username")) {
        (true, Some(user)) => format!("user {user:?} with {}", config.get("sasl.mechanisms").unwrap_or("GSSAPI")),
        (true, None) => format!("no username, {}", config.get("sasl.mechanisms").unwrap_or("GSSAPI")),
        (false, _) => "no SASL login".to_owned(),
    };
    attempt.push_str(&format!(" over {protocol}"));
    if let Some(ca) = config.get("ssl.ca.location") {
        attempt.push_str(&format!(", CA {ca}"));
    }
    (attempt, sasl)
}

/// The first refused login among a client's errors, for whoever waits on it.
#[derive(Debug)]
pub struct LoginWatch {
    attempt: String,
    sends_sasl: bool,
    refused: watch::Sender<Option<LoginRefused>>,
}

impl LoginWatch {
    /// A watch for the client `config` configures.
    pub fn new(config: &ClientConfig) -> LoginWatch {
        let (attempt, sends_sasl) = describe_login(config);
        LoginWatch { attempt, sends_sasl, refused: watch::Sender::new(None) }
    }

    /// Records `error` if it is the client's first refused login; returns
    /// whether it means a refused login.
    pub fn observe(&self, error: &KafkaError, reason: &str) -> bool {
        let Some(hint) = login_refusal(error) else { return false };
        self.refused.send_if_modified(|refused| {
            let first = refused.is_none();
            if first {
                *refused = Some(LoginRefused { attempt: self.attempt.clone(), reason: reason.to_owned(), hint });
            }
            first
        });
        true
    }

    /// The refusal seen so far, if any.
    pub fn refused(&self) -> Option<LoginRefused> {
        self.refused.borrow().clone()
    }

    /// Resolves at the first refusal (at once if there was one already).
    pub async fn wait(&self) -> LoginRefused {
        let mut seen = self.refused.subscribe();
        loop {
            if let Some(refused) = seen.borrow_and_update().clone() {
                return refused;
            }
            // The sender lives as long as `self`, so this never ends the loop.
            if seen.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// Why the first request to the cluster failed, for an error. A broker
    /// that requires SASL closes the connection of a client that sends no
    /// login as soon as it asks for anything, which librdkafka reports as
    /// any lost connection: so a client without SASL is told.
    pub fn unreachable(&self, error: &KafkaError) -> String {
        if self.sends_sasl {
            format!("{error} ({})", self.attempt)
        } else {
            format!(
                "{error} ({}: the broker is down or unreachable, or it requires a SASL login, as Hopskotch's does, and closed the connection)",
                self.attempt
            )
        }
    }
}

/// The context of a Kafka client that has no other use for one (mockhop's
/// producer): librdkafka's errors are logged and a refused login is kept in
/// `login`, shared with whoever holds the other `Arc`.
pub struct LoginContext {
    pub login: std::sync::Arc<LoginWatch>,
}

impl LoginContext {
    /// A context for the client `config` configures.
    pub fn new(config: &ClientConfig) -> LoginContext {
        LoginContext { login: std::sync::Arc::new(LoginWatch::new(config)) }
    }
}

impl ClientContext for LoginContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.login.observe(&error, reason);
        tracing::error!(target: "librdkafka", error = %error, "{reason}");
    }
}

/// A username and password (a Hopskotch SCRAM credential). `Debug` masks
/// the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential").field("username", &self.username).field("password", &"***").finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_refused_logins_are_kept_and_the_first_one_wins() {
        let mut config = KafkaConnection::plaintext("localhost:9093").client_config();
        config.set("security.protocol", "sasl_ssl").set("sasl.username", "u").set("sasl.password", "pw-Secret");
        config.set("sasl.mechanisms", "SCRAM-SHA-256").set("ssl.ca.location", "/x/ca.pem");
        let watch = LoginWatch::new(&config);
        for transient in [RDKafkaErrorCode::BrokerTransportFailure, RDKafkaErrorCode::AllBrokersDown] {
            assert!(!watch.observe(&KafkaError::Global(transient), "broker down"), "{transient:?}");
        }
        assert_eq!(watch.refused(), None, "an outage is not a refused login");
        assert!(watch.observe(&KafkaError::Global(RDKafkaErrorCode::SSL), "certificate verify failed"));
        assert!(watch.observe(&KafkaError::Global(RDKafkaErrorCode::Authentication), "later"));
        let refused = watch.wait().await.to_string();
        assert_eq!(
            refused,
            "the broker refused the login (user \"u\" with SCRAM-SHA-256 over sasl_ssl, CA /x/ca.pem): \
             certificate verify failed (check the CA file (ca_location), the broker's certificate and the port)"
        );
    }

    #[test]
    fn a_client_without_sasl_is_told_that_a_broker_may_require_it() {
        let lost = KafkaError::MetadataFetch(RDKafkaErrorCode::BrokerTransportFailure);
        let mut config = KafkaConnection::plaintext("localhost:9093").client_config();
        config.set("security.protocol", "ssl");
        let text = LoginWatch::new(&config).unreachable(&lost);
        assert!(text.contains("no SASL login over ssl") && text.contains("requires a SASL login"), "{text}");
        config.set("security.protocol", "sasl_ssl").set("sasl.username", "u").set("sasl.mechanisms", "PLAIN");
        let text = LoginWatch::new(&config).unreachable(&lost);
        assert!(text.contains("user \"u\" with PLAIN") && !text.contains("requires"), "{text}");
    }
}
