//! In-memory message source, for tests and the scenario suite.
//!
//! [`MemoryLog`] plays the broker: partitioned, append-only logs plus the
//! consumer group's committed offsets. [`MemorySource`] plays one consumer
//! that starts at the committed offsets, so dropping it and opening another
//! models a crash and restart: everything not yet committed is delivered
//! again. Partitions are read round-robin in a fixed order, so a run is
//! deterministic.

use super::{Delivered, MessageSource, Position, SourceError};
use crate::index::TimestampType;
use crate::record::Message;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

type PartitionId = (String, i32);

#[derive(Debug, Default)]
struct LogState {
    partitions: BTreeMap<PartitionId, Vec<Message>>,
    committed: BTreeMap<PartitionId, i64>,
}

/// The broker side: logs and committed offsets, shared by every consumer.
#[derive(Debug, Clone, Default)]
pub struct MemoryLog {
    state: Arc<Mutex<LogState>>,
}

impl MemoryLog {
    pub fn new() -> MemoryLog {
        MemoryLog::default()
    }

    fn lock(&self) -> MutexGuard<'_, LogState> {
        // A panicking test thread must not hide the log from the others.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends `message` to `topic`/`partition` and returns its offset.
    pub fn append(&self, partition: i32, message: Message) -> i64 {
        let mut state = self.lock();
        let log = state.partitions.entry((message.topic.clone(), partition)).or_default();
        log.push(message);
        i64::try_from(log.len()).unwrap_or(i64::MAX) - 1
    }

    /// The group's committed offset (the next to read) for a partition.
    pub fn committed(&self, topic: &str, partition: i32) -> i64 {
        self.lock().committed.get(&(topic.to_owned(), partition)).copied().unwrap_or(0)
    }

    /// A consumer starting at the committed offsets.
    pub fn consumer(&self) -> MemorySource {
        let state = self.lock();
        let positions =
            state.partitions.keys().map(|p| (p.clone(), state.committed.get(p).copied().unwrap_or(0))).collect();
        MemorySource { log: self.clone(), positions, cursor: 0 }
    }
}

/// One consumer of a [`MemoryLog`]; finishes when every partition is drained.
#[derive(Debug)]
pub struct MemorySource {
    log: MemoryLog,
    positions: BTreeMap<PartitionId, i64>,
    cursor: usize,
}

#[async_trait]
impl MessageSource for MemorySource {
    async fn next(&mut self) -> Result<Option<Delivered>, SourceError> {
        let state = self.log.lock();
        let count = self.positions.len();
        for step in 0..count {
            let index = (self.cursor + step) % count;
            let Some((id, position)) = self.positions.iter_mut().nth(index) else { continue };
            let slot = usize::try_from(*position).unwrap_or(usize::MAX);
            if let Some(message) = state.partitions.get(id).and_then(|log| log.get(slot)) {
                let delivered = Delivered {
                    message: message.clone(),
                    partition: id.1,
                    offset: *position,
                    timestamp_type: if message.timestamp >= 0 {
                        TimestampType::Create
                    } else {
                        TimestampType::NotAvailable
                    },
                };
                *position += 1;
                self.cursor = index + 1;
                return Ok(Some(delivered));
            }
        }
        Ok(None)
    }

    async fn commit(&mut self, positions: &[Position]) -> Result<(), SourceError> {
        let mut state = self.log.lock();
        for p in positions {
            let committed = state.committed.entry((p.topic.clone(), p.partition)).or_default();
            // Commits only move forward, as Kafka's do for one consumer.
            *committed = (*committed).max(p.next_offset);
        }
        Ok(())
    }
}
