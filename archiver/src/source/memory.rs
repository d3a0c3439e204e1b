//! In-memory message source, for tests and the scenario suite.
//!
//! [`MemoryLog`] plays the broker: partitioned, append-only logs plus the
//! consumer group's committed offsets. [`MemorySource`] plays one consumer
//! that starts at the committed offsets, so dropping it and opening another
//! models a crash and restart: everything not yet committed is delivered
//! again. Partitions are read round-robin in a fixed order, so a run is
//! deterministic.
//!
//! A consumer group with several members is modelled by [`MemoryLog::member`]
//! and [`MemoryLog::assign`]: a member reads only the partitions assigned to
//! it, starts a newly assigned partition at the committed offset, and has its
//! commits for a partition it no longer owns refused, as Kafka refuses a
//! commit from a previous generation.

use super::{Delivered, MessageSource, PartitionId, Position, SourceError};
use crate::index::TimestampType;
use crate::record::Message;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug, Default)]
struct LogState {
    partitions: BTreeMap<PartitionId, Vec<Message>>,
    committed: BTreeMap<PartitionId, i64>,
    /// For group members: which member owns a partition, in which generation.
    owners: BTreeMap<PartitionId, (u32, u64)>,
    generation: u64,
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
        MemorySource { log: self.clone(), positions, cursor: 0, member: None, generations: BTreeMap::new() }
    }

    /// A member of a consumer group: it reads only the partitions
    /// [`assign`](Self::assign)ed to it, each from the committed offset.
    pub fn member(&self, member: u32) -> MemorySource {
        MemorySource {
            log: self.clone(),
            positions: BTreeMap::new(),
            cursor: 0,
            member: Some(member),
            generations: BTreeMap::new(),
        }
    }

    /// Gives `topic`/`partition` to `member` (a rebalance): the previous
    /// owner stops reading it and its later commits for it are refused.
    pub fn assign(&self, topic: &str, partition: i32, member: u32) {
        let mut state = self.lock();
        state.generation += 1;
        let generation = state.generation;
        state.owners.insert((topic.to_owned(), partition), (member, generation));
    }

    /// Every partition of the log, in reading order.
    pub fn partitions(&self) -> Vec<(String, i32)> {
        self.lock().partitions.keys().cloned().collect()
    }

    /// The offset after the last message of `topic`/`partition`.
    pub fn end_offset(&self, topic: &str, partition: i32) -> i64 {
        let state = self.lock();
        state
            .partitions
            .get(&(topic.to_owned(), partition))
            .map_or(0, |log| i64::try_from(log.len()).unwrap_or(i64::MAX))
    }
}

/// One consumer of a [`MemoryLog`]; finishes when every partition it reads
/// is drained.
#[derive(Debug)]
pub struct MemorySource {
    log: MemoryLog,
    positions: BTreeMap<PartitionId, i64>,
    cursor: usize,
    /// `None`: reads every partition; `Some`: a group member (see `member`).
    member: Option<u32>,
    /// For a member: the generation in which it got each partition it reads.
    generations: BTreeMap<PartitionId, u64>,
}

impl MemorySource {
    /// For a group member, aligns `positions` with the current assignment:
    /// revoked partitions are forgotten, newly assigned ones start at the
    /// committed offset.
    fn follow_assignment(&mut self, state: &LogState) {
        let Some(member) = self.member else { return };
        let owned: BTreeMap<&PartitionId, u64> =
            state.owners.iter().filter(|(_, (m, _))| *m == member).map(|(p, (_, g))| (p, *g)).collect();
        self.positions.retain(|p, _| owned.contains_key(p));
        for (partition, generation) in owned {
            let known = self.generations.get(partition) == Some(&generation);
            if !known {
                self.generations.insert(partition.clone(), generation);
                self.positions.insert(partition.clone(), state.committed.get(partition).copied().unwrap_or(0));
            }
        }
    }

    /// Whether this consumer may commit for `partition` now.
    fn owns(&self, state: &LogState, partition: &PartitionId) -> bool {
        let Some(member) = self.member else { return true };
        state.owners.get(partition).is_some_and(|(m, g)| *m == member && self.generations.get(partition) == Some(g))
    }
}

#[async_trait]
impl MessageSource for MemorySource {
    async fn next(&mut self) -> Result<Option<Delivered>, SourceError> {
        let log = self.log.clone();
        let state = log.lock();
        self.follow_assignment(&state);
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
        let mut refused = Vec::new();
        for p in positions {
            let id = (p.topic.clone(), p.partition);
            if !self.owns(&state, &id) {
                refused.push(format!("{}/{}", p.topic, p.partition));
                continue;
            }
            let committed = state.committed.entry(id).or_default();
            // Commits only move forward, as Kafka's do for one consumer.
            *committed = (*committed).max(p.next_offset);
        }
        if refused.is_empty() {
            Ok(())
        } else {
            Err(SourceError::Unavailable(format!("commit refused, partitions reassigned: {}", refused.join(", "))))
        }
    }
}
