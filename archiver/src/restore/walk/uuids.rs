//! The messages a UUID file names (intersected with the rest of the
//! selection), in the index walks' order. Their positions are looked up
//! once (16 bytes per UUID plus the position held in memory), then the rows
//! are read again a page at a time as they are sent.

use super::{Item, Position, Walk, items_of, position_of};
use crate::index::{Index, IndexEntry, Lane, RowFilter};
use crate::restore::RestoreError;
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use uuid::Uuid;

/// UUIDs looked up per index query.
const LOOKUP_CHUNK: usize = 1000;

pub struct UuidWalk {
    index: Arc<dyn Index>,
    order: Vec<(Position, Uuid)>,
    next: usize,
    page_rows: usize,
}

/// What the UUID file selects: the walk, its lanes' totals, and the UUIDs
/// the index does not hold at all.
pub struct UuidSelection {
    pub walk: UuidWalk,
    pub lanes: Vec<Lane>,
    pub unknown: Vec<Uuid>,
}

impl UuidWalk {
    /// Looks up `uuids` and keeps those `filter` admits, strictly after
    /// `resume` when given (the lanes count them all).
    pub async fn build(
        index: Arc<dyn Index>,
        uuids: &BTreeSet<Uuid>,
        filter: &RowFilter,
        resume: Option<&Position>,
        page_rows: usize,
    ) -> Result<UuidSelection, RestoreError> {
        let wanted: Vec<Uuid> = uuids.iter().copied().collect();
        let mut found = HashSet::with_capacity(wanted.len());
        let mut order = Vec::new();
        let mut lanes: BTreeMap<(String, i64), Lane> = BTreeMap::new();
        for chunk in wanted.chunks(LOOKUP_CHUNK) {
            for entry in index.get_many(chunk).await? {
                found.insert(entry.row.uuid);
                if !filter.admits(&entry) {
                    continue;
                }
                let position = position_of(&entry);
                let lane = lanes.entry((position.topic.clone(), position.lane)).or_insert_with(|| Lane {
                    topic: entry.row.topic.clone(),
                    partition: entry.row.partition,
                    rows: 0,
                    size_bytes: 0,
                });
                lane.rows += 1;
                lane.size_bytes += u64::try_from(entry.row.size).unwrap_or(0);
                if resume.is_none_or(|r| position > *r) {
                    order.push((position, entry.row.uuid));
                }
            }
        }
        order.sort_unstable();
        let unknown = wanted.into_iter().filter(|u| !found.contains(u)).collect();
        let walk = UuidWalk { index, order, next: 0, page_rows: page_rows.max(1) };
        Ok(UuidSelection { walk, lanes: lanes.into_values().collect(), unknown })
    }
}

#[async_trait]
impl Walk for UuidWalk {
    async fn next_page(&mut self) -> Result<Option<Vec<Item>>, RestoreError> {
        let end = (self.next + self.page_rows).min(self.order.len());
        if self.next >= end {
            return Ok(None);
        }
        let chunk: Vec<Uuid> = self.order[self.next..end].iter().map(|(_, uuid)| *uuid).collect();
        self.next = end;
        let mut entries: Vec<IndexEntry> = self.index.get_many(&chunk).await?;
        entries.sort_by_cached_key(position_of);
        Ok(Some(items_of(&entries)))
    }
}
