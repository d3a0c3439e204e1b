//! The application layer: the wiring of `archiver run` over every other
//! module, and the operator tools behind the `archiver` subcommands
//! (inspect, status, the liveness file, the `/metrics` endpoint).
//!
//! Architecture Invariant: nothing else in the crate imports `ops`.

pub mod inspect;
pub mod liveness;
pub mod restore;
pub mod run;
pub mod server;
pub mod status;
pub mod stdout;
