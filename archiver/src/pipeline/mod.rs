//! The ingest pipeline: message → identity decision → object write → index
//! row → offset commit. (The consuming loop arrives with `archiver run`.)

mod prepare;

pub use prepare::{PrepareError, Prepared, Provenance, prepare};
