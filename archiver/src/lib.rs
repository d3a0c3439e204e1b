//! hop-archiver: the archive of record for Hopskotch.
//!
//! See `ARCHITECTURE.md` at the repository root for the code map and the
//! invariants each module keeps.

pub mod api;
pub mod config;
pub mod identity;
pub mod index;
pub mod ops;
pub mod pipeline;
pub mod record;
pub mod restore;
pub mod source;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod topics;

/// The release and the source revision it was built from (`build.rs`), as
/// `archiver --version` and `mockhop --version` print them.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (revision ", env!("SOURCE_REVISION"), ")");
