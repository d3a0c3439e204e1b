//! Fault layers for the scenario suite (`tests/it/scenario`): wrappers at
//! the three seams of the pipeline — object store, index, message source —
//! driven by an explicit, replayable [`schedule::FaultSchedule`], plus the
//! [`sequencer::Sequencer`] that makes runs under faults deterministic;
//! and [`rows::row`], a minimal index row for tests.

pub mod fault_index;
pub mod fault_source;
pub mod fault_store;
pub mod rows;
pub mod schedule;
pub mod sequencer;
pub mod world;
