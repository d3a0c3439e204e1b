//! What every part of the archiver reports through: metrics and logs, and
//! the redaction of secrets from them.
//!
//! Architecture Invariant: imports nothing else of the crate, so that any
//! module may report without creating an import cycle.

pub mod logging;
pub mod metrics;
pub mod redact;
