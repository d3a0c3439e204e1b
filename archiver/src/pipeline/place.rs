//! One message, from delivery to a written object: identity, decision,
//! conditional create. Index rows are batched by the caller.

use super::Provenance;
use super::backoff::Backoff;
use super::key_locks::KeyLocks;
use super::settle::{Claim, PlaceError, Settled, remove_unreferenced, settle};
use crate::identity::{self, Fingerprint, Identity};
use crate::index::{Index, IndexError, IndexRow};
use crate::source::Delivered;
use crate::store::ObjectStore;
use crate::telemetry::metrics::Metrics;
use crate::topics;
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
    /// Topics whose text is indexed for search, and how much.
    pub text: crate::text::TextIndexing,
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

/// Places a message again after the index refused its row because another
/// message took its UUID first with another object key (another day, or a
/// message without a timestamp archived on another day). The object just
/// written for it at `ours.key` is referenced by no row and is removed —
/// unless the existing row points at that very key (its object had been
/// lost, and ours, identical, restored it). Placing again then sees the
/// index row and decides afresh.
pub async fn place_again(ctx: &Context, delivered: Delivered, ours: IndexRow) -> Result<Placed, Refused> {
    let mut backoff = Backoff::new(ctx.retry_initial_backoff_ms, ctx.retry_max_backoff_ms);
    while let Err(e) = remove_unreferenced(ctx.store.as_ref(), ctx.index.as_ref(), &ctx.key_locks, &ours).await {
        tracing::warn!(key = %ours.key, error = %e, "cannot remove an unreferenced object; retrying");
        ctx.metrics.retry("store");
        tokio::time::sleep(backoff.next_delay()).await;
    }
    retry(ctx, delivered, Lookup::IndexFirst).await
}

/// Places `delivered`, retrying every failure with backoff: nothing is ever
/// skipped. Consumption pauses meanwhile because the in-flight limit fills
/// up. A corrupt object is logged as an error and retried too, so the
/// operator can fix it without losing the message; a store or index that
/// refuses the archiver ([`Refused`]) ends the run instead, since no retry
/// can succeed until its configuration changes.
pub async fn place_with_retry(ctx: &Context, delivered: Delivered) -> Result<Placed, Refused> {
    retry(ctx, delivered, Lookup::StoreFirst).await
}

/// A backend refuses the archiver: the store (credentials, permissions, a
/// missing bucket) or the index (permissions, a statement it rejects).
/// Permanent until the configuration is fixed.
#[derive(Debug, thiserror::Error)]
#[error("a backend refuses the archiver: {0}")]
pub struct Refused(pub PlaceError);

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
            Err(e) if e.is_refusal() => return Err(Refused(e)),
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
        text: ctx.text.for_topic(&message.topic),
    };
    let decision = identity::decide(&id, at_preferred, at_derived)?;
    let claim = Claim { message, id: &id, provenance: &provenance, decision, at_derived };
    let started = Instant::now();
    let settled = settle(ctx.store.as_ref(), &ctx.key_locks, claim).await?;
    ctx.metrics.object_write_seconds(started.elapsed().as_secs_f64());
    Ok(match settled {
        Settled::Duplicate(row) => placed(Kind::Duplicate, Some(row)),
        Settled::Created(row) if row.claimed_uuid.is_some() => placed(Kind::Conflict, Some(row)),
        Settled::Created(row) => placed(Kind::Archived, Some(row)),
    })
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

pub(crate) fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}
