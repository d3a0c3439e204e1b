//! The exactly-once core every writer of the archive shares (ingest, direct
//! upload): decide, conditional create, read back, decide again — and the
//! removal of an object that lost the race for its row. A fix to the
//! exactly-once logic is made here, once.

use super::key_locks::KeyLocks;
use super::{PrepareError, Provenance, prepare};
use crate::identity::{self, Collision, Decision, Fingerprint, Identity};
use crate::index::{Index, IndexError, IndexRow};
use crate::record::{Message, Record};
use crate::store::{ObjectStore, PutOutcome, StoreError};
use bytes::Bytes;
use uuid::Uuid;

/// Why a message could not be placed.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Collision(#[from] Collision),
    #[error("cannot archive message: {0}")]
    Prepare(#[from] PrepareError),
    /// Concurrent writers kept taking the UUIDs this message could use.
    #[error("UUID {uuid} kept changing hands while placing the message")]
    Unsettled { uuid: Uuid },
    #[error("object {key} exists but cannot be read: {reason}")]
    CorruptObject { key: String, reason: String },
    /// Another process removed the object between our create and its read
    /// back (its unreferenced copy of a message placed again): a race, not
    /// damage, so it is retried quietly.
    #[error("object {key} vanished after a conditional create reported it")]
    Vanished { key: String },
}

impl PlaceError {
    /// Whether the same placement may succeed later.
    pub fn is_transient(&self) -> bool {
        match self {
            PlaceError::Store(e) => e.is_transient(),
            PlaceError::Index(e) => e.is_transient(),
            PlaceError::Unsettled { .. } | PlaceError::Vanished { .. } => true,
            _ => false,
        }
    }

    /// A failure of a backend that no retry can fix.
    pub fn is_refusal(&self) -> bool {
        match self {
            PlaceError::Store(e) => !e.is_transient(),
            PlaceError::Index(e) => !e.is_transient(),
            _ => false,
        }
    }
}

/// Where a message's object stands once [`settle`] returns; either way the
/// row describes the object and must be made durable.
#[derive(Debug)]
pub enum Settled {
    /// The archive already holds this message there (its row may be
    /// missing after a crash; sending it again heals that).
    Duplicate(IndexRow),
    /// The object was created by this call.
    Created(IndexRow),
}

/// What a message is and where it may go: its identity, provenance and
/// the first decision, made from what the caller knows of the index.
pub struct Claim<'a> {
    pub message: &'a Message,
    pub id: &'a Identity,
    pub provenance: &'a Provenance,
    pub decision: Decision,
    /// The fingerprint the index holds under the derived UUID, if known.
    pub at_derived: Option<Fingerprint>,
}

/// Writes the claim's object with a conditional create; when the key is
/// taken, reads what holds it and decides again. Each pass either finishes
/// or learns what occupies one more UUID, and a message can take only two.
/// The create and its read-back hold the key's lock: some S3 servers
/// (s3s-fs) check `If-None-Match` and then write.
pub async fn settle(store: &dyn ObjectStore, locks: &KeyLocks, claim: Claim<'_>) -> Result<Settled, PlaceError> {
    let Claim { message, id, provenance, mut decision, at_derived } = claim;
    for _ in 0..3 {
        let placement = *decision.placement();
        let prepared = prepare(message, id.fingerprint, &placement, provenance, store.bucket())?;
        if let Decision::Duplicate(_) = decision {
            return Ok(Settled::Duplicate(prepared.row));
        }
        let _create = locks.lock(&prepared.key).await;
        match store.put_if_absent(&prepared.key, Bytes::from(prepared.object)).await? {
            PutOutcome::Created => return Ok(Settled::Created(prepared.row)),
            PutOutcome::AlreadyExists => {
                let stored = stored_record(store, &prepared.key).await?;
                let held = stored.ok_or_else(|| PlaceError::Vanished { key: prepared.key.clone() })?;
                decision = identity::redecide(id, &placement, identity::fingerprint(&held.message()), at_derived)?;
            }
        }
    }
    Err(PlaceError::Unsettled { uuid: decision.placement().uuid })
}

/// After the index refused `ours` because another row holds its UUID:
/// removes the object written for it, which no row references — unless
/// the holder points at that very key (its object had been lost, and ours,
/// identical, restored it). Returns whether the holder is at our key.
///
/// The removal holds the key's lock, so that a redelivery of this message
/// never sees the object exist at its create and vanish at its read-back.
pub async fn remove_unreferenced(
    store: &dyn ObjectStore,
    index: &dyn Index,
    locks: &KeyLocks,
    ours: &IndexRow,
) -> Result<bool, PlaceError> {
    let holder = index.get(ours.uuid).await?;
    if holder.is_some_and(|h| h.row.key == ours.key) {
        return Ok(true);
    }
    let _delete = locks.lock(&ours.key).await;
    store.delete(&ours.key).await?;
    Ok(false)
}

/// The archive object at `key`, `None` when there is none.
pub async fn stored_record(store: &dyn ObjectStore, key: &str) -> Result<Option<Record>, PlaceError> {
    let Some(bytes) = store.get(key).await? else { return Ok(None) };
    let record =
        Record::decode(&bytes).map_err(|e| PlaceError::CorruptObject { key: key.to_owned(), reason: e.to_string() })?;
    Ok(Some(record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Placement;
    use crate::index::{MemoryIndex, TimestampType};
    use crate::record::Key;
    use crate::store::MemoryStore;
    use std::time::Duration;

    fn prepared(store: &MemoryStore) -> super::super::Prepared {
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
            text: None,
        };
        prepare(&message, id.fingerprint, &placement, &provenance, store.bucket()).expect("prepares")
    }

    /// Issue 11, point 18: a redelivery's create and read-back hold the key's
    /// lock; the removal of an unreferenced copy must wait for it, or the
    /// redelivery sees the object exist and then vanish.
    #[tokio::test]
    async fn regression_unreferenced_object_is_removed_under_its_key_lock() {
        let (store, index, locks) = (MemoryStore::new(), MemoryIndex::new(), KeyLocks::default());
        let p = prepared(&store);
        store.put_if_absent(&p.key, Bytes::from(p.object.clone())).await.expect("stored");
        let held = locks.lock(&p.key).await;
        let removal = remove_unreferenced(&store, &index, &locks, &p.row);
        tokio::pin!(removal);
        let early = tokio::time::timeout(Duration::from_millis(50), &mut removal).await;
        assert!(early.is_err(), "the removal went ahead while a create of the key held its lock");
        assert!(store.get(&p.key).await.expect("reads").is_some(), "nothing removed under a held lock");
        drop(held);
        assert!(!removal.await.expect("removes once the lock is free"), "no row holds the key");
        assert!(store.get(&p.key).await.expect("reads").is_none(), "the unreferenced object is gone");
    }
}
