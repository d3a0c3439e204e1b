//! Operator tools behind the `archiver` subcommands, and what `archiver run`
//! exposes to operators: metrics, the liveness file, logs.

pub mod inspect;
pub mod liveness;
pub mod logging;
pub mod metrics;
pub mod run;
pub mod server;
pub mod stdout;
