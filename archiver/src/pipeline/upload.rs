//! A direct upload (`POST /topic/{topic}`): the same identity, object and
//! index path as ingest, in one bounded attempt, because an HTTP client is
//! waiting and can retry itself.
//!
//! Unlike ingest, the index is asked first: uploads are rare, and asking
//! first lets a *retried* upload be recognised. Its server timestamp differs
//! from the first attempt's, so its fingerprint does too; an upload whose
//! client `_id` is held by a message with the same topic, key, headers and
//! payload is therefore reported as a duplicate (upstream answers 422)
//! instead of being stored again as a conflict.

use super::Provenance;
use super::key_locks::KeyLocks;
use super::settle::{Claim, PlaceError, Settled, remove_unreferenced, settle, stored_record};
use crate::identity::{self, Fingerprint, Identity};
use crate::index::{Index, IndexRow};
use crate::record::{Message, Record};
use crate::store::ObjectStore;
use uuid::Uuid;

/// What became of an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadOutcome {
    /// Stored under `uuid`; `is_client_uuid` is false for a message without
    /// `_id` or one whose `_id` another message holds (a conflict).
    Stored { uuid: Uuid, is_client_uuid: bool },
    /// The archive already holds this message under `uuid`.
    Duplicate { uuid: Uuid },
}

/// Archives `message` (already carrying the server timestamp) once.
///
/// Order as in ingest: conditional object create, then the index row. A row
/// the index refuses because another writer took the UUID under another
/// object key has its unreferenced object removed and is placed once more,
/// now seeing that writer's row; a second refusal is [`UploadError::Unsettled`].
pub async fn place_upload(
    store: &dyn ObjectStore,
    index: &dyn Index,
    locks: &KeyLocks,
    message: &Message,
    provenance: &Provenance,
) -> Result<UploadOutcome, PlaceError> {
    let id = Identity::of(message);
    for _ in 0..2 {
        let row = match place_object(store, index, locks, message, &id, provenance).await? {
            Placement::Done(outcome) => return Ok(outcome),
            Placement::Written(row) => row,
        };
        if index.insert_batch(std::slice::from_ref(&row)).await?.first() == Some(&true) {
            return Ok(UploadOutcome::Stored { uuid: row.uuid, is_client_uuid: row.is_client_uuid });
        }
        if remove_unreferenced(store, index, locks, &row).await? {
            // Another writer indexed this very object (same key, same UUID).
            return Ok(UploadOutcome::Duplicate { uuid: row.uuid });
        }
    }
    Err(PlaceError::Unsettled { uuid: id.preferred_uuid() })
}

enum Placement {
    /// Nothing more to write.
    Done(UploadOutcome),
    /// The object is durable; its row still has to be inserted.
    Written(Box<IndexRow>),
}

async fn place_object(
    store: &dyn ObjectStore,
    index: &dyn Index,
    locks: &KeyLocks,
    message: &Message,
    id: &Identity,
    provenance: &Provenance,
) -> Result<Placement, PlaceError> {
    let (at_preferred, at_derived) = indexed(store, index, message, id).await?;
    let decision = identity::decide(id, at_preferred, at_derived)?;
    let claim = Claim { message, id, provenance, decision, at_derived };
    match settle(store, locks, claim).await? {
        Settled::Duplicate(row) => {
            // Heal a missing row, as ingest does; an existing row is kept.
            index.insert_batch(std::slice::from_ref(&row)).await?;
            Ok(Placement::Done(UploadOutcome::Duplicate { uuid: row.uuid }))
        }
        Settled::Created(row) => Ok(Placement::Written(Box::new(row))),
    }
}

/// What the index holds under the message's preferred and derived UUIDs, as
/// fingerprints for [`identity::decide`]. A retried upload (same client
/// UUID, same content, another server timestamp) is reported as holding our
/// own fingerprint, which makes it a duplicate.
async fn indexed(
    store: &dyn ObjectStore,
    index: &dyn Index,
    message: &Message,
    id: &Identity,
) -> Result<(Option<Fingerprint>, Option<Fingerprint>), PlaceError> {
    let uuids: Vec<Uuid> =
        [Some(id.preferred_uuid()), id.client_uuid.map(|_| id.derived_uuid)].into_iter().flatten().collect();
    let rows = index.get_many(&uuids).await?;
    let at = |uuid: Uuid| rows.iter().find(|e| e.row.uuid == uuid);
    let mut at_preferred = at(id.preferred_uuid()).map(|e| Fingerprint(e.row.fingerprint));
    if let (Some(_), Some(entry)) = (id.client_uuid, at(id.preferred_uuid()))
        && at_preferred != Some(id.fingerprint)
        && same_but_timestamp(&indexed_record(store, &entry.row.key).await?.message(), message)
    {
        at_preferred = Some(id.fingerprint);
    }
    let at_derived = id.client_uuid.and(at(id.derived_uuid)).map(|e| Fingerprint(e.row.fingerprint));
    Ok((at_preferred, at_derived))
}

fn same_but_timestamp(stored: &Message, ours: &Message) -> bool {
    Message { timestamp: ours.timestamp, ..stored.clone() } == *ours
}

/// The object an index row names: its absence is damage, not a race.
async fn indexed_record(store: &dyn ObjectStore, key: &str) -> Result<Record, PlaceError> {
    let missing = || PlaceError::CorruptObject { key: key.to_owned(), reason: "it is indexed but missing".into() };
    stored_record(store, key).await?.ok_or_else(missing)
}
