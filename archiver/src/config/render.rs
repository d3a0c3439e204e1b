//! `archiver config`: the effective configuration as TOML, secrets masked.
//!
//! The body is a valid config file (passwords have no key there; they are
//! described, masked, in the leading comments), so an operator can save it
//! and start from it.

use super::file::{
    BackendsSection, KafkaSection, Layer, ObservabilitySection, PipelineSection, RunSection, TopicsSection,
};
use super::value::{MetricsAddr, TopicMode};
use super::{Credential, CredentialSource, RunConfig, TopicSelection, env};
use crate::telemetry::redact::mask_password;

/// What every secret is shown as.
pub(super) const MASK: &str = "***";

impl RunConfig {
    /// The effective configuration as TOML, with `***` for every secret:
    /// the Kafka and hopauth passwords and any password in a backend URL.
    pub fn render_masked(&self) -> String {
        let body = toml::to_string(&self.masked_layer()).unwrap_or_else(|e| format!("# cannot render: {e}\n"));
        format!("{}\n{body}", self.header())
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

    /// Every effective value as a config file layer, URLs masked.
    fn masked_layer(&self) -> Layer {
        Layer {
            kafka: self.kafka_section(),
            topics: self.topics_section(),
            backends: BackendsSection {
                index_url: Some(mask_password(&self.backends.index_url)),
                store_url: Some(mask_password(&self.backends.store_url)),
            },
            pipeline: self.pipeline_section(),
            observability: self.observability_section(),
            run: RunSection { until_eos: Some(self.run.until_eos), max_messages: self.run.max_messages },
            serve: Default::default(),
        }
    }

    fn kafka_section(&self) -> KafkaSection {
        let connection = &self.kafka.connection;
        let auth_file = match &self.kafka.credential_source {
            CredentialSource::AuthFile(path) => Some(path.clone()),
            _ => None,
        };
        KafkaSection {
            brokers: Some(connection.brokers.clone()),
            security_protocol: Some(connection.security_protocol),
            sasl_mechanism: Some(connection.sasl_mechanism.clone()),
            username: connection.username.clone(),
            ca_location: connection.ca_location.clone(),
            group_id: Some(self.kafka.group_id.clone()),
            session_timeout_ms: Some(self.kafka.session_timeout_ms),
            membership: Some(self.kafka.membership),
            auth_file,
        }
    }

    fn topics_section(&self) -> TopicsSection {
        let mut section =
            TopicsSection { refresh_interval_ms: Some(self.topics.refresh_interval_ms), ..TopicsSection::default() };
        match &self.topics.selection {
            TopicSelection::All { veto } => {
                section.select = Some(TopicMode::All);
                section.veto = Some(veto.clone());
            }
            TopicSelection::Explicit { names, veto } => {
                section.select = Some(TopicMode::Explicit);
                section.names = Some(names.clone());
                section.veto = Some(veto.clone());
            }
            TopicSelection::Hopauth { url, veto, credential } => {
                section.select = Some(TopicMode::Hopauth);
                section.hopauth_url = Some(mask_password(url));
                section.veto = Some(veto.clone());
                // Its own username only: the Kafka credential is used by default.
                let own = credential.as_ref().filter(|c| !self.is_kafka_credential(c));
                section.hopauth_username = own.map(|c| c.username.clone());
            }
        }
        section
    }

    fn pipeline_section(&self) -> PipelineSection {
        let p = &self.pipeline;
        PipelineSection {
            in_flight_max: Some(p.in_flight_max as u64),
            batch_rows_max: Some(p.batch_rows_max as u64),
            batch_wait_ms: Some(p.batch_wait_ms),
            archive_test_messages: Some(p.archive_test_messages),
            public_topics: Some(p.public_topics.clone()),
            retry_initial_backoff_ms: Some(p.retry_initial_backoff_ms),
            retry_max_backoff_ms: Some(p.retry_max_backoff_ms),
        }
    }

    fn observability_section(&self) -> ObservabilitySection {
        let o = &self.observability;
        ObservabilitySection {
            metrics_addr: Some(MetricsAddr(o.metrics_addr)),
            liveness_file: o.liveness_file.clone(),
            liveness_interval_ms: Some(o.liveness_interval_ms),
            log_format: Some(o.log_format),
            progress_interval_ms: Some(o.progress_interval_ms),
        }
    }
}
