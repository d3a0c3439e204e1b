//! The backends of an operator tool (`audit`, `repair`, `reindex`, `inspect UUID`), opened
//! with errors that name which one failed and where (passwords masked).

use crate::config::Backends;
use crate::index::{self, Index, IndexError};
use crate::store::{self, ObjectStore, StoreError};
use crate::telemetry::redact::mask_password;
use std::sync::Arc;

/// A backend that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("index {url}: {source}")]
    Index { url: String, source: IndexError },
    #[error("object store {url}: {source}")]
    Store { url: String, source: StoreError },
    #[error("replica object store {url}: {source}")]
    Replica { url: String, source: StoreError },
}

impl BackendError {
    pub fn index(url: &str, source: IndexError) -> BackendError {
        BackendError::Index { url: mask_password(url), source }
    }

    pub fn store(url: &str, source: StoreError) -> BackendError {
        BackendError::Store { url: mask_password(url), source }
    }

    /// An audit's `--replica`.
    pub fn replica(url: &str, source: StoreError) -> BackendError {
        BackendError::Replica { url: mask_password(url), source }
    }
}

/// Opens the index (migrated) and the store `backends` name. Opening a
/// store checks nothing remote; a tool's first request does.
pub async fn open(backends: &Backends) -> Result<(Arc<dyn Index>, Arc<dyn ObjectStore>), BackendError> {
    let store = store::open(&backends.store_url).await.map_err(|e| BackendError::store(&backends.store_url, e))?;
    let index = index::open(&backends.index_url).await.map_err(|e| BackendError::index(&backends.index_url, e))?;
    Ok((index, store))
}
