//! The application layer: the wiring of `archiver run` over every other
//! module, and the operator tools behind the `archiver` subcommands
//! (inspect, reindex, restore, the liveness file, the `/metrics` endpoint).
//!
//! Architecture Invariant: nothing else in the crate imports `ops`.

pub mod backends;
pub mod inspect;
pub mod liveness;
pub mod reindex;
pub mod restore;
pub mod run;
pub mod server;
pub mod stdout;
