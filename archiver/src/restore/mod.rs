//! `archiver restore`: replays archived messages into Kafka byte for byte
//! (payload, key, headers in order, CreateTime), or exports them as JSON
//! Lines (PRODUCT.md §6).
//!
//! The shape: a [`Selection`] (topics, window, UUID file, retracted,
//! uploads) is walked in one total order of [`Position`]s (`walk/`: from
//! the index with keyset paging, from a UUID file, or from the store
//! alone); each object is read and checked (`outgoing.rs`), turned into the
//! message Kafka first delivered, renamed (`rename.rs`) and handed to a
//! [`sink::Sink`] in order; `engine.rs` bounds what is in flight, paces,
//! and advances the job's checkpoint (`checkpoint.rs`) only over
//! messages the sink acknowledged.

pub mod checkpoint;
pub mod engine;
pub mod outgoing;
pub mod progress;
pub mod rename;
pub mod selection;
pub mod sink;
pub mod walk;

pub use checkpoint::{JobFile, JobFileError, JobState};
pub use engine::{Engine, EngineLimits, Summary, TopicSummary};
pub use rename::Rename;
pub use selection::{Selection, SelectionError};
pub use walk::{Item, Position, Walk};

use crate::index::IndexError;
use crate::store::StoreError;
use uuid::Uuid;

/// Why a restore stopped. Every variant names what to fix or where to look.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Selection(#[from] SelectionError),
    #[error(transparent)]
    Rename(#[from] rename::RenameError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("object store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sink(#[from] sink::SinkError),
    #[error(
        "message {uuid}: object {key} is missing from the store \
         (pass --on-missing skip to record and count such messages instead)"
    )]
    MissingObject { uuid: Uuid, key: String },
    #[error(
        "message {uuid}: object {key} is unreadable: {reason} \
         (pass --on-missing skip to record and count such messages instead)"
    )]
    UnreadableObject { uuid: Uuid, key: String, reason: String },
    #[error("{flag}: {reason}")]
    Flag { flag: String, reason: String },
    #[error("job file {path}: {reason}")]
    Job { path: String, reason: String },
    #[error("interrupted; {done} messages are checkpointed — run the same command again to resume")]
    Interrupted { done: u64 },
}
