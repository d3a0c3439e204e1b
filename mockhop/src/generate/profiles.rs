//! Built-in traffic mixes. A profile is all weights: which producers, which
//! payloads, how often each oddity, duplicate and timestamp edge happens.

use std::ops::RangeInclusive;

use super::dice::{PerMille, Table};
use super::duplicates::Duplicate;
use super::headers::Era;
use super::odd_headers::OddHeader;
use super::payloads::PayloadKind;
use super::timestamps::TimestampEdge;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: &'static str,
    /// One line for `--help` and error messages.
    pub summary: &'static str,
    /// Who produces a fresh (non-duplicate) message.
    pub eras: Table<Era>,
    /// What a fresh message carries (external placeholders aside: they
    /// carry only their URL). A kind its era cannot send is redrawn among
    /// those it can (JSON when the profile weighs none of them).
    pub payloads: Table<PayloadKind>,
    /// Target size of text, Avro and blob payloads. Text is padded to it,
    /// never cut below its bare size; Avro lands within 2 bytes under it.
    pub payload_bytes: RangeInclusive<usize>,
    /// Milliseconds between consecutive fresh messages' timestamps.
    pub step_ms: RangeInclusive<u64>,
    /// Fresh messages that are `sys.heartbeat` beats.
    pub heartbeats: PerMille,
    /// hop-client messages that carry `_test`.
    pub test_flag: PerMille,
    /// hop-client 0.6+ messages that carry `title`/`file_name`/`originator`.
    pub user_headers: PerMille,
    /// hop-client 0.6+ (placeholders aside) and non-hop messages that get one
    /// odd header, of these kinds. Never near-limit ones: many or large
    /// headers would push them over the limit.
    pub odd_headers: PerMille,
    pub odd_header_kinds: Table<OddHeader>,
    /// Deliveries that repeat earlier ones, in these ways.
    pub duplicates: PerMille,
    pub duplicate_kinds: Table<Duplicate>,
    /// Fresh messages with an edge-case timestamp, of these kinds.
    pub timestamp_edges: PerMille,
    pub timestamp_edge_kinds: Table<TimestampEdge>,
}

const ALL_ODD_HEADERS: Table<OddHeader> = Table::new(&[
    (OddHeader::DuplicateKey, 1),
    (OddHeader::NullValue, 1),
    (OddHeader::EmptyValue, 1),
    (OddHeader::NonUtf8, 1),
    (OddHeader::UnicodeKey, 1),
    (OddHeader::IdEmpty, 1),
    (OddHeader::IdShort, 1),
    (OddHeader::IdLong, 1),
    (OddHeader::IdText, 1),
    (OddHeader::MultipleIds, 1),
    (OddHeader::Many, 1),
    (OddHeader::LargeValue, 1),
]);

const ALL_DUPLICATES: Table<Duplicate> = Table::new(&[
    (Duplicate::Redelivery, 1),
    (Duplicate::Replay, 1),
    (Duplicate::Conflict, 1),
    (Duplicate::SameContentNewId, 1),
    (Duplicate::IdLessTwice, 1),
]);

const ALL_TIMESTAMP_EDGES: Table<TimestampEdge> = Table::new(&[
    (TimestampEdge::Midnight, 1),
    (TimestampEdge::YearBoundary, 1),
    (TimestampEdge::LeapDay, 1),
    (TimestampEdge::Zero, 1),
    (TimestampEdge::FarFuture, 1),
    (TimestampEdge::Missing, 1),
]);

/// Every payload kind, near-limit ones about one in sixty.
const ALL_PAYLOADS: Table<PayloadKind> = Table::new(&[
    (PayloadKind::Json, 20),
    (PayloadKind::VoEvent, 14),
    (PayloadKind::GcnNotice, 14),
    (PayloadKind::Circular, 12),
    (PayloadKind::Avro, 10),
    (PayloadKind::Blob, 10),
    (PayloadKind::Empty, 8),
    (PayloadKind::Null, 10),
    (PayloadKind::NearLimit, 2),
]);

/// Small text kinds only, for profiles about something other than payloads.
const SMALL_PAYLOADS: Table<PayloadKind> = Table::new(&[
    (PayloadKind::Json, 6),
    (PayloadKind::VoEvent, 2),
    (PayloadKind::Circular, 1),
    (PayloadKind::Blob, 1),
]);

pub const PROFILES: &[Profile] = &[
    Profile {
        name: "default",
        summary: "every feature mixed in; a few hundred deliveries exercise them all",
        eras: Table::new(&[(Era::Pre06, 10), (Era::V06, 12), (Era::V08, 50), (Era::External, 8), (Era::NonHop, 20)]),
        payloads: ALL_PAYLOADS,
        payload_bytes: 16..=16_384,
        step_ms: 1..=120_000,
        heartbeats: PerMille(30),
        test_flag: PerMille(50),
        user_headers: PerMille(200),
        odd_headers: PerMille(350),
        odd_header_kinds: ALL_ODD_HEADERS,
        duplicates: PerMille(120),
        duplicate_kinds: ALL_DUPLICATES,
        timestamp_edges: PerMille(120),
        timestamp_edge_kinds: ALL_TIMESTAMP_EDGES,
    },
    Profile {
        name: "realistic",
        summary: "Hopskotch-like production mix of 1-10 KB alerts from current clients, for benchmarks",
        eras: Table::new(&[(Era::V08, 95), (Era::V06, 4), (Era::NonHop, 1)]),
        payloads: Table::new(&[
            (PayloadKind::Json, 45),
            (PayloadKind::VoEvent, 20),
            (PayloadKind::GcnNotice, 20),
            (PayloadKind::Circular, 10),
            (PayloadKind::Avro, 5),
        ]),
        payload_bytes: 1_024..=10_240,
        step_ms: 1..=2_000,
        // Heartbeats go to a vetoed topic and are tiny: a benchmark would
        // only measure how fast they are skipped.
        heartbeats: PerMille(0),
        test_flag: PerMille(5),
        user_headers: PerMille(100),
        odd_headers: PerMille(0),
        odd_header_kinds: ALL_ODD_HEADERS,
        duplicates: PerMille(5),
        duplicate_kinds: Table::new(&[(Duplicate::Redelivery, 2), (Duplicate::Replay, 1)]),
        timestamp_edges: PerMille(0),
        timestamp_edge_kinds: ALL_TIMESTAMP_EDGES,
    },
    Profile {
        name: "old-clients",
        summary: "pre-0.6 envelopes, 0.6-0.7 messages without _id, and non-hop producers",
        eras: Table::new(&[(Era::Pre06, 35), (Era::V06, 35), (Era::NonHop, 30)]),
        payloads: ALL_PAYLOADS,
        payload_bytes: 16..=4_096,
        step_ms: 1..=120_000,
        heartbeats: PerMille(0),
        test_flag: PerMille(30),
        user_headers: PerMille(100),
        odd_headers: PerMille(0),
        odd_header_kinds: ALL_ODD_HEADERS,
        duplicates: PerMille(60),
        duplicate_kinds: Table::new(&[(Duplicate::IdLessTwice, 2), (Duplicate::Redelivery, 1), (Duplicate::Replay, 1)]),
        timestamp_edges: PerMille(0),
        timestamp_edge_kinds: ALL_TIMESTAMP_EDGES,
    },
    Profile {
        name: "odd-headers",
        summary: "every message with header room gets an odd header",
        eras: Table::new(&[(Era::V06, 20), (Era::V08, 60), (Era::NonHop, 20)]),
        payloads: SMALL_PAYLOADS,
        payload_bytes: 16..=2_048,
        step_ms: 1..=120_000,
        heartbeats: PerMille(0),
        test_flag: PerMille(0),
        user_headers: PerMille(300),
        odd_headers: PerMille(1000),
        odd_header_kinds: ALL_ODD_HEADERS,
        duplicates: PerMille(0),
        duplicate_kinds: ALL_DUPLICATES,
        timestamp_edges: PerMille(0),
        timestamp_edge_kinds: ALL_TIMESTAMP_EDGES,
    },
    Profile {
        name: "duplicates",
        summary: "two deliveries in five repeat an earlier one, in every way",
        eras: Table::new(&[(Era::Pre06, 10), (Era::V06, 15), (Era::V08, 60), (Era::NonHop, 15)]),
        payloads: SMALL_PAYLOADS,
        payload_bytes: 16..=2_048,
        step_ms: 1..=120_000,
        heartbeats: PerMille(0),
        test_flag: PerMille(0),
        user_headers: PerMille(100),
        odd_headers: PerMille(0),
        odd_header_kinds: ALL_ODD_HEADERS,
        duplicates: PerMille(400),
        duplicate_kinds: ALL_DUPLICATES,
        timestamp_edges: PerMille(0),
        timestamp_edge_kinds: ALL_TIMESTAMP_EDGES,
    },
];

/// The built-in profile called `name`.
pub fn profile(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}
