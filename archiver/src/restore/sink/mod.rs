//! Where restored messages go: a Kafka cluster (`kafka.rs`), a JSON Lines
//! file (`jsonl.rs`), or memory
//! (`memory.rs`, for tests and fault injection).
//!
//! The engine calls [`Sink::send`] in selection order; the call enqueues at
//! once (so the order of calls is the order of the target's log within a
//! target partition) and returns a future that resolves when the target
//! acknowledged the message. Only acknowledged messages are checkpointed.

mod jsonl;
mod kafka;
mod memory;

pub use jsonl::JsonlSink;
pub use kafka::{KafkaSink, KafkaSinkLimits};
pub use memory::{MemorySink, Sent};

use crate::record::{Header, Key, kafka_bytes};
use async_trait::async_trait;
use futures::future::BoxFuture;
use uuid::Uuid;

/// One message to write, as it was archived (topic already renamed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The archive UUID (for `--stamp-header`, the JSONL export and errors).
    pub uuid: Uuid,
    /// The target topic.
    pub topic: String,
    /// The original partition and offset, when the index knows them.
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    /// The archived Kafka timestamp in ms; `None` when Kafka had none
    /// (the message is produced without one).
    pub timestamp_ms: Option<i64>,
    pub key: Key,
    /// In order, duplicate names and null values kept.
    pub headers: Vec<Header>,
    /// `None` for a tombstone.
    pub payload: Option<Vec<u8>>,
}

impl Outgoing {
    /// Bytes this message puts on the wire (key, headers, payload): what
    /// the in-flight byte limit counts.
    pub fn size_bytes(&self) -> usize {
        kafka_bytes(&self.key, &self.headers, self.payload.as_deref())
    }
}

/// A target topic and the partitions it must have to keep every message in
/// its original partition (`None`: no partition is known, as for uploads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetTopic {
    pub name: String,
    pub partitions_needed: Option<i32>,
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The target topic does not exist (and was not to be created).
    #[error("target topic {0:?} does not exist; create it, or pass --create-topics")]
    MissingTopic(String),
    #[error("cannot reach the target: {0}")]
    Unavailable(String),
    #[error("the target refused message {uuid} for topic {topic:?}: {reason}")]
    Refused { uuid: Uuid, topic: String, reason: String },
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
}

/// The seam between the restore engine and its destination.
#[async_trait]
pub trait Sink: Send + Sync {
    /// Checks (or creates) the target topics before anything is sent, and
    /// learns their partition counts.
    async fn prepare(&mut self, topics: &[TargetTopic]) -> Result<(), SinkError>;
    /// Enqueues `message` now; the future resolves once the target has
    /// acknowledged it.
    fn send(&self, message: Outgoing) -> BoxFuture<'static, Result<(), SinkError>>;
    /// Makes everything acknowledged so far durable at the target (a file
    /// sink flushes; Kafka's acknowledgement already is).
    async fn flush(&self) -> Result<(), SinkError>;
    /// How many bytes of output were written so far (durable once
    /// flushed); read right after a `send`, where that message's output
    /// ends, which a job's checkpoint records to resume a file at. `None`
    /// when the target keeps its own log.
    fn position(&self) -> Option<u64> {
        None
    }
}
