//! Message sources: where archived messages come from.
//!
//! One trait, [`MessageSource`], at the seam between the pipeline and Kafka,
//! so tests and the scenario suite can feed the real pipeline from memory and
//! inject faults. Implementations: `kafka.rs` (librdkafka consumer group) and
//! `memory.rs` (a deterministic in-process model of partitions, offsets,
//! commits and redelivery, for tests).

mod hopauth;
pub mod kafka;
mod kafka_connection;
pub mod memory;
pub mod scram;
mod selection;
pub mod selector;

pub use hopauth::{HopauthClient, HopauthTopic, TopicsError, describe as describe_http_error, fetch_archivable};
pub use kafka_connection::{Credential, KafkaConnection, LoginContext, LoginRefused, LoginWatch, SecurityProtocol};
pub use selection::{INTERNAL_TOPIC_PREFIX, TopicSelection, select_topics, wanted_but_invisible};

use crate::index::TimestampType;
use crate::record::Message;
use async_trait::async_trait;

/// A message with its place in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub message: Message,
    pub partition: i32,
    pub offset: i64,
    pub timestamp_type: TimestampType,
}

/// A topic and one of its partitions.
pub type PartitionId = (String, i32);

/// "Everything in `topic`/`partition` before `next_offset` is archived."
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub topic: String,
    pub partition: i32,
    pub next_offset: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("message source unavailable: {0}")]
    Unavailable(String),
    #[error("message source failed: {0}")]
    Fatal(String),
    /// Credentials or TLS settings the broker refuses: not retried.
    #[error(transparent)]
    LoginRefused(#[from] LoginRefused),
}

impl SourceError {
    pub fn is_transient(&self) -> bool {
        matches!(self, SourceError::Unavailable(_))
    }
}

/// The seam between the pipeline and wherever messages come from.
#[async_trait]
pub trait MessageSource: Send {
    /// The next message; `Ok(None)` once the source is finished for good
    /// (e.g. every partition drained with `--until-eos`). Must be
    /// cancel-safe: the pipeline may drop the future on shutdown.
    async fn next(&mut self) -> Result<Option<Delivered>, SourceError>;

    /// Records positions as durably archived. Commits may be asynchronous;
    /// a commit lost in a crash only causes redelivery, never loss.
    async fn commit(&mut self, positions: &[Position]) -> Result<(), SourceError>;

    /// Makes the commits so far durable before the process exits (a final
    /// synchronous commit where commits are otherwise asynchronous).
    async fn close(&mut self) -> Result<(), SourceError> {
        Ok(())
    }
}
