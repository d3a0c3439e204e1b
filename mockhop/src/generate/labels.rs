//! The labels a [`Delivery`](crate::Delivery) carries: which traffic
//! features it exercises, so tests and tools can count and select them.
//!
//! Every delivery has exactly one `era:*`, one `payload:*` kind (plus
//! `payload:envelope` for pre-0.6 messages) and one `id:*` label. A
//! duplicate has one `dup:*` label first, followed by the labels of the
//! delivery it copies, minus those its changes made untrue.

/// hop-client before 0.6: a JSON envelope `{"format", "content"}`, no headers.
pub const ERA_PRE_06: &str = "era:pre-0.6";
/// hop-client 0.6–0.7: `_format` (and maybe `_test`), no `_id`.
pub const ERA_06: &str = "era:0.6-0.7";
/// hop-client 0.8 and later: `_id`, `_sender`, maybe `_test`, `_format`.
pub const ERA_08: &str = "era:0.8+";
/// hop-client 0.11 and later offloading a large message: an `external`
/// placeholder with its own `_id`.
pub const ERA_EXTERNAL: &str = "era:0.11-external";
/// Any other Kafka producer: raw value, maybe a key, no headers.
pub const ERA_NON_HOP: &str = "era:non-hop";

/// The first `_id` header of exactly 16 bytes is present: the archive uses
/// it as the message's UUID.
pub const ID_CLIENT: &str = "id:client";
/// No 16-byte `_id`: the archive derives the UUID from the fingerprint.
pub const ID_NONE: &str = "id:none";

/// Carries `_test` (the archiver skips it by default).
pub const HOP_TEST: &str = "hop:test";
/// Carries user headers the archive annotates (`title`, `file_name`, `originator`).
pub const USER_HEADERS: &str = "header:user";
/// Has a non-null Kafka key.
pub const KEY_BYTES: &str = "key:bytes";
/// On `sys.heartbeat`, which the archiver must veto.
pub const HEARTBEAT: &str = "topic:heartbeat";

pub const PAYLOAD_JSON: &str = "payload:json";
/// VOEvent: XML from hop-client 0.8+ and non-hop producers, hop's JSON
/// rendering from older clients.
pub const PAYLOAD_VOEVENT: &str = "payload:voevent";
pub const PAYLOAD_GCN_NOTICE: &str = "payload:gcn-notice";
pub const PAYLOAD_CIRCULAR: &str = "payload:circular";
/// An Avro object container file.
pub const PAYLOAD_AVRO: &str = "payload:avro";
pub const PAYLOAD_BLOB: &str = "payload:blob";
/// A zero-length value.
pub const PAYLOAD_EMPTY: &str = "payload:empty";
/// A null value (tombstone).
pub const PAYLOAD_NULL: &str = "payload:null";
/// A value just under Hopskotch's ~1 MB message limit.
pub const PAYLOAD_NEAR_LIMIT: &str = "payload:near-limit";
/// An `external` placeholder `{"url": …}`.
pub const PAYLOAD_EXTERNAL: &str = "payload:external";
/// A `sys.heartbeat` beat.
pub const PAYLOAD_HEARTBEAT: &str = "payload:heartbeat";
/// Wrapped in the pre-0.6 `{"format", "content"}` envelope (in addition to
/// the kind of the content).
pub const PAYLOAD_ENVELOPE: &str = "payload:envelope";

/// The same header key twice, with different values.
pub const HEADER_DUPLICATE_KEY: &str = "header:duplicate-key";
pub const HEADER_NULL_VALUE: &str = "header:null-value";
pub const HEADER_EMPTY_VALUE: &str = "header:empty-value";
/// A header value that is not valid UTF-8.
pub const HEADER_NON_UTF8: &str = "header:non-utf8";
/// A header key outside ASCII.
pub const HEADER_UNICODE_KEY: &str = "header:unicode-key";
/// An `_id` of 0 bytes.
pub const HEADER_ID_EMPTY: &str = "header:id-empty";
/// An `_id` of 15 bytes.
pub const HEADER_ID_SHORT: &str = "header:id-short";
/// An `_id` of 17 bytes.
pub const HEADER_ID_LONG: &str = "header:id-long";
/// An `_id` holding a 36-character text UUID instead of 16 raw bytes.
pub const HEADER_ID_TEXT: &str = "header:id-text";
/// Several `_id` headers; the first 16-byte one is the identity.
pub const HEADER_MULTIPLE_IDS: &str = "header:multiple-ids";
/// More than 100 headers.
pub const HEADER_MANY: &str = "header:many";
/// A 64 KiB header value.
pub const HEADER_LARGE_VALUE: &str = "header:large-value";

/// An exact copy of an earlier delivery (a consumer-side redelivery).
pub const DUP_REDELIVERY: &str = "dup:redelivery";
/// Part of a run of consecutive earlier deliveries repeated in order (a
/// cursor reset).
pub const DUP_REPLAY: &str = "dup:replay";
/// An earlier delivery's 16-byte `_id` on different content, sent later.
pub const DUP_CONFLICT: &str = "dup:conflict";
/// An earlier delivery's content under a new `_id`, sent later.
pub const DUP_SAME_CONTENT_NEW_ID: &str = "dup:same-content-new-id";
/// An exact second copy of an earlier message without a 16-byte `_id`.
pub const DUP_ID_LESS_TWICE: &str = "dup:id-less-twice";

/// 00:00:00.000 UTC, or the millisecond before it.
pub const TS_MIDNIGHT: &str = "ts:midnight";
/// The first or last millisecond of a UTC year.
pub const TS_YEAR_BOUNDARY: &str = "ts:year-boundary";
/// During 2024-02-29 UTC.
pub const TS_LEAP_DAY: &str = "ts:leap-day";
/// Timestamp 0 (the epoch).
pub const TS_ZERO: &str = "ts:zero";
/// During the year 2100.
pub const TS_FAR_FUTURE: &str = "ts:far-future";
/// No timestamp (-1).
pub const TS_MISSING: &str = "ts:missing";

/// Every label, in the order above.
pub const ALL: &[&str] = &[
    ERA_PRE_06,
    ERA_06,
    ERA_08,
    ERA_EXTERNAL,
    ERA_NON_HOP,
    ID_CLIENT,
    ID_NONE,
    HOP_TEST,
    USER_HEADERS,
    KEY_BYTES,
    HEARTBEAT,
    PAYLOAD_JSON,
    PAYLOAD_VOEVENT,
    PAYLOAD_GCN_NOTICE,
    PAYLOAD_CIRCULAR,
    PAYLOAD_AVRO,
    PAYLOAD_BLOB,
    PAYLOAD_EMPTY,
    PAYLOAD_NULL,
    PAYLOAD_NEAR_LIMIT,
    PAYLOAD_EXTERNAL,
    PAYLOAD_HEARTBEAT,
    PAYLOAD_ENVELOPE,
    HEADER_DUPLICATE_KEY,
    HEADER_NULL_VALUE,
    HEADER_EMPTY_VALUE,
    HEADER_NON_UTF8,
    HEADER_UNICODE_KEY,
    HEADER_ID_EMPTY,
    HEADER_ID_SHORT,
    HEADER_ID_LONG,
    HEADER_ID_TEXT,
    HEADER_MULTIPLE_IDS,
    HEADER_MANY,
    HEADER_LARGE_VALUE,
    DUP_REDELIVERY,
    DUP_REPLAY,
    DUP_CONFLICT,
    DUP_SAME_CONTENT_NEW_ID,
    DUP_ID_LESS_TWICE,
    TS_MIDNIGHT,
    TS_YEAR_BOUNDARY,
    TS_LEAP_DAY,
    TS_ZERO,
    TS_FAR_FUTURE,
    TS_MISSING,
];
