//! `archiver repair`: each finding of the audit, as it is found, healed
//! if that is safe, else reported — a dry run unless `--apply`.
//!
//! - **Orphan with no row**: the row is inserted, built from the object
//!   exactly as `reindex` builds it (`reindex::adopt`); the index's unique
//!   UUID means a row written meanwhile wins (`ON CONFLICT DO NOTHING`).
//! - **Missing object**: copied from `--replica` with a conditional create
//!   (`put_if_absent`), and only if the replica's copy has the size and
//!   CRC-32 the row records; otherwise reported.
//! - **Orphan that cannot be indexed** (its UUID's row names another key,
//!   or it does not decode): reported; deleted only with
//!   `--delete-orphans`, and only if, checked again right before, it is
//!   still there, older than the grace period, unreferenced, and — when a
//!   row holds its UUID — that row's own object exists (so the last copy of
//!   a message is never deleted).
//! - Everything else (an object of another size, CRC-32 or fingerprint
//!   than its row, an undecodable object, replica differences): reported.
//!   Repair never overwrites an object or changes an existing row.

use super::finding::{Action, ActionKind, Finding};
use super::{AuditError, Context};
use crate::identity::parse_object_key;
use crate::index::IndexError;
use crate::ops::common::retrying;
use crate::ops::reindex::{Adoption, adopt};
use crate::store::{PutOutcome, StoreError};
use std::sync::Arc;

pub(super) struct Repairer {
    pub(super) context: Arc<Context>,
    pub(super) apply: bool,
    pub(super) delete_orphans: bool,
    pub(super) adoption: Adoption,
}

impl Repairer {
    /// What was done (or would be) about `finding`.
    pub(super) async fn act(&self, finding: &Finding) -> Result<Action, AuditError> {
        let action = |kind, detail: String| Ok(Action::new(kind, finding, detail));
        match finding {
            Finding::MissingObject { key, row_bytes, row_crc32, .. } => {
                let (kind, detail) = self.restore(key, *row_bytes, *row_crc32).await?;
                action(kind, detail)
            }
            Finding::Orphan { key, row_key: None, .. } => {
                let (kind, detail) = self.index_orphan(key).await?;
                action(kind, detail)
            }
            Finding::Orphan { key, row_key: Some(other), .. } => {
                let reason = format!("the row holding its UUID names {other}");
                let (kind, detail) = self.delete_orphan(key, &reason).await?;
                action(kind, detail)
            }
            Finding::SizeMismatch { .. }
            | Finding::CrcMismatch { .. }
            | Finding::Undecodable { .. }
            | Finding::FingerprintMismatch { .. } => action(
                ActionKind::LeftAlone,
                "the object and its row disagree: repair never overwrites an object or changes a row; \
                 compare with `archiver inspect UUID` and the replica"
                    .into(),
            ),
            Finding::ReplicaMissing { .. } | Finding::ReplicaDiffers { .. } | Finding::ReplicaExtra { .. } => action(
                ActionKind::LeftAlone,
                "the replica is replication's to fix; repair writes only the primary".into(),
            ),
        }
    }

    /// A row's missing object, from the replica if it holds the row's bytes.
    async fn restore(&self, key: &str, size: u64, crc32: u32) -> Result<(ActionKind, String), AuditError> {
        let context = &self.context;
        let Some(replica) = &context.replica else {
            return Ok((ActionKind::LeftAlone, "no --replica to restore it from".into()));
        };
        let got = retrying("get", || replica.get(key), StoreError::is_transient).await;
        let Some(bytes) = got.map_err(|e| context.replica_error(e))? else {
            return Ok((ActionKind::LeftAlone, "the replica lacks it too".into()));
        };
        let found_crc32 = crc32fast::hash(&bytes);
        if bytes.len() as u64 != size || found_crc32 != crc32 {
            let detail = format!(
                "not restored: the replica's copy ({} bytes, crc32 {found_crc32:#010x}) is not the object the row \
                 describes ({size} bytes, crc32 {crc32:#010x})",
                bytes.len()
            );
            return Ok((ActionKind::LeftAlone, detail));
        }
        if !self.apply {
            return Ok((ActionKind::WouldRestoreObject, "the replica holds the row's bytes".into()));
        }
        let store = &context.store;
        let put = retrying("put", || store.put_if_absent(key, bytes.clone()), StoreError::is_transient).await;
        Ok(match put.map_err(|e| context.store_error(e))? {
            PutOutcome::Created => {
                (ActionKind::ObjectRestored, "copied from the replica (the row's size and CRC-32)".into())
            }
            PutOutcome::AlreadyExists => {
                (ActionKind::LeftAlone, "an object appeared at the key meanwhile and was left as it is".into())
            }
        })
    }

    /// An object without a row: its row inserted as `reindex` builds it,
    /// or, when it cannot be indexed, handled as an orphan to delete.
    async fn index_orphan(&self, key: &str) -> Result<(ActionKind, String), AuditError> {
        let context = &self.context;
        let (store, index) = (&context.store, &context.index);
        let Some(parsed) = parse_object_key(key) else {
            return Ok((ActionKind::LeftAlone, "not an archive object key".into()));
        };
        let got = retrying("get", || store.get(key), StoreError::is_transient).await;
        let Some(bytes) = got.map_err(|e| context.store_error(e))? else {
            return Ok((ActionKind::LeftAlone, "it vanished before repair read it".into()));
        };
        let (adoption, owned_key) = (self.adoption.clone(), key.to_owned());
        let adopted = tokio::task::spawn_blocking(move || adopt(&adoption, &owned_key, &parsed, &bytes)).await;
        let adopted = adopted.unwrap_or_else(|e| Err(format!("decoding failed: {e}")));
        let row = match adopted {
            Ok(adopted) => adopted.row,
            Err(reason) => return self.delete_orphan(key, &format!("it cannot be indexed: {reason}")).await,
        };
        if !self.apply {
            return Ok((ActionKind::WouldInsertRow, format!("the row reindex builds ({} bytes)", row.size)));
        }
        let rows = [row];
        let inserted = retrying("insert", || index.insert_batch(&rows), IndexError::is_transient).await;
        let inserted = inserted.map_err(|e| context.index_error(e))?;
        Ok(match inserted.first() {
            Some(true) => (ActionKind::RowInserted, "indexed as reindex indexes it".into()),
            _ => (ActionKind::LeftAlone, "a row for its UUID appeared meanwhile; audit again".into()),
        })
    }

    /// An orphan that cannot be indexed: deleted with `--delete-orphans`
    /// when still safe, checked right before.
    async fn delete_orphan(&self, key: &str, reason: &str) -> Result<(ActionKind, String), AuditError> {
        if !self.delete_orphans {
            return Ok((ActionKind::LeftAlone, format!("{reason}; --delete-orphans deletes such orphans")));
        }
        let context = &self.context;
        let (store, index) = (&context.store, &context.index);
        let left = |why: String| Ok((ActionKind::LeftAlone, format!("{reason}; not deleted: {why}")));
        let head = retrying("head", || store.head(key), StoreError::is_transient).await;
        let Some(meta) = head.map_err(|e| context.store_error(e))? else {
            return left("it is gone".into());
        };
        if meta.modified_ms.is_none() {
            return left("the store gives no modification time, so its age is unknown".into());
        }
        if context.is_young(meta.modified_ms) {
            return left("it is younger than the grace period".into());
        }
        if let Some(parsed) = parse_object_key(key) {
            let row = retrying("look up", || index.get(parsed.uuid), IndexError::is_transient).await;
            if let Some(entry) = row.map_err(|e| context.index_error(e))? {
                if entry.row.key == key {
                    return left("a row references it now".into());
                }
                let other = &entry.row.key;
                let held = retrying("head", || store.head(other), StoreError::is_transient).await;
                if held.map_err(|e| context.store_error(e))?.is_none() {
                    return left(format!(
                        "the object of the row holding its UUID ({other}) is missing: this may be the only copy"
                    ));
                }
            }
        }
        if !self.apply {
            return Ok((ActionKind::WouldDeleteOrphan, reason.to_owned()));
        }
        let deleted = retrying("delete", || store.delete(key), StoreError::is_transient).await;
        Ok(match deleted.map_err(|e| context.store_error(e))? {
            true => (ActionKind::OrphanDeleted, format!("deleted: {reason}")),
            false => (ActionKind::LeftAlone, format!("{reason}; it vanished before the delete")),
        })
    }
}
