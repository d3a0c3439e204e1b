//! A [`MessageSource`] wrapper: injects the schedule's delivery and commit
//! crashes, and audits every offset commit — nothing may be committed past
//! a message that is not durably archived.

use crate::world::{Process, lock};
use archiver::identity::Identity;
use archiver::index::Index;
use archiver::record::Message;
use archiver::source::{Delivered, MessageSource, Position, SourceError};
use archiver::store::ObjectStore;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

type PartitionId = (String, i32);

/// Checks commits against the archive behind the fault layers.
#[derive(Debug)]
pub struct CommitAudit {
    /// Every partition's messages, by offset.
    log: BTreeMap<PartitionId, Vec<Message>>,
    index: Arc<dyn Index>,
    store: Arc<dyn ObjectStore>,
    archive_test_messages: bool,
    /// Per partition, the offset below which everything was checked.
    checked: Mutex<BTreeMap<PartitionId, i64>>,
    violations: Mutex<Vec<String>>,
}

impl CommitAudit {
    /// `index` and `store` are the real ones, not the fault layers.
    pub fn new(
        log: BTreeMap<PartitionId, Vec<Message>>,
        index: Arc<dyn Index>,
        store: Arc<dyn ObjectStore>,
        archive_test_messages: bool,
    ) -> CommitAudit {
        CommitAudit {
            log,
            index,
            store,
            archive_test_messages,
            checked: Mutex::default(),
            violations: Mutex::default(),
        }
    }

    pub fn violations(&self) -> Vec<String> {
        lock(&self.violations).clone()
    }

    /// Checks that every message below `p.next_offset` is durable.
    async fn check(&self, p: &Position) {
        let id = (p.topic.clone(), p.partition);
        let from = lock(&self.checked).get(&id).copied().unwrap_or(0);
        let messages = self.log.get(&id).map(Vec::as_slice).unwrap_or_default();
        for offset in from..p.next_offset {
            let message = usize::try_from(offset).ok().and_then(|o| messages.get(o));
            let problem = match message {
                None => Some("is beyond the end of the log".to_owned()),
                Some(m) => self.not_durable(m).await,
            };
            if let Some(problem) = problem {
                lock(&self.violations).push(format!(
                    "commit of {}/{} up to {} covers offset {offset}, which {problem}",
                    p.topic, p.partition, p.next_offset
                ));
            }
        }
        let mut checked = lock(&self.checked);
        let mark = checked.entry(id).or_default();
        *mark = (*mark).max(p.next_offset);
    }

    /// Why `message` is not durably archived, or `None` if it is (or is a
    /// skipped `_test` message).
    async fn not_durable(&self, message: &Message) -> Option<String> {
        if !self.archive_test_messages && message.headers.iter().any(|h| h.key == "_test") {
            return None;
        }
        let id = Identity::of(message);
        let uuids: Vec<_> = id.client_uuid.into_iter().chain([id.derived_uuid]).collect();
        let rows = match self.index.get_many(&uuids).await {
            Ok(rows) => rows,
            Err(e) => return Some(format!("could not be looked up: {e}")),
        };
        let Some(row) = rows.iter().find(|e| e.row.fingerprint == id.fingerprint.0) else {
            return Some(format!("has no index row (uuid {})", id.preferred_uuid()));
        };
        match self.store.head(&row.row.key).await {
            Ok(Some(_)) => None,
            Ok(None) => Some(format!("has a row but no object at {}", row.row.key)),
            Err(e) => Some(format!("could not be checked: {e}")),
        }
    }
}

/// The pipeline's source in a scenario: a consumer of the memory log.
pub struct FaultSource {
    inner: Box<dyn MessageSource>,
    process: Process,
    audit: Arc<CommitAudit>,
}

impl FaultSource {
    pub fn new(inner: Box<dyn MessageSource>, process: Process, audit: Arc<CommitAudit>) -> FaultSource {
        FaultSource { inner, process, audit }
    }
}

#[async_trait]
impl MessageSource for FaultSource {
    async fn next(&mut self) -> Result<Option<Delivered>, SourceError> {
        self.process.alive().await;
        let world = Arc::clone(&self.process.world);
        let so_far = world.counters().deliveries;
        if world.schedule.crash_after_delivery(so_far) && world.once(format!("delivery {so_far}")) {
            self.process.crash(format!("crash after delivery #{so_far}")).await;
        }
        let next = self.inner.next().await?;
        if next.is_some() {
            world.count(|c| c.deliveries += 1);
        }
        Ok(next)
    }

    async fn commit(&mut self, positions: &[Position]) -> Result<(), SourceError> {
        self.process.alive().await;
        for p in positions {
            self.audit.check(p).await;
        }
        let result = self.inner.commit(positions).await;
        let world = Arc::clone(&self.process.world);
        if let Err(e) = &result {
            world.fired(format!("offset commit failed: {e}"));
        }
        let n = world.count(|c| {
            c.commits += 1;
            c.commits
        });
        if world.schedule.crash_after_commit(n) {
            self.process.crash(format!("crash after offset commit #{n}")).await;
        }
        result
    }

    async fn close(&mut self) -> Result<(), SourceError> {
        self.process.alive().await;
        self.inner.close().await
    }
}
