//! mockhop: a seeded, deterministic simulator of Hopskotch traffic.
//!
//! The same [`StreamOptions`] give the same stream, byte for byte, on any
//! machine: all randomness comes from one ChaCha generator seeded by
//! `StreamOptions::seed`; nothing reads the clock, iterates a `HashMap`, or
//! depends on thread timing.

pub mod cleanup;
pub mod expect;
pub mod generate;
pub mod produce;
pub mod run_tag;
pub mod stream_file;
pub mod testing;
pub mod verify;

use archiver::record::Message;

/// One delivery of the stream: a message as a Kafka producer would send it,
/// plus what it was generated to exercise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Position in the stream, from 0.
    pub seq: u64,
    /// Which partition the producer should use, modulo the topic's count.
    pub partition_hint: u32,
    pub message: Message,
    /// Traffic features this delivery exercises, e.g. `era:0.8+`,
    /// `payload:voevent`, `header:duplicate-key`, `dup:redelivery`,
    /// `ts:leap-day` (all listed in `generate::labels`). Labels are not
    /// part of the Kafka message.
    pub labels: Vec<&'static str>,
}

impl Delivery {
    /// The partition of a topic with `partitions` partitions (at least one)
    /// that this delivery goes to: the hint modulo the count.
    pub fn partition(&self, partitions: u32) -> i32 {
        // The remainder is below `partitions`, itself at most `u32::MAX`;
        // Kafka's counts are `i32`, so any real count fits.
        i32::try_from(self.partition_hint % partitions.max(1)).unwrap_or(i32::MAX)
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamOptions {
    pub seed: u64,
    /// Number of deliveries, duplicates included.
    pub count: usize,
    /// Name of a built-in profile (see `generate::PROFILES`).
    pub profile: String,
    /// Prepended to every topic name, so a run can be told apart from real
    /// traffic in a shared development area.
    pub topic_prefix: String,
}
