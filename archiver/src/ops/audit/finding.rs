//! What an audit finds — one typed [`Finding`] per damaged row, object or
//! replica key — and what a repair did about it ([`Action`]).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The kind of a [`Finding`], for counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    MissingObject,
    SizeMismatch,
    CrcMismatch,
    Undecodable,
    FingerprintMismatch,
    Orphan,
    ReplicaMissing,
    ReplicaDiffers,
    ReplicaExtra,
}

impl FindingKind {
    pub const ALL: [FindingKind; 9] = [
        FindingKind::MissingObject,
        FindingKind::SizeMismatch,
        FindingKind::CrcMismatch,
        FindingKind::Undecodable,
        FindingKind::FingerprintMismatch,
        FindingKind::Orphan,
        FindingKind::ReplicaMissing,
        FindingKind::ReplicaDiffers,
        FindingKind::ReplicaExtra,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::MissingObject => "missing_object",
            FindingKind::SizeMismatch => "size_mismatch",
            FindingKind::CrcMismatch => "crc_mismatch",
            FindingKind::Undecodable => "undecodable",
            FindingKind::FingerprintMismatch => "fingerprint_mismatch",
            FindingKind::Orphan => "orphan",
            FindingKind::ReplicaMissing => "replica_missing",
            FindingKind::ReplicaDiffers => "replica_differs",
            FindingKind::ReplicaExtra => "replica_extra",
        }
    }
}

/// One thing wrong with the archive. Index → store findings name the row
/// (UUID and key); an object's checks stop at the first that fails, in
/// this order: missing, size, CRC-32, decoding, fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// A row whose object is not in the store.
    MissingObject { uuid: Uuid, key: String, row_bytes: u64, row_crc32: u32 },
    /// The object's length is not the row's `size`.
    SizeMismatch { uuid: Uuid, key: String, row_bytes: u64, object_bytes: u64 },
    /// The object's CRC-32 is not the row's `crc32`.
    CrcMismatch { uuid: Uuid, key: String, row_crc32: u32, object_crc32: u32 },
    /// The object, of the row's size and CRC-32, does not decode.
    Undecodable { uuid: Uuid, key: String, reason: String },
    /// The fingerprint recomputed from the object is not the row's.
    FingerprintMismatch { uuid: Uuid, key: String, row: String, object: String },
    /// An object (older than the grace period) that no row references:
    /// no row holds its UUID (`row_key` null), or the row holding it names
    /// another key.
    Orphan { key: String, uuid: Uuid, size_bytes: u64, modified_ms: Option<i64>, row_key: Option<String> },
    /// An object of the primary (older than the grace period) that the
    /// replica lacks.
    ReplicaMissing { key: String, size_bytes: u64 },
    /// An object whose replica copy has another size or other bytes.
    ReplicaDiffers { key: String, detail: String },
    /// An object in the replica that the primary lacks.
    ReplicaExtra { key: String, size_bytes: u64 },
}

impl Finding {
    pub fn kind(&self) -> FindingKind {
        match self {
            Finding::MissingObject { .. } => FindingKind::MissingObject,
            Finding::SizeMismatch { .. } => FindingKind::SizeMismatch,
            Finding::CrcMismatch { .. } => FindingKind::CrcMismatch,
            Finding::Undecodable { .. } => FindingKind::Undecodable,
            Finding::FingerprintMismatch { .. } => FindingKind::FingerprintMismatch,
            Finding::Orphan { .. } => FindingKind::Orphan,
            Finding::ReplicaMissing { .. } => FindingKind::ReplicaMissing,
            Finding::ReplicaDiffers { .. } => FindingKind::ReplicaDiffers,
            Finding::ReplicaExtra { .. } => FindingKind::ReplicaExtra,
        }
    }

    pub fn key(&self) -> &str {
        match self {
            Finding::MissingObject { key, .. }
            | Finding::SizeMismatch { key, .. }
            | Finding::CrcMismatch { key, .. }
            | Finding::Undecodable { key, .. }
            | Finding::FingerprintMismatch { key, .. }
            | Finding::Orphan { key, .. }
            | Finding::ReplicaMissing { key, .. }
            | Finding::ReplicaDiffers { key, .. }
            | Finding::ReplicaExtra { key, .. } => key,
        }
    }

    pub fn uuid(&self) -> Option<Uuid> {
        match self {
            Finding::MissingObject { uuid, .. }
            | Finding::SizeMismatch { uuid, .. }
            | Finding::CrcMismatch { uuid, .. }
            | Finding::Undecodable { uuid, .. }
            | Finding::FingerprintMismatch { uuid, .. }
            | Finding::Orphan { uuid, .. } => Some(*uuid),
            Finding::ReplicaMissing { .. } | Finding::ReplicaDiffers { .. } | Finding::ReplicaExtra { .. } => None,
        }
    }

    /// One line for an operator.
    pub fn describe(&self) -> String {
        match self {
            Finding::MissingObject { uuid, key, .. } => {
                format!("missing object: row {uuid} names {key}, not in the store")
            }
            Finding::SizeMismatch { uuid, key, row_bytes, object_bytes } => {
                format!("size mismatch: {key} is {object_bytes} bytes, row {uuid} says {row_bytes}")
            }
            Finding::CrcMismatch { uuid, key, row_crc32, object_crc32 } => {
                format!("CRC-32 mismatch: {key} has {object_crc32:#010x}, row {uuid} says {row_crc32:#010x}")
            }
            Finding::Undecodable { uuid, key, reason } => format!("undecodable: {key} (row {uuid}): {reason}"),
            Finding::FingerprintMismatch { uuid, key, row, object } => {
                format!("fingerprint mismatch: {key} holds a message of fingerprint {object}, row {uuid} says {row}")
            }
            Finding::Orphan { key, row_key: None, .. } => format!("orphan: {key} has no index row"),
            Finding::Orphan { key, uuid, row_key: Some(other), .. } => {
                format!("orphan: {key} is not referenced; the row of {uuid} names {other}")
            }
            Finding::ReplicaMissing { key, .. } => format!("replica missing: {key} is not in the replica"),
            Finding::ReplicaDiffers { key, detail } => format!("replica differs: {key}: {detail}"),
            Finding::ReplicaExtra { key, .. } => format!("replica extra: {key} is in the replica only"),
        }
    }
}

/// What a repair did (or, in a dry run, would do) about one finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// A missing row inserted, built as `reindex` builds it.
    RowInserted,
    /// A missing object copied from the replica, which held the row's bytes.
    ObjectRestored,
    /// An orphan deleted (`--delete-orphans`).
    OrphanDeleted,
    WouldInsertRow,
    WouldRestoreObject,
    WouldDeleteOrphan,
    /// Reported only: not safe (or not possible) to repair; `detail` says why.
    LeftAlone,
}

impl ActionKind {
    /// Whether the finding is healed.
    pub fn repaired(self) -> bool {
        matches!(self, ActionKind::RowInserted | ActionKind::ObjectRestored | ActionKind::OrphanDeleted)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::RowInserted => "row_inserted",
            ActionKind::ObjectRestored => "object_restored",
            ActionKind::OrphanDeleted => "orphan_deleted",
            ActionKind::WouldInsertRow => "would_insert_row",
            ActionKind::WouldRestoreObject => "would_restore_object",
            ActionKind::WouldDeleteOrphan => "would_delete_orphan",
            ActionKind::LeftAlone => "left_alone",
        }
    }
}

/// One repair action, logged and summarised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub action: ActionKind,
    pub finding: FindingKind,
    pub key: String,
    pub uuid: Option<Uuid>,
    pub detail: String,
}

impl Action {
    pub fn new(action: ActionKind, finding: &Finding, detail: impl Into<String>) -> Action {
        Action {
            action,
            finding: finding.kind(),
            key: finding.key().to_owned(),
            uuid: finding.uuid(),
            detail: detail.into(),
        }
    }
}
