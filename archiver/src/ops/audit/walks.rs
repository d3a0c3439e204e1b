//! The three walks of an audit, each yielding the work on one row or key
//! at a time, in an order a job can resume after: index rows by
//! `(timestamp, id)`, store keys by key, both stores' keys merge-joined by
//! key. Each holds one page of its listing (two for the merge-join).

use super::{AuditError, Checked, Context, Counts, Finding, Phase, Walk, Work};
use crate::identity::{self, parse_object_key};
use crate::index::{Cursor, IndexEntry, IndexError, IndexRow, ListQuery};
use crate::ops::common::retrying;
use crate::record::Record;
use crate::store::{ObjectMeta, ObjectStore, StoreError};
use bytes::Bytes;
use futures::FutureExt;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use uuid::Uuid;

/// Keys per listing request.
const LIST_PAGE: usize = 1000;

/// Work already done (nothing to read).
fn ready(checked: Checked) -> Work {
    futures::future::ready(Ok(checked)).boxed()
}

/// Index → store: every selected row's object read and checked.
pub(super) struct IndexWalk {
    context: Arc<Context>,
    /// `None` once the last page was read (or no row is selected).
    query: Option<ListQuery>,
    page: VecDeque<IndexEntry>,
}

impl IndexWalk {
    pub(super) fn new(context: Arc<Context>, query: Option<ListQuery>, after: Option<(i64, i64)>) -> IndexWalk {
        let query = query.map(|q| ListQuery { after: after.map(|(timestamp, id)| Cursor { timestamp, id }), ..q });
        IndexWalk { context, query, page: VecDeque::new() }
    }
}

#[async_trait::async_trait]
impl Walk for IndexWalk {
    async fn next(&mut self) -> Result<Option<Work>, AuditError> {
        while self.page.is_empty() {
            let Some(query) = self.query.take() else { return Ok(None) };
            let index = &self.context.index;
            let page = retrying("list rows", || index.list(&query), IndexError::is_transient)
                .await
                .map_err(|e| self.context.index_error(e))?;
            self.query = page.next.map(|after| ListQuery { after: Some(after), ..query });
            self.page = page.entries.into();
        }
        let Some(entry) = self.page.pop_front() else { return Ok(None) };
        Ok(Some(check_row(Arc::clone(&self.context), entry).boxed()))
    }
}

/// Reads a row's object and checks it against the row.
async fn check_row(context: Arc<Context>, entry: IndexEntry) -> Result<Checked, AuditError> {
    let row = entry.row;
    let phase = Phase::Index { after: Some((row.timestamp, entry.id)) };
    let mut counts = Counts { rows: 1, ..Counts::default() };
    if context.sample.is_some_and(|s| !s.picks(row.uuid)) {
        counts.rows_not_sampled = 1;
        return Ok(Checked { phase, counts, finding: None });
    }
    counts.rows_checked = 1;
    let store = &context.store;
    let got = match retrying("get", || store.get(&row.key), StoreError::is_transient).await {
        // A key no store accepts holds no object.
        Err(StoreError::InvalidKey { .. }) => Ok(None),
        got => got,
    };
    let finding = match got.map_err(|e| context.store_error(e))? {
        None => Some(Finding::MissingObject {
            uuid: row.uuid,
            key: row.key.clone(),
            row_bytes: row_bytes(&row),
            row_crc32: row.crc32,
        }),
        Some(bytes) => {
            counts.bytes_read = bytes.len() as u64;
            let (uuid, key) = (row.uuid, row.key.clone());
            // Decoding and SHA-256 are CPU work: off the I/O threads.
            let checked = tokio::task::spawn_blocking(move || check_object(&row, &bytes)).await;
            checked
                .unwrap_or_else(|e| Some(Finding::Undecodable { uuid, key, reason: format!("checking failed: {e}") }))
        }
    };
    Ok(Checked { phase, counts, finding })
}

fn row_bytes(row: &IndexRow) -> u64 {
    u64::try_from(row.size).unwrap_or(0)
}

/// What is wrong with `bytes` as the object of `row`, checked in order:
/// size, CRC-32, decoding, fingerprint.
pub(super) fn check_object(row: &IndexRow, bytes: &Bytes) -> Option<Finding> {
    let (uuid, key) = (row.uuid, row.key.clone());
    let object_bytes = bytes.len() as u64;
    if i64::from(row.size) != object_bytes as i64 {
        return Some(Finding::SizeMismatch { uuid, key, row_bytes: row_bytes(row), object_bytes });
    }
    let object_crc32 = crc32fast::hash(bytes);
    if object_crc32 != row.crc32 {
        return Some(Finding::CrcMismatch { uuid, key, row_crc32: row.crc32, object_crc32 });
    }
    let record = match Record::decode(bytes) {
        Ok(record) => record,
        Err(e) => return Some(Finding::Undecodable { uuid, key, reason: e.to_string() }),
    };
    let fingerprint = identity::fingerprint(&record.message());
    (fingerprint.0 != row.fingerprint).then(|| Finding::FingerprintMismatch {
        uuid,
        key,
        row: identity::Fingerprint(row.fingerprint).to_string(),
        object: fingerprint.to_string(),
    })
}

/// Calls `list` with retries.
async fn list_page(
    store: &dyn ObjectStore,
    prefix: &str,
    after: Option<&str>,
) -> Result<crate::store::ListPage, StoreError> {
    retrying("list", || store.list(prefix, after, LIST_PAGE), StoreError::is_transient).await
}

/// Where a walk over `topics` (in key order) resumes after `after`: the
/// first topic still to walk and the key to list after in it.
fn resume_point(topics: &[String], after: Option<String>) -> (usize, Option<String>) {
    let Some(after) = after else { return (0, None) };
    for (i, topic) in topics.iter().enumerate() {
        let prefix = format!("{topic}/");
        if after.starts_with(&prefix) {
            return (i, Some(after));
        }
        if prefix.as_str() > after.as_str() {
            return (i, None);
        }
    }
    (topics.len(), None)
}

/// Store → index: the primary's keys, looked up by UUID a page at a time.
pub(super) struct StoreWalk {
    context: Arc<Context>,
    topics: Vec<String>,
    topic: usize,
    after: Option<String>,
    checked: VecDeque<Checked>,
}

impl StoreWalk {
    pub(super) fn new(context: Arc<Context>, topics: Vec<String>, after: Option<String>) -> StoreWalk {
        let (topic, after) = resume_point(&topics, after);
        StoreWalk { context, topics, topic, after, checked: VecDeque::new() }
    }

    /// One listing page of `topic`, every key checked.
    async fn check_page(&self, topic: &str, objects: &[ObjectMeta]) -> Result<VecDeque<Checked>, AuditError> {
        let context = &self.context;
        let parsed: Vec<_> = objects.iter().map(|o| parse_object_key(&o.key).filter(|p| p.topic == topic)).collect();
        let uuids: Vec<Uuid> = parsed.iter().flatten().map(|p| p.uuid).collect();
        let rows: HashMap<Uuid, String> = if uuids.is_empty() {
            HashMap::new()
        } else {
            let index = &context.index;
            let found = retrying("look up", || index.get_many(&uuids), IndexError::is_transient).await;
            found.map_err(|e| context.index_error(e))?.into_iter().map(|e| (e.row.uuid, e.row.key)).collect()
        };
        let mut checked = VecDeque::with_capacity(objects.len());
        for (object, parsed) in objects.iter().zip(parsed) {
            let phase = Phase::Store { after: Some(object.key.clone()) };
            let mut counts = Counts::default();
            let mut finding = None;
            match parsed {
                None if context.window.is_whole() => counts.ignored_keys = 1,
                None => {}
                Some(parsed) if !context.window.holds_day(parsed.day_start_ms) => {}
                Some(parsed) => {
                    counts.store_objects = 1;
                    let row_key = rows.get(&parsed.uuid);
                    if row_key.is_some_and(|k| *k == object.key) {
                        // Referenced by its row.
                    } else if context.is_young(object.modified_ms) {
                        counts.young_orphans = 1;
                    } else {
                        finding = Some(Finding::Orphan {
                            key: object.key.clone(),
                            uuid: parsed.uuid,
                            size_bytes: object.size_bytes,
                            modified_ms: object.modified_ms,
                            row_key: row_key.cloned(),
                        });
                    }
                }
            }
            checked.push_back(Checked { phase, counts, finding });
        }
        Ok(checked)
    }
}

#[async_trait::async_trait]
impl Walk for StoreWalk {
    async fn next(&mut self) -> Result<Option<Work>, AuditError> {
        loop {
            if let Some(checked) = self.checked.pop_front() {
                return Ok(Some(ready(checked)));
            }
            let Some(topic) = self.topics.get(self.topic).cloned() else { return Ok(None) };
            let prefix = format!("{topic}/");
            let page = list_page(&*self.context.store, &prefix, self.after.as_deref())
                .await
                .map_err(|e| self.context.store_error(e))?;
            self.checked = self.check_page(&topic, &page.objects).await?;
            match page.next {
                Some(next) => self.after = Some(next),
                None => {
                    self.topic += 1;
                    self.after = None;
                }
            }
        }
    }
}

/// One store's listing of one prefix, a page at a time.
struct Listing {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    after: Option<String>,
    page: VecDeque<ObjectMeta>,
    /// The last page was read.
    ended: bool,
}

impl Listing {
    fn new(store: Arc<dyn ObjectStore>, prefix: String, after: Option<String>) -> Listing {
        Listing { store, prefix, after, page: VecDeque::new(), ended: false }
    }

    /// The next key's metadata, without taking it.
    async fn peek(&mut self) -> Result<Option<&ObjectMeta>, StoreError> {
        while self.page.is_empty() && !self.ended {
            let page = list_page(&*self.store, &self.prefix, self.after.as_deref()).await?;
            self.ended = page.next.is_none();
            self.after = page.next;
            self.page = page.objects.into();
        }
        Ok(self.page.front())
    }

    fn take(&mut self) -> Option<ObjectMeta> {
        self.page.pop_front()
    }
}

/// Primary ↔ replica: both listings merge-joined by key, topic by topic.
pub(super) struct ReplicaWalk {
    context: Arc<Context>,
    replica: Arc<dyn ObjectStore>,
    topics: Vec<String>,
    topic: usize,
    /// The primary's and the replica's listings of the current topic.
    listings: Option<(Listing, Listing)>,
    resume_after: Option<String>,
}

impl ReplicaWalk {
    pub(super) fn new(context: Arc<Context>, topics: Vec<String>, after: Option<String>) -> ReplicaWalk {
        let (topic, resume_after) = resume_point(&topics, after);
        let replica = context.replica.clone().unwrap_or_else(|| Arc::clone(&context.store));
        ReplicaWalk { context, replica, topics, topic, listings: None, resume_after }
    }

    /// The work on one key of the merge-join: in the primary only, in the
    /// replica only, or in both.
    fn compare(&self, primary: Option<ObjectMeta>, replica: Option<ObjectMeta>) -> Work {
        let context = &self.context;
        let key = primary.as_ref().or(replica.as_ref()).map(|o| o.key.clone()).unwrap_or_default();
        let phase = Phase::Replica { after: Some(key.clone()) };
        let mut counts = Counts::default();
        let in_window = match parse_object_key(&key) {
            Some(parsed) => context.window.holds_day(parsed.day_start_ms),
            None => context.window.is_whole(),
        };
        if !in_window {
            return ready(Checked { phase, counts, finding: None });
        }
        counts.replica_keys = 1;
        let finding = match (primary, replica) {
            (Some(p), None) if context.is_young(p.modified_ms) => {
                counts.young_unreplicated = 1;
                None
            }
            (Some(p), None) => Some(Finding::ReplicaMissing { key, size_bytes: p.size_bytes }),
            (None, Some(r)) => Some(Finding::ReplicaExtra { key, size_bytes: r.size_bytes }),
            (Some(p), Some(r)) if p.size_bytes != r.size_bytes => Some(Finding::ReplicaDiffers {
                key,
                detail: format!("{} bytes in the primary, {} in the replica", p.size_bytes, r.size_bytes),
            }),
            (Some(_), Some(_)) if context.sample.is_none_or(|s| s.picks_key(&key)) => {
                let (context, replica) = (Arc::clone(context), Arc::clone(&self.replica));
                return compare_bytes(context, replica, key, phase, counts).boxed();
            }
            _ => None,
        };
        ready(Checked { phase, counts, finding })
    }
}

/// Reads `key` from both stores and compares the bytes.
async fn compare_bytes(
    context: Arc<Context>,
    replica: Arc<dyn ObjectStore>,
    key: String,
    phase: Phase,
    mut counts: Counts,
) -> Result<Checked, AuditError> {
    let store = &context.store;
    let (primary, copy) = tokio::join!(
        retrying("get", || store.get(&key), StoreError::is_transient),
        retrying("get", || replica.get(&key), StoreError::is_transient),
    );
    let primary = primary.map_err(|e| context.store_error(e))?;
    let copy = copy.map_err(|e| context.replica_error(e))?;
    let finding = match (primary, copy) {
        (Some(primary), Some(copy)) => {
            counts.replica_compared = 1;
            counts.bytes_read = (primary.len() + copy.len()) as u64;
            (primary != copy).then(|| Finding::ReplicaDiffers {
                detail: format!(
                    "other bytes: crc32 {:#010x} in the primary, {:#010x} in the replica",
                    crc32fast::hash(&primary),
                    crc32fast::hash(&copy)
                ),
                key,
            })
        }
        // Deleted between the listing and the read: the next audit sees it.
        _ => None,
    };
    Ok(Checked { phase, counts, finding })
}

#[async_trait::async_trait]
impl Walk for ReplicaWalk {
    async fn next(&mut self) -> Result<Option<Work>, AuditError> {
        loop {
            let Some(topic) = self.topics.get(self.topic) else { return Ok(None) };
            let (store, replica) = (Arc::clone(&self.context.store), Arc::clone(&self.replica));
            let resume = &mut self.resume_after;
            let (primary, copy) = self.listings.get_or_insert_with(|| {
                let (prefix, after) = (format!("{topic}/"), resume.take());
                (Listing::new(store, prefix.clone(), after.clone()), Listing::new(replica, prefix, after))
            });
            let p = primary.peek().await.map_err(|e| self.context.store_error(e))?.map(|o| o.key.clone());
            let r = copy.peek().await.map_err(|e| self.context.replica_error(e))?.map(|o| o.key.clone());
            let (p_take, r_take) = match (&p, &r) {
                (None, None) => {
                    self.topic += 1;
                    self.listings = None;
                    continue;
                }
                (Some(_), None) => (true, false),
                (None, Some(_)) => (false, true),
                (Some(p), Some(r)) => (p <= r, r <= p),
            };
            let primary = if p_take { primary.take() } else { None };
            let copy = if r_take { copy.take() } else { None };
            return Ok(Some(self.compare(primary, copy)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_resumes_in_the_topic_of_its_last_key() {
        let topics = vec!["a.b".to_owned(), "a".to_owned(), "c".to_owned()];
        assert_eq!(resume_point(&topics, None), (0, None));
        assert_eq!(resume_point(&topics, Some("a/2024/x".into())), (1, Some("a/2024/x".into())));
        assert_eq!(resume_point(&topics, Some("a.b/2024/x".into())), (0, Some("a.b/2024/x".into())));
        assert_eq!(resume_point(&topics, Some("b/x".into())), (2, None));
        assert_eq!(resume_point(&topics, Some("d/x".into())), (3, None));
    }
}
