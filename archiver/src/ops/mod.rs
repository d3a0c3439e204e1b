//! The application layer: the wiring of `archiver run` over every other
//! module, and the operator tools behind the `archiver` subcommands
//! (audit and repair, inspect, reindex, reindex-text, restore, status, the
//! liveness file, the container's health check, the `/metrics` endpoint).
//!
//! Architecture Invariant: nothing else in the crate imports `ops`.

pub mod audit;
pub mod backends;
pub mod common;
pub mod health;
pub mod inspect;
pub mod liveness;
pub mod reindex;
pub mod reindex_text;
pub mod restore;
pub mod run;
pub mod server;
pub mod status;
pub mod stdout;
