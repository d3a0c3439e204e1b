//! hop-archiver: the archive of record for Hopskotch.
//!
//! See `ARCHITECTURE.md` at the repository root for the code map and the
//! invariants each module keeps.

pub mod identity;
pub mod index;
pub mod ops;
pub mod record;
pub mod store;
