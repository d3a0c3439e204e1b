//! One message, from delivery to a written object: identity, decision,
//! conditional create. Index rows are batched by the caller.

use super::backoff::Backoff;
use super::key_locks::KeyLocks;
use super::{Provenance, prepare};
use crate::identity::{self, Collision, Decision, Fingerprint, Identity, Placement};
use crate::index::{Index, IndexError, IndexRow};
use crate::ops::metrics::Metrics;
use crate::record::Record;
use crate::source::Delivered;
use crate::store::{ObjectStore, PutOutcome, StoreError};
use crate::topics;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Instant;

/// What the pipeline must know to place messages.
#[derive(Debug)]
pub struct Context {
    pub store: Arc<dyn ObjectStore>,
    pub index: Arc<dyn Index>,
    pub metrics: Arc<Metrics>,
    pub archive_test_messages: bool,
    pub public_topics: Vec<String>,
    pub retry_initial_backoff_ms: u64,
    pub retry_max_backoff_ms: u64,
    /// Held from each conditional create until its outcome is known.
    pub key_locks: KeyLocks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Stored under its client or derived UUID.
    Archived,
    /// Stored under its derived UUID because its `_id` was taken.
    Conflict,
    /// Already archived.
    Duplicate,
    /// Has a `_test` header and test messages are not archived.
    SkippedTest,
}

/// The result of placing one delivered message.
#[derive(Debug)]
pub struct Placed {
    pub delivered: Delivered,
    pub kind: Kind,
    /// The index row to make durable before the offset may be committed;
    /// `None` when nothing needs writing.
    pub row: Option<IndexRow>,
}

#[derive(Debug, thiserror::Error)]
enum PlaceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Collision(#[from] Collision),
    #[error("cannot archive message: {0}")]
    Prepare(#[from] super::PrepareError),
    #[error("UUID {uuid} kept changing hands while placing the message")]
    Unsettled { uuid: uuid::Uuid },
    #[error("object {key} exists but cannot be read: {reason}")]
    CorruptObject { key: String, reason: String },
    /// Another process removed the object between our create and its read
    /// back (its unreferenced copy of a message placed again): a race, not
    /// damage, so it is retried quietly.
    #[error("object {key} vanished after a conditional create reported it")]
    Vanished { key: String },
}

impl PlaceError {
    fn is_transient(&self) -> bool {
        match self {
            PlaceError::Store(e) => e.is_transient(),
            PlaceError::Index(e) => e.is_transient(),
            PlaceError::Unsettled { .. } | PlaceError::Vanished { .. } => true,
            _ => false,
        }
    }
}

/// Places a message again after the index refused its row because another
/// message took its UUID first with another object key (another day, or a
/// message without a timestamp archived on another day). The object just
/// written for it at `ours.key` is referenced by no row and is removed —
/// unless the existing row points at that very key (its object had been
/// lost, and ours, identical, restored it). Placing again then sees the
/// index row and decides afresh.
pub async fn place_again(ctx: &Context, delivered: Delivered, ours: IndexRow) -> Result<Placed, Refused> {
    let mut backoff = Backoff::new(ctx.retry_initial_backoff_ms, ctx.retry_max_backoff_ms);
    while let Err(e) = remove_unreferenced(ctx, &ours).await {
        tracing::warn!(key = %ours.key, error = %e, "cannot remove an unreferenced object; retrying");
        ctx.metrics.retry("store");
        tokio::time::sleep(backoff.next_delay()).await;
    }
    retry(ctx, delivered, Lookup::IndexFirst).await
}

async fn remove_unreferenced(ctx: &Context, ours: &IndexRow) -> Result<(), PlaceError> {
    let holder = ctx.index.get(ours.uuid).await?;
    if holder.is_none_or(|h| h.row.key != ours.key) {
        // Under the key's lock, so that a redelivery of this message never
        // sees the object exist at its create and vanish at its read-back.
        let _delete = ctx.key_locks.lock(&ours.key).await;
        ctx.store.delete(&ours.key).await?;
    }
    Ok(())
}

/// Places `delivered`, retrying every failure with backoff: nothing is ever
/// skipped. Consumption pauses meanwhile because the in-flight limit fills
/// up. A corrupt object is logged as an error and retried too, so the
/// operator can fix it without losing the message; a store that refuses the
/// archiver's credentials or requests ([`Refused`]) ends the run instead,
/// since no retry can succeed until its configuration changes.
pub async fn place_with_retry(ctx: &Context, delivered: Delivered) -> Result<Placed, Refused> {
    retry(ctx, delivered, Lookup::StoreFirst).await
}

/// The object store refuses the archiver (credentials, permissions, a
/// missing bucket): permanent until its configuration is fixed.
#[derive(Debug, thiserror::Error)]
#[error("the object store refuses the archiver: {0}")]
pub struct Refused(pub StoreError);

/// Whether to ask the index before writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lookup {
    /// Write first: new messages (nearly all traffic) then cost one
    /// conditional create and no index query; a duplicate is recognised by
    /// the create's "already exists" and the stored object's fingerprint.
    StoreFirst,
    /// Ask the index first: needed when the index already refused the
    /// message's row, whose holder has another object key.
    IndexFirst,
}

async fn retry(ctx: &Context, delivered: Delivered, lookup: Lookup) -> Result<Placed, Refused> {
    let mut backoff = Backoff::new(ctx.retry_initial_backoff_ms, ctx.retry_max_backoff_ms);
    loop {
        let e = match place(ctx, &delivered, lookup).await {
            Ok(placed) => return Ok(placed),
            Err(PlaceError::Store(e)) if !e.is_transient() => return Err(Refused(e)),
            Err(e) => e,
        };
        let (topic, partition, offset) = (&delivered.message.topic, delivered.partition, delivered.offset);
        if e.is_transient() {
            tracing::warn!(%topic, partition, offset, error = %e, "transient failure; retrying");
        } else {
            tracing::error!(%topic, partition, offset, error = %e, "cannot archive; retrying until fixed");
        }
        ctx.metrics.retry(match e {
            PlaceError::Index(_) => "index",
            _ => "store",
        });
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

async fn place(ctx: &Context, delivered: &Delivered, lookup: Lookup) -> Result<Placed, PlaceError> {
    let message = &delivered.message;
    let placed = |kind, row| Placed { delivered: delivered.clone(), kind, row };
    if !ctx.archive_test_messages && message.headers.iter().any(|h| h.key == "_test") {
        return Ok(placed(Kind::SkippedTest, None));
    }
    let id = Identity::of(message);
    let (at_preferred, at_derived) = match lookup {
        Lookup::StoreFirst => (None, None),
        Lookup::IndexFirst => indexed_fingerprints(ctx, &id).await?,
    };
    if at_preferred == Some(id.fingerprint) || (id.client_uuid.is_some() && at_derived == Some(id.fingerprint)) {
        return Ok(placed(Kind::Duplicate, None));
    }
    let provenance = Provenance {
        partition: Some(delivered.partition),
        offset: Some(delivered.offset),
        timestamp_type: delivered.timestamp_type,
        ingested_at_ms: now_ms(),
        public: topics::matches_any(&ctx.public_topics, &message.topic),
        direct_upload: false,
    };
    let mut decision = identity::decide(&id, at_preferred, at_derived)?;
    // Each pass either finishes or learns what occupies one more UUID; there
    // are only two UUIDs a message can take.
    for _ in 0..3 {
        let placement = *decision.placement();
        let prepared = prepare(message, id.fingerprint, &placement, &provenance, ctx.store.bucket())?;
        if let Decision::Duplicate(_) = decision {
            return Ok(placed(Kind::Duplicate, Some(prepared.row)));
        }
        let _create = ctx.key_locks.lock(&prepared.key).await;
        let started = Instant::now();
        let outcome = ctx.store.put_if_absent(&prepared.key, Bytes::from(prepared.object)).await?;
        ctx.metrics.object_write_seconds(started.elapsed().as_secs_f64());
        match outcome {
            PutOutcome::Created => {
                let kind = if placement.claimed_uuid.is_some() { Kind::Conflict } else { Kind::Archived };
                return Ok(placed(kind, Some(prepared.row)));
            }
            PutOutcome::AlreadyExists => {
                let held = stored_fingerprint(ctx, &prepared.key).await?;
                decision = redecide(&id, &placement, held, at_derived)?;
            }
        }
    }
    Err(PlaceError::Unsettled { uuid: decision.placement().uuid })
}

/// The decision once the object at `placement` turned out to hold `held`.
pub(crate) fn redecide(
    id: &Identity,
    placement: &Placement,
    held: Fingerprint,
    at_derived: Option<Fingerprint>,
) -> Result<Decision, Collision> {
    if held == id.fingerprint {
        return Ok(Decision::Duplicate(*placement));
    }
    if placement.uuid == id.preferred_uuid() {
        return identity::decide(id, Some(held), at_derived);
    }
    Err(Collision { uuid: placement.uuid, held, ours: id.fingerprint })
}

/// Fingerprints of the messages the index holds under the preferred and the
/// derived UUID.
async fn indexed_fingerprints(
    ctx: &Context,
    id: &Identity,
) -> Result<(Option<Fingerprint>, Option<Fingerprint>), IndexError> {
    let mut uuids = vec![id.preferred_uuid()];
    if id.derived_uuid != id.preferred_uuid() {
        uuids.push(id.derived_uuid);
    }
    let rows = ctx.index.get_many(&uuids).await?;
    let at = |uuid| rows.iter().find(|e| e.row.uuid == uuid).map(|e| Fingerprint(e.row.fingerprint));
    Ok((at(id.preferred_uuid()), at(id.derived_uuid).filter(|_| id.client_uuid.is_some())))
}

/// The fingerprint of the message stored at `key`.
async fn stored_fingerprint(ctx: &Context, key: &str) -> Result<Fingerprint, PlaceError> {
    let bytes = ctx.store.get(key).await?.ok_or_else(|| PlaceError::Vanished { key: key.to_owned() })?;
    let record =
        Record::decode(&bytes).map_err(|e| PlaceError::CorruptObject { key: key.to_owned(), reason: e.to_string() })?;
    Ok(identity::fingerprint(&record.message()))
}

pub(crate) fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Placement;
    use crate::index::{MemoryIndex, TimestampType};
    use crate::record::{Key, Message};
    use crate::store::MemoryStore;
    use std::time::Duration;

    fn context() -> Context {
        Context {
            store: Arc::new(MemoryStore::new()),
            index: Arc::new(MemoryIndex::new()),
            metrics: Arc::new(Metrics::new()),
            archive_test_messages: false,
            public_topics: Vec::new(),
            retry_initial_backoff_ms: 1,
            retry_max_backoff_ms: 10,
            key_locks: KeyLocks::default(),
        }
    }

    fn prepared(ctx: &Context) -> super::super::Prepared {
        let message =
            Message { topic: "t".into(), timestamp: 5, key: Key::Null, headers: Vec::new(), payload: Some(vec![1]) };
        let id = Identity::of(&message);
        let placement = Placement { uuid: id.derived_uuid, is_client_uuid: false, claimed_uuid: None };
        let provenance = Provenance {
            partition: Some(0),
            offset: Some(0),
            timestamp_type: TimestampType::Create,
            ingested_at_ms: 0,
            public: false,
            direct_upload: false,
        };
        prepare(&message, id.fingerprint, &placement, &provenance, ctx.store.bucket()).expect("prepares")
    }

    /// Issue 11, point 18: a redelivery's create and read-back hold the key's
    /// lock; the removal of an unreferenced copy must wait for it, or the
    /// redelivery sees the object exist and then vanish.
    #[tokio::test]
    async fn regression_unreferenced_object_is_removed_under_its_key_lock() {
        let ctx = context();
        let p = prepared(&ctx);
        ctx.store.put_if_absent(&p.key, Bytes::from(p.object.clone())).await.expect("stored");
        let held = ctx.key_locks.lock(&p.key).await;
        let removal = remove_unreferenced(&ctx, &p.row);
        tokio::pin!(removal);
        let early = tokio::time::timeout(Duration::from_millis(50), &mut removal).await;
        assert!(early.is_err(), "the removal went ahead while a create of the key held its lock");
        assert!(ctx.store.get(&p.key).await.expect("reads").is_some(), "nothing removed under a held lock");
        drop(held);
        removal.await.expect("removes once the lock is free");
        assert!(ctx.store.get(&p.key).await.expect("reads").is_none(), "the unreferenced object is gone");
    }

    #[tokio::test]
    async fn an_object_gone_at_its_read_back_is_a_race_retried_not_damage() {
        let ctx = context();
        let err = stored_fingerprint(&ctx, "t/1970/01/01/x.bson").await.expect_err("nothing stored");
        assert!(matches!(err, PlaceError::Vanished { .. }) && err.is_transient(), "{err:?}");
    }
}
