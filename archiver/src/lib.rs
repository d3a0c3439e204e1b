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
