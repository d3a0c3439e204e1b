//! How to reach a Kafka cluster, for every Kafka client in the project.

use rdkafka::ClientConfig;
use std::fmt;

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
#[derive(Clone, PartialEq, Eq, clap::Args)]
pub struct KafkaConnection {
    /// Bootstrap servers, `host:port[,host:port...]`.
    #[arg(long, env = "KAFKA_BROKERS")]
    pub brokers: String,
    #[arg(long, value_enum, default_value = "plaintext")]
    pub security_protocol: SecurityProtocol,
    /// SASL mechanism; Hopskotch uses SCRAM-SHA-512.
    #[arg(long, default_value = "SCRAM-SHA-512")]
    pub sasl_mechanism: String,
    #[arg(long, env = "KAFKA_USERNAME")]
    pub username: Option<String>,
    /// Only from the environment, so it never shows in a process list.
    #[arg(skip = std::env::var("KAFKA_PASSWORD").ok())]
    pub password: Option<String>,
    /// CA certificate file for TLS.
    #[arg(long)]
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
