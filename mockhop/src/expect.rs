//! The archive a stream must produce, computed with the archiver's own
//! identity code (PRODUCT.md §3.3) — not a second implementation of it.

use crate::Delivery;
use crate::run_tag::RunTag;
use archiver::identity::{self, Collision, Decision, Fingerprint, Identity, Placement};
use archiver::record::Message;
use archiver::topics;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// The archiver settings that decide what is archived at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRules {
    /// Topics the archiver never consumes: exact names, or globs with `*`.
    pub veto: Vec<String>,
    /// Whether messages with a `_test` header are archived (hop skips them).
    pub archive_test_messages: bool,
}

impl ArchiveRules {
    /// The archiver's defaults for a stream whose topics carry `topic_prefix`:
    /// heartbeats vetoed, `_test` messages skipped.
    pub fn defaults(topic_prefix: &str) -> ArchiveRules {
        ArchiveRules { veto: vec![format!("{topic_prefix}sys.heartbeat")], archive_test_messages: false }
    }

    pub fn is_vetoed(&self, topic: &str) -> bool {
        topics::matches_any(&self.veto, topic)
    }

    pub fn is_skipped_test(&self, message: &Message) -> bool {
        !self.archive_test_messages && message.headers.iter().any(|h| h.key == "_test")
    }
}

/// One distinct message the archive must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedMessage {
    /// The first delivery that carried it.
    pub seq: u64,
    /// That delivery's partition hint (see [`Delivery::partition`]).
    pub partition_hint: u32,
    pub placement: Placement,
    pub fingerprint: Fingerprint,
    /// `None` when the key's day depends on the ingest time (no timestamp).
    pub object_key: Option<String>,
    pub message: Message,
}

/// Why a delivery of the stream must not be in the archive at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exclusion {
    /// Its topic is vetoed (heartbeats by default).
    Vetoed,
    /// It carries `_test` and the archiver skips those.
    Test,
}

/// A distinct message of the stream the archive must not hold: if one is
/// found archived anyway, `verify` reports it as extra.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excluded {
    /// The first delivery that carried it.
    pub seq: u64,
    pub fingerprint: Fingerprint,
    pub topic: String,
    /// Payload CRC-32, as the index's `con_message_crc32` holds it (lets a
    /// listing of the API skip rows that cannot be this message).
    pub payload_crc32: u32,
    pub reason: Exclusion,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectation {
    pub messages: Vec<ExpectedMessage>,
    /// Partitions of each topic the stream went into, which decides who may
    /// own a disputed `_id` (see `verify::disputes`). [`expect`] says 1, the
    /// strictest reading; set the real count with [`Expectation::in_partitions`].
    pub partitions: u32,
    /// The run tag the stream was produced under, if any: then every row
    /// of the tag's topics must be a message of the stream (see
    /// `verify`), and the rest of the archive is other traffic.
    pub run_tag: Option<RunTag>,
    /// Distinct vetoed and skipped `_test` messages, in stream order.
    pub excluded: Vec<Excluded>,
    /// Deliveries of a message already archived.
    pub duplicates: u64,
    /// Messages stored under their derived UUID because their `_id` was taken.
    pub conflicts: u64,
    pub skipped_test: u64,
    pub vetoed: u64,
}

/// Replays `deliveries` through the identity rules in stream order.
pub fn expect(deliveries: &[Delivery], rules: &ArchiveRules) -> Result<Expectation, Collision> {
    let mut held: BTreeMap<Uuid, Fingerprint> = BTreeMap::new();
    let mut excluded: BTreeSet<Fingerprint> = BTreeSet::new();
    let mut out = Expectation { partitions: 1, ..Expectation::default() };
    for delivery in deliveries {
        let message = &delivery.message;
        let exclusion = if rules.is_vetoed(&message.topic) {
            out.vetoed += 1;
            Some(Exclusion::Vetoed)
        } else if rules.is_skipped_test(message) {
            out.skipped_test += 1;
            Some(Exclusion::Test)
        } else {
            None
        };
        if let Some(reason) = exclusion {
            let fingerprint = identity::fingerprint(message);
            if excluded.insert(fingerprint) {
                out.excluded.push(Excluded {
                    seq: delivery.seq,
                    fingerprint,
                    topic: message.topic.clone(),
                    payload_crc32: payload_crc32(message),
                    reason,
                });
            }
            continue;
        }
        let id = Identity::of(message);
        let decision =
            identity::decide(&id, held.get(&id.preferred_uuid()).copied(), held.get(&id.derived_uuid).copied())?;
        match decision {
            Decision::Duplicate(_) => out.duplicates += 1,
            Decision::Store(placement) => {
                held.insert(placement.uuid, id.fingerprint);
                out.conflicts += u64::from(placement.claimed_uuid.is_some());
                out.messages.push(ExpectedMessage {
                    seq: delivery.seq,
                    partition_hint: delivery.partition_hint,
                    placement,
                    fingerprint: id.fingerprint,
                    object_key: (message.timestamp >= 0)
                        .then(|| identity::object_key(&message.topic, message.timestamp, placement.uuid)),
                    message: message.clone(),
                });
            }
        }
    }
    Ok(out)
}

impl Expectation {
    /// The same expectation for a stream produced into `partitions`
    /// partitions per topic.
    pub fn in_partitions(self, partitions: u32) -> Expectation {
        Expectation { partitions, ..self }
    }

    /// The same expectation for a stream produced under `tag` (its topics
    /// carry the tag's prefix: see [`RunTag::stream`]).
    pub fn of_run(self, tag: RunTag) -> Expectation {
        Expectation { run_tag: Some(tag), ..self }
    }
}

/// The CRC-32 of a message's payload (of nothing for a null payload), as
/// the archive's annotations and index rows carry it.
pub fn payload_crc32(message: &Message) -> u32 {
    crc32fast::hash(message.payload.as_deref().unwrap_or_default())
}
