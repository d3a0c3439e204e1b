//! The record codec: byte-exact with upstream, lossless, and safe on hostile input.

use crate::strategies;
use archiver::identity;
use archiver::record::bson::{self, Document, Problem, Value};
use archiver::record::{Body, Header, HeaderValue, Key, Message, Record, RecordError};
use proptest::prelude::*;
use std::path::PathBuf;

/// upstream.md §2.3: 480 bytes produced by upstream's `encode_lazy_bson`.
const UPSTREAM_VECTOR_HEX: &str = concat!(
    "e0010000056d6573736167650008000000007b2261223a20317d036d65746164",
    "61746100b30000001274696d657374616d70007b68e5cf8b0100000468656164",
    "657273007700000004300028000000023000040000005f696400053100100000",
    "000001234567aaaabbbbcccc0123456789de0004310021000000023000080000",
    "005f73656e646572000531000500000000616c69636500043200200000000230",
    "00080000005f666f726d61740005310004000000006a736f6e00000a6b657900",
    "02746f706963000b00000064656d6f2e746f706963000003616e6e6f74617469",
    "6f6e7300fb00000002636f6e5f746578745f7575696400250000003031323334",
    "3536372d616161612d626262622d636363632d30313233343536373839646500",
    "08636f6e5f69735f636c69656e745f75756964000112636f6e5f6d6573736167",
    "655f637263333200978ea1fb00000000087075626c6963000108646972656374",
    "5f75706c6f61640000026d656469615f7479706500110000006170706c696361",
    "74696f6e2f6a736f6e00027469746c650001000000000273656e646572000600",
    "0000616c696365000266696c655f6e616d65000100000000026f726967696e61",
    "746f7200010000000008746578745f66756c6c795f696e646578656400010000",
);

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("test hex")).collect()
}

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/upstream");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("fixture entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "bson"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (p.file_name().unwrap_or_default().to_string_lossy().into_owned(), std::fs::read(&p).expect("fixture"))
        })
        .collect()
}

/// [`fixtures`], read once: the fuzz tests use them in every case.
fn fixtures_cached() -> &'static [(String, Vec<u8>)] {
    static FIXTURES: std::sync::OnceLock<Vec<(String, Vec<u8>)>> = std::sync::OnceLock::new();
    FIXTURES.get_or_init(fixtures)
}

/// Decodes `bytes`, re-encodes, and asserts the bytes are identical.
fn check_round_trip(name: &str, bytes: &[u8]) -> Record {
    let record = Record::decode(bytes).unwrap_or_else(|e| panic!("{name}: decode failed: {e}"));
    let again = record.encode().unwrap_or_else(|e| panic!("{name}: encode failed: {e}"));
    if let Some(at) = bytes.iter().zip(&again).position(|(a, b)| a != b) {
        panic!("{name}: re-encoding differs at byte {at} of {}", bytes.len());
    }
    assert_eq!(again.len(), bytes.len(), "{name}: re-encoding has a different length");
    record
}

fn vector_message() -> Message {
    let id = uuid::uuid!("01234567-aaaa-bbbb-cccc-0123456789de");
    Message {
        topic: "demo.topic".into(),
        timestamp: 1_700_000_000_123,
        key: Key::Null,
        headers: vec![
            Header::new("_id", Some(id.as_bytes())),
            Header::new("_sender", Some(b"alice")),
            Header::new("_format", Some(b"json")),
        ],
        payload: Some(br#"{"a": 1}"#.to_vec()),
    }
}

#[test]
fn upstream_vector_round_trips_byte_exact() {
    let bytes = unhex(UPSTREAM_VECTOR_HEX);
    assert_eq!(bytes.len(), 480);
    assert_eq!(crc32fast::hash(&bytes), 4_270_772_221, "the vector itself is intact");
    let record = check_round_trip("upstream vector", &bytes);
    assert_eq!(record.payload(), Some(&br#"{"a": 1}"#[..]));
    assert!(!record.is_legacy());
}

#[test]
fn upstream_vector_encodes_from_its_logical_inputs() {
    let message = vector_message();
    let id = identity::Identity::of(&message);
    let uuid = id.client_uuid.expect("the vector has a 16-byte _id");
    let mut annotations = identity::annotate(&message, uuid, true, true, false).to_annotations();
    // Written by upstream, and by ingest, for text-indexed topics only.
    annotations.0.push("text_fully_indexed", Value::Bool(true));
    let bytes = Record::new(&message, annotations).encode().expect("encodes");
    assert_eq!(bytes, unhex(UPSTREAM_VECTOR_HEX));
}

/// Ingest writes upstream's vector byte for byte for a text-indexed topic
/// (`text_fully_indexed` last), and the same object without it otherwise.
#[test]
fn ingest_writes_the_upstream_vector_for_a_text_indexed_topic() {
    use archiver::identity::Placement;
    use archiver::index::TimestampType;
    use archiver::pipeline::{Provenance, prepare};
    let message = vector_message();
    let id = identity::Identity::of(&message);
    let uuid = id.client_uuid.expect("the vector has a 16-byte _id");
    let placement = Placement { uuid, is_client_uuid: true, claimed_uuid: None };
    let prepared = |text| {
        let provenance = Provenance {
            partition: Some(0),
            offset: Some(0),
            timestamp_type: TimestampType::Create,
            ingested_at_ms: 0,
            public: true,
            direct_upload: false,
            text,
        };
        prepare(&message, id.fingerprint, &placement, &provenance, "b").expect("prepares")
    };
    let indexed = prepared(Some(archiver::text::TextLimits::default()));
    assert_eq!(indexed.object, unhex(UPSTREAM_VECTOR_HEX), "the upstream vector, byte for byte");
    assert_eq!(indexed.row.text_fully_indexed, Some(true));
    assert_eq!(indexed.row.text.as_deref(), Some("sender alice"), "`_sender`, and no string in {{\"a\": 1}}");
    let plain = prepared(None);
    let without = Record::new(&message, identity::annotate(&message, uuid, true, true, false).to_annotations());
    assert_eq!(plain.object, without.encode().expect("encodes"), "no text indexing: no annotation");
    assert_eq!((plain.row.text_fully_indexed, plain.row.text), (None, None));
    let decoded = Record::decode(&plain.object).expect("decodes");
    assert_eq!(decoded.annotations.and_then(|a| a.flag("text_fully_indexed")), None);
}

#[test]
fn every_upstream_fixture_round_trips_byte_exact() {
    let fixtures = fixtures();
    assert!(fixtures.len() >= 9, "fixtures missing: {:?}", fixtures.iter().map(|f| &f.0).collect::<Vec<_>>());
    for (name, bytes) in &fixtures {
        check_round_trip(name, bytes);
    }
}

#[test]
fn legacy_fixtures_decode_to_their_logical_values() {
    let all: std::collections::BTreeMap<_, _> = fixtures().into_iter().collect();
    let e1 = Record::decode(&all["e1-simplebson-legacy.bson"]).expect("e1 decodes");
    assert!(e1.is_legacy());
    assert!(matches!(e1.body, Body::Legacy(_)));
    assert_eq!(e1.payload(), Some(&b"opaque\0blob"[..]));
    assert_eq!(e1.metadata.key, None, "E1 objects have no key field");
    let headers = e1.metadata.headers.as_deref().expect("headers");
    assert_eq!(headers[1].value, HeaderValue::Text(String::new()), "E1 wrote null header values as \"\"");
    assert_eq!(e1.annotations.as_ref().and_then(|a| a.message_crc32()), Some(crc32fast::hash(b"opaque\0blob")));

    let e0 = Record::decode(&all["e0-no-annotations.bson"]).expect("e0 decodes");
    assert_eq!(e0.annotations, None);
    assert_eq!(e0.metadata.headers, Some(vec![]));

    let tombstone = Record::decode(&all["current-tombstone.bson"]).expect("tombstone decodes");
    assert_eq!(tombstone.body, Body::Null);
    assert_eq!(tombstone.metadata.timestamp, 1, "a timestamp of 1 is stored as int32");

    let upload = Record::decode(&all["current-direct-upload.bson"]).expect("upload decodes");
    assert_eq!(upload.metadata.key, Some(Key::Text("a string key".into())));
}

#[test]
fn crc_of_either_width_is_read() {
    let all: std::collections::BTreeMap<_, _> = fixtures().into_iter().collect();
    for name in ["current-crc-int32-no-headers.bson", "current-vector.bson"] {
        let record = Record::decode(&all[name]).expect("decodes");
        let crc = record.annotations.as_ref().and_then(|a| a.message_crc32());
        assert_eq!(crc, record.payload().map(crc32fast::hash), "{name}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn any_message_round_trips(message in strategies::message()) {
        let id = identity::Identity::of(&message);
        let annotations = identity::annotate(&message, id.preferred_uuid(), id.client_uuid.is_some(), false, false);
        let record = Record::new(&message, annotations.to_annotations());
        let bytes = record.encode().expect("encodes");
        let decoded = Record::decode(&bytes).expect("decodes");
        prop_assert_eq!(&decoded, &record);
        prop_assert_eq!(decoded.message(), message.clone());
        prop_assert_eq!(decoded.encode().expect("re-encodes"), bytes.clone());
        // An independent BSON implementation reads the same payload and topic.
        let doc = ::bson::RawDocument::from_bytes(&bytes).expect("valid BSON for the bson crate");
        match &message.payload {
            Some(p) => prop_assert_eq!(doc.get_binary("message").expect("binary message").bytes, &p[..]),
            None => prop_assert!(doc.get("message").expect("message field").is_some_and(|v| v.as_null().is_some())),
        }
        let meta = doc.get_document("metadata").expect("metadata");
        prop_assert_eq!(meta.get_str("topic").expect("topic"), message.topic.as_str());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check_hostile(&bytes)?;
    }

    /// Every fixture, the legacy layouts (e0, e1, e2) included.
    #[test]
    fn mutated_objects_never_panic(
        index in 0usize..fixtures_cached().len(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let mut bytes = fixtures_cached()[index].1.clone();
        for (at, byte, op) in edits {
            let i = at.index(bytes.len().max(1));
            match op {
                0 if i < bytes.len() => bytes[i] = byte,
                1 => bytes.truncate(i),
                _ => bytes.insert(i.min(bytes.len()), byte),
            }
        }
        check_hostile(&bytes)?;
    }

    /// Random elements inside a correct outer length and final NUL, so the
    /// decoder gets past the frame into the elements.
    #[test]
    fn random_elements_in_a_valid_frame_never_panic(body in framed_body()) {
        check_hostile(&framed(&body))?;
    }
}

/// A document's body: raw random bytes, or elements with a valid type byte
/// and key followed by random value bytes.
fn framed_body() -> impl Strategy<Value = Vec<u8>> {
    let kinds: Vec<u8> = (0x01..=0x13).chain([0x7f, 0xff]).collect();
    let element = (proptest::sample::select(kinds), "[a-z0-9]{0,3}", proptest::collection::vec(any::<u8>(), 0..24))
        .prop_map(|(kind, key, value)| {
            let mut bytes = vec![kind];
            bytes.extend_from_slice(key.as_bytes());
            bytes.push(0);
            bytes.extend(value);
            bytes
        });
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        proptest::collection::vec(element, 1..8).prop_map(|elements| elements.concat()),
    ]
}

/// `body` with a correct length prefix and final NUL.
fn framed(body: &[u8]) -> Vec<u8> {
    let len = i32::try_from(body.len() + 5).expect("test bodies are small");
    let mut bytes = len.to_le_bytes().to_vec();
    bytes.extend_from_slice(body);
    bytes.push(0);
    bytes
}

/// Hostile input decodes to an error or to a record that re-encodes to a
/// fixed point; it never panics.
fn check_hostile(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(record) = Record::decode(bytes) {
        let encoded = record.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let again = Record::decode(&encoded).map_err(|e| TestCaseError::fail(format!("re-decode: {e}")))?;
        prop_assert_eq!(again, record);
    }
    Ok(())
}

/// `depth` documents nested as `{"d": {"d": ... {}}}`, built as bytes so the
/// test itself needs no recursion.
fn nested(depth: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(depth * 8 + 5);
    for level in 0..depth {
        let len = i32::try_from(5 + 8 * (depth - level)).expect("test depth fits");
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend_from_slice(&[0x03, b'd', 0]);
    }
    bytes.extend_from_slice(&[5, 0, 0, 0, 0]);
    bytes.extend(std::iter::repeat_n(0, depth));
    bytes
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let shallow = bson::decode(&nested(bson::DEPTH_MAX - 1)).expect("nesting within the limit decodes");
    assert_eq!(bson::encode(&shallow).expect("re-encodes"), nested(bson::DEPTH_MAX - 1));
    let err = bson::decode(&nested(100_000)).expect_err("too deep");
    assert_eq!(err.problem, Problem::TooDeep);
}

#[test]
fn lying_lengths_are_typed_errors() {
    let good = unhex(UPSTREAM_VECTOR_HEX);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty input", vec![]),
        ("truncated", good[..200].to_vec()),
        ("document longer than input", {
            let mut b = good.clone();
            b[0] = 0xff;
            b
        }),
        ("negative document length", {
            let mut b = good.clone();
            b[3] = 0x80;
            b
        }),
        ("binary length past the end", {
            let mut b = good.clone();
            b[13] = 0x7f; // the length of `message`
            b
        }),
        ("trailing garbage", {
            let mut b = good.clone();
            b.push(0);
            b
        }),
    ];
    for (what, bytes) in cases {
        match Record::decode(&bytes) {
            Err(RecordError::Bson(e)) => assert!(!e.to_string().is_empty(), "{what}"),
            other => panic!("{what}: expected a BSON error, got {other:?}"),
        }
    }
}

#[test]
fn wrong_field_types_name_the_field() {
    let doc =
        Document(vec![("message".into(), Value::Int32(3)), ("metadata".into(), Value::Document(Document::default()))]);
    let err = Record::from_document(doc).expect_err("not an archive object");
    assert!(err.to_string().contains("message"), "{err}");

    let mut record = Record::decode(&unhex(UPSTREAM_VECTOR_HEX)).expect("decodes").to_document();
    record.0[1].1 = Value::Document(Document(vec![("timestamp".into(), Value::String("x".into()))]));
    let err = Record::from_document(record).expect_err("bad metadata");
    assert!(err.to_string().contains("metadata.timestamp"), "{err}");
}
