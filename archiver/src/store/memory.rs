//! In-memory object store.
//!
//! For unit tests and the embedded demo only: nothing survives the process.
//! It applies the same key rule and list semantics as the durable stores, so
//! code tested against it behaves the same against S3 or a directory.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;

use super::{ListPage, ObjectMeta, ObjectStore, PutOutcome, StoreError, clamp_limit, validate_key, validate_prefix};

/// Objects in a `BTreeMap` behind a mutex (for tests and the demo, not durable).
///
/// The map's key order is the lexicographic byte order that S3 lists in, so
/// paging needs no extra sorting.
#[derive(Debug)]
pub struct MemoryStore {
    bucket: String,
    /// Each object's bytes and insert time (ms since the epoch).
    objects: Mutex<BTreeMap<String, (Bytes, i64)>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store whose `bucket()` is `"memory"`.
    pub fn new() -> Self {
        Self { bucket: "memory".to_owned(), objects: Mutex::new(BTreeMap::new()) }
    }

    /// Sets the name reported by `bucket()` (and so recorded in index rows).
    pub fn with_bucket(mut self, bucket: impl Into<String>) -> Self {
        self.bucket = bucket.into();
        self
    }

    /// The map, even if a panicking test thread poisoned the mutex: every
    /// critical section leaves the map consistent, so poison carries no meaning.
    fn objects(&self) -> MutexGuard<'_, BTreeMap<String, (Bytes, i64)>> {
        self.objects.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<PutOutcome, StoreError> {
        validate_key(key)?;
        let mut objects = self.objects();
        if objects.contains_key(key) {
            return Ok(PutOutcome::AlreadyExists);
        }
        objects.insert(key.to_owned(), (bytes, now_ms()));
        Ok(PutOutcome::Created)
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        validate_key(key)?;
        Ok(self.objects().get(key).map(|(bytes, _)| bytes.clone()))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        validate_key(key)?;
        Ok(self.objects().get(key).map(|object| meta(key, object)))
    }

    async fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<ListPage, StoreError> {
        validate_prefix(prefix)?;
        let limit = clamp_limit(limit);
        let lower = match after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let objects = self.objects();
        let mut matching = objects
            .range::<str, _>((lower, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, object)| meta(key, object));
        let page: Vec<ObjectMeta> = matching.by_ref().take(limit).collect();
        let more = matching.next().is_some();
        Ok(super::page(page, more))
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        validate_key(key)?;
        Ok(self.objects().remove(key).is_some())
    }

    fn bucket(&self) -> &str {
        &self.bucket
    }
}

fn meta(key: &str, (bytes, modified_ms): &(Bytes, i64)) -> ObjectMeta {
    ObjectMeta { key: key.to_owned(), size_bytes: bytes.len() as u64, modified_ms: Some(*modified_ms) }
}

/// The wall clock in ms since the epoch (0 before it).
fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}
