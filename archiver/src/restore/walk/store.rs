//! The selection from the object store alone, for when the index is lost
//! or untrusted: topics found by listing (one request per topic), objects
//! listed under `<topic>/` (or, for a window of at most
//! [`WINDOW_DAYS_MAX`] days, under each day's directory), grouped by day
//! directory, each day's objects read to learn their timestamps and sent
//! by timestamp, then UUID.
//!
//! Both key layouts are read: this archiver's `<topic>/YYYY/MM/DD/<uuid>.bson`
//! and upstream's `<topic>/Y/M/D/H/<uuid>.bson` (no zero padding). Days are
//! taken in listing order (chronological for this archiver's layout). What
//! the store cannot say: retraction (only the index records it: every
//! object is selected), partition and offset (sent by key). A message
//! whose Kafka timestamp was absent counts as the start of its key's day
//! for the window. Other keys are ignored and counted.

use super::{Item, Position, Walk, mark_steps};
use crate::identity::{ParsedKey, civil_date, parse_object_key};
use crate::record::Record;
use crate::restore::{RestoreError, Selection};
use crate::store::{self, ObjectStore};
use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use std::collections::VecDeque;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use uuid::Uuid;

/// A longer window lists whole topics rather than one prefix per day.
pub const WINDOW_DAYS_MAX: i64 = 400;
/// Bytes of one day's objects kept from the read that learns their
/// timestamps, so they are not read twice; a larger day is read again.
const DAY_KEEP_BYTES_MAX: usize = 32 * 1024 * 1024;
/// Keys per listing request.
const LIST_PAGE: usize = 1000;
const MS_PER_DAY: i64 = 86_400_000;

/// The prefixes to list for `topic`: its day directories in both layouts
/// when the window is short, sorted as the store lists them; else the
/// whole topic.
fn prefixes(topic: &str, selection: &Selection) -> Vec<String> {
    let (Some(start), Some(end)) = (selection.start_ms, selection.end_ms) else { return vec![format!("{topic}/")] };
    let (first, last) = (start.div_euclid(MS_PER_DAY), (end - 1).div_euclid(MS_PER_DAY));
    if last - first >= WINDOW_DAYS_MAX {
        return vec![format!("{topic}/")];
    }
    let mut prefixes: Vec<String> = (first..=last)
        .flat_map(|days| {
            let (y, m, d) = civil_date(days);
            [format!("{topic}/{y:04}/{m:02}/{d:02}/"), format!("{topic}/{y}/{m}/{d}/")]
        })
        .collect();
    prefixes.sort();
    prefixes.dedup();
    prefixes
}

pub struct StoreWalk {
    store: Arc<dyn ObjectStore>,
    selection: Selection,
    resume: Option<Position>,
    fetch_concurrency: usize,
    prefixes: VecDeque<String>,
    listing: Option<(String, Option<String>)>,
    /// Keys of the day being gathered, and their listed sizes.
    day: Vec<(ParsedKey, String, u64)>,
    report: Arc<StoreWalkReport>,
}

/// What a store walk saw besides its items, for the summary.
#[derive(Debug, Default)]
pub struct StoreWalkReport {
    /// Keys that are not archive objects (counted, not sent).
    pub ignored_keys: AtomicU64,
    /// The UUID file's UUIDs found among the listed objects.
    seen: std::sync::Mutex<HashSet<Uuid>>,
}

impl StoreWalkReport {
    /// The UUIDs of `wanted` no listed object had.
    pub fn unseen(&self, wanted: &BTreeSet<Uuid>) -> Vec<Uuid> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        wanted.iter().filter(|u| !seen.contains(u)).copied().collect()
    }
}

impl StoreWalk {
    /// The topics the store holds (one listing request per topic), those
    /// `selection` wants, and a walk over them strictly after `resume`.
    pub async fn new(
        store: Arc<dyn ObjectStore>,
        selection: Selection,
        resume: Option<Position>,
        fetch_concurrency: usize,
    ) -> Result<(StoreWalk, Vec<String>), RestoreError> {
        let archived = store::topics(&*store).await?;
        let topics: Vec<String> = selection.resolve_topics(archived.iter().map(String::as_str))?.into_iter().collect();
        let mut queue = VecDeque::new();
        for topic in topics.iter().filter(|t| resume.as_ref().is_none_or(|r| **t >= r.topic)) {
            queue.extend(prefixes(topic, &selection));
        }
        let walk = StoreWalk {
            store,
            selection,
            resume,
            fetch_concurrency: fetch_concurrency.max(1),
            prefixes: queue,
            listing: None,
            day: Vec::new(),
            report: Arc::default(),
        };
        Ok((walk, topics))
    }

    /// What the walk saw, readable after it ended.
    pub fn report(&self) -> Arc<StoreWalkReport> {
        Arc::clone(&self.report)
    }

    /// The next listed object, `None` when every prefix is listed.
    async fn next_key(&mut self) -> Result<Option<(ParsedKey, String, u64)>, RestoreError> {
        loop {
            let (prefix, after) = match self.listing.take() {
                Some(listing) => listing,
                None => match self.prefixes.pop_front() {
                    Some(prefix) => (prefix, None),
                    None => return Ok(None),
                },
            };
            let page = self.store.list(&prefix, after.as_deref(), LIST_PAGE).await?;
            // One object at a time from the page: re-listing after it is cheap
            // next to reading the objects, and keeps the walk's state small.
            let mut found = None;
            for object in &page.objects {
                let parsed = parse_object_key(&object.key);
                if let (Some(p), Some(wanted)) = (&parsed, &self.selection.uuids)
                    && wanted.contains(&p.uuid)
                {
                    self.report.seen.lock().unwrap_or_else(|e| e.into_inner()).insert(p.uuid);
                }
                match parsed {
                    Some(parsed) if self.wanted(&parsed) => {
                        found = Some((parsed, object.key.clone(), object.size_bytes));
                        break;
                    }
                    Some(_) => {}
                    None => {
                        self.report.ignored_keys.fetch_add(1, Relaxed);
                    }
                }
            }
            match &found {
                Some((_, key, _)) => self.listing = Some((prefix, Some(key.clone()))),
                None if page.next.is_some() => self.listing = Some((prefix, page.next.clone())),
                None => {}
            }
            if found.is_some() {
                return Ok(found);
            }
        }
    }

    /// Whether a key's topic and day can hold selected messages.
    fn wanted(&self, key: &ParsedKey) -> bool {
        let day_end = key.day_start_ms.saturating_add(MS_PER_DAY);
        self.selection.wants_topic(&key.topic)
            && self.selection.uuids.as_ref().is_none_or(|uuids| uuids.contains(&key.uuid))
            && self.selection.start_ms.is_none_or(|s| day_end > s)
            && self.selection.end_ms.is_none_or(|e| key.day_start_ms < e)
            && self.resume.as_ref().is_none_or(|r| (&key.topic, &key.group) >= (&r.topic, &r.group))
    }

    /// Reads one day's objects: their items in walk order. Each object is
    /// looked at as it arrives and dropped unless kept, so at most
    /// [`DAY_KEEP_BYTES_MAX`] plus `fetch_concurrency` objects are held.
    async fn read_day(&self, day: Vec<(ParsedKey, String, u64)>) -> Result<Vec<Item>, RestoreError> {
        let mut kept_bytes = 0usize;
        let mut items = Vec::with_capacity(day.len());
        let mut read = stream::iter(day)
            .map(|(parsed, key, size)| async move {
                let bytes = self.store.get(&key).await?;
                Ok::<_, RestoreError>((parsed, key, size, bytes))
            })
            .buffered(self.fetch_concurrency);
        while let Some((parsed, key, size, bytes)) = read.try_next().await? {
            let facts = bytes.as_deref().and_then(object_facts);
            let timestamp = match facts {
                Some(f) if f.timestamp_ms >= 0 => f.timestamp_ms,
                _ => parsed.day_start_ms,
            };
            if facts.is_some_and(|f| f.direct_upload && !self.selection.include_uploads) {
                continue;
            }
            if facts.is_some() && !self.selection.in_window(timestamp) {
                continue;
            }
            let keep = bytes.filter(|b| kept_bytes + b.len() <= DAY_KEEP_BYTES_MAX);
            kept_bytes += keep.as_ref().map_or(0, Bytes::len);
            let position = Position {
                topic: parsed.topic.clone(),
                lane: 0,
                group: parsed.group,
                seq: timestamp,
                uuid: parsed.uuid,
            };
            items.push(Item {
                page_last: Arc::new(position.clone()),
                position,
                uuid: parsed.uuid,
                object_key: key,
                topic: parsed.topic,
                partition: None,
                offset: None,
                size_bytes: keep.as_ref().map_or(size, |b| b.len() as u64),
                crc32: None,
                timestamp_type: None,
                prefetched: keep,
            });
        }
        items.sort_by(|a, b| a.position.cmp(&b.position));
        items.retain(|item| self.resume.as_ref().is_none_or(|r| item.position > *r));
        mark_steps(&mut items);
        Ok(items)
    }
}

/// What the walk needs from an object: its Kafka timestamp and whether it
/// was a direct upload. `None` when it does not decode (the send reports it).
#[derive(Debug, Clone, Copy)]
struct ObjectFacts {
    timestamp_ms: i64,
    direct_upload: bool,
}

fn object_facts(bytes: &[u8]) -> Option<ObjectFacts> {
    let record = Record::decode(bytes).ok()?;
    let direct_upload = record.annotations.as_ref().and_then(|a| a.flag("direct_upload")).unwrap_or(false);
    Some(ObjectFacts { timestamp_ms: record.metadata.timestamp, direct_upload })
}

#[async_trait]
impl Walk for StoreWalk {
    async fn next_page(&mut self) -> Result<Option<Vec<Item>>, RestoreError> {
        loop {
            let next = self.next_key().await?;
            let same_day = |k: &ParsedKey, d: &ParsedKey| k.topic == d.topic && k.group == d.group;
            match next {
                Some(entry) if self.day.first().is_none_or(|(d, _, _)| same_day(&entry.0, d)) => self.day.push(entry),
                next => {
                    let day = std::mem::take(&mut self.day);
                    if let Some(entry) = next {
                        self.day.push(entry);
                    } else if day.is_empty() {
                        return Ok(None);
                    }
                    let items = self.read_day(day).await?;
                    if !items.is_empty() {
                        return Ok(Some(items));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_windows_list_day_directories_in_listing_order() {
        let day = |d: i64| d * MS_PER_DAY;
        let selection = Selection { start_ms: Some(day(19_675)), end_ms: Some(day(19_677)), ..Selection::default() };
        assert_eq!(prefixes("t", &selection), ["t/2023/11/14/", "t/2023/11/15/"]);
        let january = Selection { start_ms: Some(day(19_727)), end_ms: Some(day(19_728) + 1), ..Selection::default() };
        assert_eq!(prefixes("t", &january), ["t/2024/01/05/", "t/2024/01/06/", "t/2024/1/5/", "t/2024/1/6/"]);
        let long = Selection { start_ms: Some(0), end_ms: Some(day(1000)), ..Selection::default() };
        assert_eq!(prefixes("t", &long), ["t/"]);
    }
}
