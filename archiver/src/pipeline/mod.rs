//! The ingest pipeline: message → identity decision → conditional object
//! write → batched index insert → offset commit.
//!
//! Invariant: an offset is committed only after its object and index row are
//! durable (or nothing needed writing), and only up to the highest offset
//! below which every message of the partition is durable.

mod backoff;
mod claims;
mod key_locks;
mod offsets;
mod place;
mod prepare;
mod run;
mod settle;
mod upload;

pub use backoff::Backoff;
pub use key_locks::KeyLocks;
pub use offsets::OffsetTracker;
pub(crate) use place::now_ms;
pub use place::{Context, Kind, Placed, Refused};
pub use prepare::{PrepareError, Prepared, Provenance, Stored, annotations, index_row, prepare};
pub use run::{CLOSE_TIMEOUT_MS, RunError, RunLimits, RunSummary, run};
pub use settle::PlaceError;
pub use upload::{UploadOutcome, place_upload};
