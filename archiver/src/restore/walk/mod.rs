//! The selection as one totally ordered sequence of [`Item`]s, read a page
//! at a time: `index.rs` (keyset pages per lane: topic, then partition by
//! offset, then the partitionless rows by timestamp), `uuids.rs` (the
//! messages a UUID file names, same order), `store.rs` (the store alone,
//! by topic, day, timestamp). A restart resumes strictly after the
//! checkpointed [`Position`], so every walk must yield positions in
//! ascending order, the same order on every run over the same archive.

mod index;
mod store;
mod uuids;

pub use index::IndexWalk;
pub use store::{StoreWalk, StoreWalkReport};
pub use uuids::UuidWalk;

use crate::index::{IndexEntry, TimestampType};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use uuid::Uuid;

/// Where a message stands in a walk's order: topic; lane (a partition, or
/// [`UNPARTITIONED`] for rows without one; 0 in a store walk); group (empty
/// in index walks; in a store walk the key's day directory, `2024/01/05/`,
/// compared as text because that is the store's listing order); sequence
/// within the lane or group (offset, else timestamp); UUID.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position {
    pub topic: String,
    pub lane: i64,
    pub group: String,
    pub seq: i64,
    pub uuid: Uuid,
}

/// The lane of rows without a Kafka partition (uploads, reindexed objects):
/// after every partition of their topic.
pub const UNPARTITIONED: i64 = i64::MAX;

/// One selected message, before its object is read.
#[derive(Debug, Clone)]
pub struct Item {
    pub position: Position,
    /// The last position of the run of at most [`MARK_STEP`] items this
    /// item came in: how far a job may have sent once it starts sending it.
    pub page_last: Arc<Position>,
    pub uuid: Uuid,
    pub object_key: String,
    pub topic: String,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    /// The object's size and CRC-32 as the index recorded them (checked
    /// after reading); the store walk knows only the size.
    pub size_bytes: u64,
    pub crc32: Option<u32>,
    pub timestamp_type: Option<TimestampType>,
    /// The object's bytes when the walk already read them.
    pub prefetched: Option<bytes::Bytes>,
}

impl Item {
    /// The item for an index row.
    pub fn from_entry(entry: &IndexEntry, page_last: Arc<Position>) -> Item {
        let row = &entry.row;
        Item {
            position: position_of(entry),
            page_last,
            uuid: row.uuid,
            object_key: row.key.clone(),
            topic: row.topic.clone(),
            partition: row.partition,
            offset: row.kafka_offset,
            size_bytes: u64::try_from(row.size).unwrap_or(0),
            crc32: Some(row.crc32),
            timestamp_type: Some(row.timestamp_type),
            prefetched: None,
        }
    }
}

/// An index row's place in the index walks' order.
pub fn position_of(entry: &IndexEntry) -> Position {
    let cursor = entry.lane_cursor();
    let lane = entry.row.partition.map_or(UNPARTITIONED, i64::from);
    Position { topic: entry.row.topic.clone(), lane, group: String::new(), seq: cursor.seq, uuid: cursor.uuid }
}

/// Items for index entries already in walk order, all sharing the page's
/// last position.
pub(crate) fn items_of(entries: &[IndexEntry]) -> Vec<Item> {
    let mut items: Vec<Item> = entries.iter().map(|e| Item::from_entry(e, Arc::new(position_of(e)))).collect();
    mark_steps(&mut items);
    items
}

/// Messages a `sent_mark` moves ahead by at most: what a restart may count
/// as re-sent beyond the messages really in flight when it was killed.
pub const MARK_STEP: usize = 64;

/// Gives each run of [`MARK_STEP`] items (already in walk order) the last
/// position of its run as `page_last`.
pub(crate) fn mark_steps(items: &mut [Item]) {
    for run in items.chunks_mut(MARK_STEP) {
        let Some(last) = run.last().map(|i| Arc::new(i.position.clone())) else { continue };
        for item in run {
            item.page_last = Arc::clone(&last);
        }
    }
}

/// A walk over a selection, resumed after a position given at construction.
#[async_trait]
pub trait Walk: Send {
    /// The next page of items in ascending position order; `None` at the end.
    async fn next_page(&mut self) -> Result<Option<Vec<Item>>, super::RestoreError>;
}
