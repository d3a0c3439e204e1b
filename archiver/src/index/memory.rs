//! [`Index`] in memory: for tests, scenarios and the embedded demo.
//!
//! Same semantics as the SQL backends — unique `uuid`, a batch is all or
//! nothing and keeps the first of a repeated UUID, ids follow input order,
//! keyset paging on `("timestamp", id)`, lanes ordered as `lane_page`
//! says — but no I/O at all, so a run on a paused, single-threaded runtime
//! is deterministic (SQLite works on a thread of its own, which lets
//! simulated time run while a query is in flight). Nothing survives the
//! process.

use super::{
    Cursor, Index, IndexEntry, IndexError, IndexRow, Lane, LaneCursor, ListQuery, Page, RowFilter, RowText, TopicStats,
    clamp_limit, finish_page, first_occurrences, lane_total, page_limit,
};
use crate::text::lexemes::tokens;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use uuid::Uuid;

#[derive(Debug, Default)]
struct Table {
    /// Entries by id, so iteration follows insertion order.
    by_id: BTreeMap<i64, IndexEntry>,
    id_of: HashMap<Uuid, i64>,
    next_id: i64,
    /// The tokens of each text entry, by row id (as SQLite's FTS5 holds them).
    texts: HashMap<i64, Vec<String>>,
}

/// The in-memory index (for tests, scenarios and the demo, not durable).
#[derive(Debug, Default)]
pub struct MemoryIndex {
    table: Mutex<Table>,
}

impl MemoryIndex {
    pub fn new() -> MemoryIndex {
        MemoryIndex::default()
    }

    /// The table, even if a panicking test thread poisoned the mutex: every
    /// critical section leaves it consistent.
    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether `entry` lies after `cursor` in the listing's direction.
fn after_cursor(entry: &IndexEntry, cursor: Option<Cursor>, descending: bool) -> bool {
    let Some(c) = cursor else { return true };
    let here = (entry.row.timestamp, entry.id);
    if descending { here < (c.timestamp, c.id) } else { here > (c.timestamp, c.id) }
}

#[async_trait]
impl Index for MemoryIndex {
    async fn insert_batch(&self, rows: &[IndexRow]) -> Result<Vec<bool>, IndexError> {
        let firsts = first_occurrences(rows);
        let mut table = self.table();
        let mut inserted = HashSet::new();
        for &i in &firsts {
            let row = &rows[i];
            if table.id_of.contains_key(&row.uuid) {
                continue;
            }
            table.next_id += 1;
            let id = table.next_id;
            table.id_of.insert(row.uuid, id);
            if row.text_fully_indexed.is_some() {
                table.texts.insert(id, tokens(row.text.as_deref().unwrap_or_default()));
            }
            table.by_id.insert(id, IndexEntry { id, row: IndexRow { text: None, ..row.clone() } });
            inserted.insert(row.uuid);
        }
        Ok(super::batch_outcome(rows, &firsts, &inserted))
    }

    async fn get(&self, uuid: Uuid) -> Result<Option<IndexEntry>, IndexError> {
        let table = self.table();
        Ok(table.id_of.get(&uuid).and_then(|id| table.by_id.get(id)).cloned())
    }

    async fn get_many(&self, uuids: &[Uuid]) -> Result<Vec<IndexEntry>, IndexError> {
        let table = self.table();
        let unique: HashSet<&Uuid> = uuids.iter().collect();
        Ok(unique.into_iter().filter_map(|u| table.id_of.get(u).and_then(|id| table.by_id.get(id)).cloned()).collect())
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, IndexError> {
        let limit = page_limit(query);
        let filter = RowFilter::of_listing(query);
        let table = self.table();
        let mut entries: Vec<IndexEntry> = table
            .by_id
            .values()
            .filter(|e| filter.admits(e) && after_cursor(e, query.after, query.descending))
            .filter(|e| {
                query.search.as_ref().is_none_or(|q| table.texts.get(&e.id).is_some_and(|text| q.matches(text)))
            })
            .cloned()
            .collect();
        entries.sort_by_key(|e| (e.row.timestamp, e.id));
        if query.descending {
            entries.reverse();
        }
        entries.truncate(limit as usize + 1);
        Ok(finish_page(entries, limit))
    }

    async fn topic_stats(&self) -> Result<Vec<TopicStats>, IndexError> {
        Ok(TopicStats::tally(self.table().by_id.values().map(|e| &e.row)))
    }

    async fn topic_stats_since(&self, since_ms: i64) -> Result<Vec<TopicStats>, IndexError> {
        Ok(TopicStats::tally(self.table().by_id.values().map(|e| &e.row).filter(|r| r.timestamp >= since_ms)))
    }

    async fn set_retracted(&self, uuid: Uuid, retracted: bool) -> Result<bool, IndexError> {
        let mut table = self.table();
        let Some(id) = table.id_of.get(&uuid).copied() else { return Ok(false) };
        if let Some(entry) = table.by_id.get_mut(&id) {
            entry.row.retracted = retracted;
        }
        Ok(true)
    }

    async fn lanes(&self, filter: &RowFilter) -> Result<Vec<Lane>, IndexError> {
        // Keyed to sort as lanes do: `str` compares bytewise, and `true`
        // (no partition) after `false`.
        let mut lanes: BTreeMap<(&str, bool, Option<i32>), (i64, i64)> = BTreeMap::new();
        let table = self.table();
        for entry in table.by_id.values().filter(|e| filter.admits(e)) {
            let row = &entry.row;
            let totals = lanes.entry((&row.topic, row.partition.is_none(), row.partition)).or_default();
            totals.0 += 1;
            totals.1 += i64::from(row.size);
        }
        lanes
            .into_iter()
            .map(|((topic, _, partition), (rows, size_bytes))| {
                Ok(Lane {
                    topic: topic.to_owned(),
                    partition,
                    rows: lane_total(topic, "row count", rows)?,
                    size_bytes: lane_total(topic, "total size", size_bytes)?,
                })
            })
            .collect()
    }

    async fn lane_page(
        &self,
        filter: &RowFilter,
        topic: &str,
        partition: Option<i32>,
        after: Option<LaneCursor>,
        limit: u32,
    ) -> Result<Vec<IndexEntry>, IndexError> {
        let table = self.table();
        let mut entries: Vec<IndexEntry> = table
            .by_id
            .values()
            .filter(|e| e.row.topic == topic && e.row.partition == partition && filter.admits(e))
            .filter(|e| after.is_none_or(|after| e.lane_cursor() > after))
            .cloned()
            .collect();
        entries.sort_by_key(IndexEntry::lane_cursor);
        entries.truncate(clamp_limit(limit) as usize);
        Ok(entries)
    }

    async fn set_texts(&self, texts: &[RowText]) -> Result<u64, IndexError> {
        let mut table = self.table();
        let mut written = 0;
        for text in texts {
            let Some(id) = table.id_of.get(&text.uuid).copied() else { continue };
            if let Some(entry) = table.by_id.get_mut(&id) {
                entry.row.text_fully_indexed = Some(text.fully_indexed);
            }
            table.texts.insert(id, tokens(&text.text));
            written += 1;
        }
        Ok(written)
    }

    async fn rows_without_text(
        &self,
        topics: &[String],
        after_id: i64,
        partial: bool,
        limit: u32,
    ) -> Result<Vec<IndexEntry>, IndexError> {
        let table = self.table();
        let wanted = |flag: Option<bool>| flag.is_none() || (partial && flag == Some(false));
        Ok(table
            .by_id
            .range(after_id.saturating_add(1)..)
            .map(|(_, e)| e)
            .filter(|e| topics.contains(&e.row.topic) && wanted(e.row.text_fully_indexed))
            .take(clamp_limit(limit) as usize)
            .cloned()
            .collect())
    }

    async fn id_max(&self) -> Result<Option<i64>, IndexError> {
        Ok(self.table().by_id.last_key_value().map(|(&id, _)| id))
    }
}
