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

use super::place::redecide;
use super::{PrepareError, Provenance, prepare};
use crate::identity::{self, Collision, Decision, Fingerprint, Identity};
use crate::index::{Index, IndexError, IndexRow};
use crate::record::{Message, Record};
use crate::store::{ObjectStore, PutOutcome, StoreError};
use bytes::Bytes;
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

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Collision(#[from] Collision),
    #[error("cannot archive message: {0}")]
    Prepare(#[from] PrepareError),
    /// Concurrent writers kept taking the UUIDs this message could use; the
    /// client may retry.
    #[error("UUID {uuid} kept changing hands while storing the upload; retry")]
    Unsettled { uuid: Uuid },
    #[error("object {key} exists but cannot be read: {reason}")]
    CorruptObject { key: String, reason: String },
}

impl UploadError {
    /// Whether the client may succeed by retrying later.
    pub fn is_transient(&self) -> bool {
        match self {
            UploadError::Store(e) => e.is_transient(),
            UploadError::Index(e) => e.is_transient(),
            UploadError::Unsettled { .. } => true,
            _ => false,
        }
    }
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
    message: &Message,
    provenance: &Provenance,
) -> Result<UploadOutcome, UploadError> {
    let id = Identity::of(message);
    for _ in 0..2 {
        let row = match place_object(store, index, message, &id, provenance).await? {
            Placement::Done(outcome) => return Ok(outcome),
            Placement::Written(row) => row,
        };
        if index.insert_batch(std::slice::from_ref(&row)).await?.first() == Some(&true) {
            return Ok(UploadOutcome::Stored { uuid: row.uuid, is_client_uuid: row.is_client_uuid });
        }
        let holder = index.get(row.uuid).await?;
        if holder.as_ref().is_some_and(|h| h.row.key == row.key) {
            // Another writer indexed this very object (same key, same UUID).
            return Ok(UploadOutcome::Duplicate { uuid: row.uuid });
        }
        store.delete(&row.key).await?;
    }
    Err(UploadError::Unsettled { uuid: id.preferred_uuid() })
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
    message: &Message,
    id: &Identity,
    provenance: &Provenance,
) -> Result<Placement, UploadError> {
    let (at_preferred, at_derived) = indexed(store, index, message, id).await?;
    let mut decision = identity::decide(id, at_preferred, at_derived)?;
    // As in ingest: each pass finishes or learns what holds one more UUID.
    for _ in 0..3 {
        let placement = *decision.placement();
        let prepared = prepare(message, id.fingerprint, &placement, provenance, store.bucket())?;
        if let Decision::Duplicate(_) = decision {
            // Heal a missing row, as ingest does; an existing row is kept.
            index.insert_batch(std::slice::from_ref(&prepared.row)).await?;
            return Ok(Placement::Done(UploadOutcome::Duplicate { uuid: placement.uuid }));
        }
        match store.put_if_absent(&prepared.key, Bytes::from(prepared.object)).await? {
            PutOutcome::Created => return Ok(Placement::Written(Box::new(prepared.row))),
            PutOutcome::AlreadyExists => {
                let held = identity::fingerprint(&stored_record(store, &prepared.key).await?.message());
                decision = redecide(id, &placement, held, at_derived)?;
            }
        }
    }
    Err(UploadError::Unsettled { uuid: decision.placement().uuid })
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
) -> Result<(Option<Fingerprint>, Option<Fingerprint>), UploadError> {
    let uuids: Vec<Uuid> =
        [Some(id.preferred_uuid()), id.client_uuid.map(|_| id.derived_uuid)].into_iter().flatten().collect();
    let rows = index.get_many(&uuids).await?;
    let at = |uuid: Uuid| rows.iter().find(|e| e.row.uuid == uuid);
    let mut at_preferred = at(id.preferred_uuid()).map(|e| Fingerprint(e.row.fingerprint));
    if let (Some(_), Some(entry)) = (id.client_uuid, at(id.preferred_uuid()))
        && at_preferred != Some(id.fingerprint)
        && same_but_timestamp(&stored_record(store, &entry.row.key).await?.message(), message)
    {
        at_preferred = Some(id.fingerprint);
    }
    let at_derived = id.client_uuid.and(at(id.derived_uuid)).map(|e| Fingerprint(e.row.fingerprint));
    Ok((at_preferred, at_derived))
}

fn same_but_timestamp(stored: &Message, ours: &Message) -> bool {
    Message { timestamp: ours.timestamp, ..stored.clone() } == *ours
}

async fn stored_record(store: &dyn ObjectStore, key: &str) -> Result<Record, UploadError> {
    let corrupt = |reason: String| UploadError::CorruptObject { key: key.to_owned(), reason };
    let bytes = store.get(key).await?.ok_or_else(|| corrupt("it is indexed or reported but missing".into()))?;
    Record::decode(&bytes).map_err(|e| corrupt(e.to_string()))
}
