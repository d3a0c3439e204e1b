//! Identity: fingerprints, client and derived UUIDs, the duplicate/conflict
//! decision, annotations and object keys (PRODUCT.md §3.2–3.3).

use crate::strategies;
use archiver::identity::{self, Collision, Decision, Fingerprint, Identity, Placement};
use archiver::record::{Header, HeaderValue, Key, Message};
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use uuid::Uuid;

fn message(headers: Vec<Header>, payload: &[u8]) -> Message {
    Message {
        topic: "gcn.notice".into(),
        timestamp: 1_732_752_000_000,
        key: Key::Null,
        headers,
        payload: Some(payload.to_vec()),
    }
}

/// The canonical encoding of one small message, written out by hand from the
/// documentation of `identity::fingerprint`, so the code cannot drift from
/// its documented (and forever fixed) definition.
fn hand_encoded() -> (Message, Vec<u8>) {
    let msg = Message {
        topic: "t".into(),
        timestamp: 1,
        key: Key::Bytes(b"k".to_vec()),
        headers: vec![Header::new("h", None), Header::new("v", Some(b"x"))],
        payload: Some(b"p".to_vec()),
    };
    let mut bytes = b"hop-archiver fingerprint v1\n".to_vec();
    let len = |n: u64| n.to_be_bytes();
    bytes.extend(len(1));
    bytes.extend(b"t");
    bytes.extend(1i64.to_be_bytes());
    bytes.push(1);
    bytes.extend(len(1));
    bytes.extend(b"k");
    bytes.extend(len(2));
    bytes.extend(len(1));
    bytes.extend(b"h");
    bytes.push(0);
    bytes.extend(len(1));
    bytes.extend(b"v");
    bytes.push(1);
    bytes.extend(len(1));
    bytes.extend(b"x");
    bytes.push(1);
    bytes.extend(len(1));
    bytes.extend(b"p");
    (msg, bytes)
}

#[test]
fn fingerprint_matches_its_documented_encoding() {
    let (msg, canonical) = hand_encoded();
    let expected: [u8; 32] = Sha256::digest(&canonical).into();
    assert_eq!(identity::fingerprint(&msg), Fingerprint(expected));
}

#[test]
fn derived_uuid_matches_its_documented_derivation() {
    let (msg, canonical) = hand_encoded();
    let fp: [u8; 32] = Sha256::digest(&canonical).into();
    let digest = Sha256::new().chain_update(b"hop-archiver derived uuid v1\n").chain_update(fp).finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80; // version 8
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 9562 variant
    assert_eq!(identity::derived_uuid(&identity::fingerprint(&msg)), Uuid::from_bytes(bytes));
}

/// Pinned forever: every `_id`-less message in every archive is keyed by
/// this derivation. If this fails, the change re-keys the archive.
#[test]
fn derived_uuid_vector_is_stable() {
    let (msg, _) = hand_encoded();
    let fp = identity::fingerprint(&msg);
    assert_eq!(fp.to_string(), FINGERPRINT_VECTOR);
    assert_eq!(identity::derived_uuid(&fp).to_string(), DERIVED_UUID_VECTOR);
}

const FINGERPRINT_VECTOR: &str = "ae2b092f4495e73d865c92647bcc69d94226f00523b05cbafe0a42dea7d682f1";
const DERIVED_UUID_VECTOR: &str = "1c49403e-52ef-8989-8efc-5ffa278518c8";

#[test]
fn client_uuid_is_the_first_16_byte_id() {
    let a = Uuid::from_u128(0xa);
    let b = Uuid::from_u128(0xb);
    let cases: Vec<(&str, Vec<Header>, Option<Uuid>)> = vec![
        ("no headers", vec![], None),
        ("16 bytes", vec![Header::new("_id", Some(a.as_bytes()))], Some(a)),
        ("15 bytes", vec![Header::new("_id", Some(&[1; 15]))], None),
        ("17 bytes", vec![Header::new("_id", Some(&[1; 17]))], None),
        ("empty", vec![Header::new("_id", Some(b""))], None),
        ("null", vec![Header::new("_id", None)], None),
        ("36-char text uuid", vec![Header::new("_id", Some(a.to_string().as_bytes()))], None),
        (
            "invalid then valid",
            vec![
                Header::new("_id", Some(&[1; 15])),
                Header::new("_id", Some(b.as_bytes())),
                Header::new("_id", Some(a.as_bytes())),
            ],
            Some(b),
        ),
        ("other key", vec![Header::new("_ID", Some(a.as_bytes()))], None),
        (
            "legacy text value",
            vec![Header { key: "_id".into(), value: HeaderValue::Text("0123456789abcdef".into()) }],
            None,
        ),
    ];
    for (what, headers, expected) in cases {
        assert_eq!(identity::client_uuid(&message(headers, b"x")), expected, "{what}");
    }
}

fn fp(n: u8) -> Fingerprint {
    Fingerprint([n; 32])
}

#[test]
fn decide_covers_new_duplicate_conflict_and_collision() {
    let client = Uuid::from_u128(7);
    let derived = Uuid::from_u128(8);
    let with_client = Identity { fingerprint: fp(1), client_uuid: Some(client), derived_uuid: derived };
    let without = Identity { client_uuid: None, ..with_client };
    let at = |uuid, is_client_uuid, claimed_uuid| Placement { uuid, is_client_uuid, claimed_uuid };
    let (as_client, as_derived, as_conflict) =
        (at(client, true, None), at(derived, false, None), at(derived, false, Some(client)));
    type Case<'a> = (&'a str, &'a Identity, Option<Fingerprint>, Option<Fingerprint>, Result<Decision, Collision>);
    let cases: Vec<Case> = vec![
        ("new, client uuid", &with_client, None, None, Ok(Decision::Store(as_client))),
        ("new, derived uuid", &without, None, None, Ok(Decision::Store(as_derived))),
        ("redelivery, client uuid", &with_client, Some(fp(1)), None, Ok(Decision::Duplicate(as_client))),
        ("redelivery, derived uuid", &without, Some(fp(1)), None, Ok(Decision::Duplicate(as_derived))),
        ("same _id, other content", &with_client, Some(fp(2)), None, Ok(Decision::Store(as_conflict))),
        ("conflict redelivered", &with_client, Some(fp(2)), Some(fp(1)), Ok(Decision::Duplicate(as_conflict))),
        (
            "derived uuid held by other content",
            &without,
            Some(fp(2)),
            None,
            Err(Collision { uuid: derived, held: fp(2), ours: fp(1) }),
        ),
        (
            "conflict and derived held by other content",
            &with_client,
            Some(fp(2)),
            Some(fp(3)),
            Err(Collision { uuid: derived, held: fp(3), ours: fp(1) }),
        ),
    ];
    for (what, id, at_preferred, at_derived, expected) in cases {
        assert_eq!(identity::decide(id, at_preferred, at_derived), expected, "{what}");
    }
}

#[test]
fn same_content_with_different_ids_is_two_messages() {
    let one = message(vec![Header::new("_id", Some(Uuid::from_u128(1).as_bytes()))], b"same");
    let two = message(vec![Header::new("_id", Some(Uuid::from_u128(2).as_bytes()))], b"same");
    assert_ne!(Identity::of(&one).preferred_uuid(), Identity::of(&two).preferred_uuid());
    assert_ne!(identity::fingerprint(&one), identity::fingerprint(&two));
}

/// The parts of a message a single-byte change can hit.
#[derive(Debug, Clone, Copy)]
enum Field {
    Payload,
    Key,
    Topic,
    Timestamp,
    HeaderKey,
    HeaderValue,
}

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        Just(Field::Payload),
        Just(Field::Key),
        Just(Field::Topic),
        Just(Field::Timestamp),
        Just(Field::HeaderKey),
        Just(Field::HeaderValue),
    ]
}

/// Flips the low bit of one byte of `bytes` (which must not be empty).
fn flip_byte(bytes: &mut [u8], at: prop::sample::Index) {
    let i = at.index(bytes.len());
    bytes[i] ^= 0x01;
}

/// Flips the low bit of one byte of `text` (which must not be empty),
/// choosing among the ASCII and continuation bytes: flipping those keeps the
/// text valid UTF-8, and every non-empty string has one.
fn flip_text_byte(text: &mut String, at: prop::sample::Index) {
    let mut bytes = std::mem::take(text).into_bytes();
    let flippable: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] < 0x80 || bytes[i] & 0xc0 == 0x80).collect();
    bytes[flippable[at.index(flippable.len())]] ^= 0x01;
    *text = String::from_utf8(bytes).expect("an ASCII or continuation byte flipped keeps UTF-8 valid");
}

/// `msg` with a byte in `field` (giving an empty, null or missing field one
/// first, so no case is skipped), and the same message with that byte
/// changed: `(before, after)`.
fn single_byte_change(
    mut msg: Message,
    field: Field,
    header: prop::sample::Index,
    at: prop::sample::Index,
    fill: u8,
) -> (Message, Message) {
    let fill_text = || char::from(b'a' + fill % 26).to_string();
    if matches!(field, Field::HeaderKey | Field::HeaderValue) && msg.headers.is_empty() {
        msg.headers.push(Header::new(fill_text(), Some(&[fill])));
    }
    let h = header.index(msg.headers.len().max(1));
    match field {
        Field::Payload if msg.payload.as_ref().is_none_or(Vec::is_empty) => msg.payload = Some(vec![fill]),
        Field::Key => match &msg.key {
            Key::Null if fill.is_multiple_of(2) => msg.key = Key::Bytes(vec![fill]),
            Key::Null => msg.key = Key::Text(fill_text()),
            Key::Bytes(b) if b.is_empty() => msg.key = Key::Bytes(vec![fill]),
            Key::Text(t) if t.is_empty() => msg.key = Key::Text(fill_text()),
            _ => {}
        },
        Field::HeaderKey if msg.headers[h].key.is_empty() => msg.headers[h].key = fill_text(),
        Field::HeaderValue => match &msg.headers[h].value {
            HeaderValue::Null if fill.is_multiple_of(2) => msg.headers[h].value = HeaderValue::Bytes(vec![fill]),
            HeaderValue::Null => msg.headers[h].value = HeaderValue::Text(fill_text()),
            HeaderValue::Bytes(b) if b.is_empty() => msg.headers[h].value = HeaderValue::Bytes(vec![fill]),
            HeaderValue::Text(t) if t.is_empty() => msg.headers[h].value = HeaderValue::Text(fill_text()),
            _ => {}
        },
        _ => {}
    }
    let mut changed = msg.clone();
    match field {
        Field::Payload => flip_byte(changed.payload.as_mut().expect("given a payload above"), at),
        Field::Key => match &mut changed.key {
            Key::Bytes(b) => flip_byte(b, at),
            Key::Text(t) => flip_text_byte(t, at),
            Key::Null => unreachable!("given a key above"),
        },
        Field::Topic => flip_text_byte(&mut changed.topic, at),
        Field::Timestamp => changed.timestamp ^= 1 << (at.index(64) as u32),
        Field::HeaderKey => flip_text_byte(&mut changed.headers[h].key, at),
        Field::HeaderValue => match &mut changed.headers[h].value {
            HeaderValue::Bytes(b) => flip_byte(b, at),
            HeaderValue::Text(t) => flip_text_byte(t, at),
            HeaderValue::Null => unreachable!("given a value above"),
        },
    }
    (msg, changed)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn identity_is_a_function_of_the_message(msg in strategies::message()) {
        let again = msg.clone();
        prop_assert_eq!(Identity::of(&msg), Identity::of(&again));
        let id = Identity::of(&msg);
        prop_assert_eq!(id.derived_uuid.get_version_num(), 8);
        prop_assert_eq!(id.derived_uuid.get_variant(), uuid::Variant::RFC4122);
    }

    #[test]
    fn any_single_byte_change_changes_the_fingerprint(
        msg in strategies::message(),
        field in field(),
        header in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        fill in any::<u8>(),
    ) {
        let (msg, changed) = single_byte_change(msg, field, header, at, fill);
        prop_assert_ne!(&msg, &changed);
        prop_assert_ne!(identity::fingerprint(&msg), identity::fingerprint(&changed));
        prop_assert_ne!(Identity::of(&msg).derived_uuid, Identity::of(&changed).derived_uuid);
    }

    #[test]
    fn header_order_matters(msg in strategies::message(), i in any::<prop::sample::Index>(), j in any::<prop::sample::Index>()) {
        let n = msg.headers.len();
        prop_assume!(n >= 2);
        let (i, j) = (i.index(n), j.index(n));
        prop_assume!(msg.headers[i] != msg.headers[j]);
        let mut swapped = msg.clone();
        swapped.headers.swap(i, j);
        prop_assert_ne!(identity::fingerprint(&msg), identity::fingerprint(&swapped));
    }

    #[test]
    fn null_and_empty_are_different(msg in strategies::message()) {
        let mut null = msg.clone();
        null.payload = None;
        let mut empty = msg;
        empty.payload = Some(vec![]);
        prop_assert_ne!(identity::fingerprint(&null), identity::fingerprint(&empty));
    }

    #[test]
    fn object_key_day_matches_a_calendar_library(ms in 0i64..253_402_300_800_000) {
        let uuid = Uuid::from_u128(42);
        let key = identity::object_key("t", ms, uuid);
        let when = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).expect("in range");
        let expected = format!("t/{:04}/{:02}/{:02}/{uuid}.bson", when.year(), u8::from(when.month()), when.day());
        prop_assert_eq!(key, expected);
    }
}

#[test]
fn object_keys_at_the_edges() {
    let uuid = uuid::uuid!("01234567-aaaa-bbbb-cccc-0123456789de");
    let cases = [
        (0, "1970/01/01"),
        (86_399_999, "1970/01/01"),
        (86_400_000, "1970/01/02"),
        (1_704_067_199_999, "2023/12/31"),
        (1_704_067_200_000, "2024/01/01"),
        (1_709_164_800_000, "2024/02/29"),
        (4_102_444_800_000, "2100/01/01"),
        (i64::MAX, "292278994/08/17"),
    ];
    for (ms, day) in cases {
        assert_eq!(identity::object_key("demo.topic", ms, uuid), format!("demo.topic/{day}/{uuid}.bson"), "at {ms} ms");
    }
}

#[test]
fn missing_timestamps_use_the_ingest_time() {
    assert_eq!(identity::effective_timestamp(5, 99), (5, false));
    assert_eq!(identity::effective_timestamp(0, 99), (0, false));
    assert_eq!(identity::effective_timestamp(-1, 99), (99, true));
}

#[test]
fn annotations_follow_upstream_rules() {
    let headers = vec![
        Header::new("title", Some(&[0xff, 0xfe])),
        Header::new("title", Some("Événement".as_bytes())),
        Header::new("_sender", Some(b"alice")),
        Header::new("file_name", None),
        Header::new("file_name", Some(b"notice.txt")),
        Header::new("originator", Some(b"LVK")),
        Header::new("_format", Some(b"json")),
    ];
    let msg = message(headers, br#"{"x": 1}"#);
    let a = identity::annotate(&msg, Uuid::from_u128(1), true, true, false);
    assert_eq!(a.title, "Événement", "the first UTF-8-decodable value wins");
    assert_eq!(a.sender, "alice");
    assert_eq!(a.file_name, "notice.txt");
    assert_eq!(a.originator, "LVK");
    assert_eq!(a.media_type, "application/json");
    assert_eq!(a.message_crc32, crc32fast::hash(br#"{"x": 1}"#));
}

#[test]
fn media_type_from_format_then_sniff() {
    let fmt = |values: &[&str], payload: &[u8]| {
        let headers = values.iter().map(|v| Header::new("_format", Some(v.as_bytes()))).collect();
        identity::media_type(&message(headers, payload))
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("voevent", fmt(&["voevent"], b"<x/>"), "application/x.voevent"),
        ("gcn notice", fmt(&["gcntextnotice"], b"TITLE:"), "application/x.gcn.notice"),
        ("circular", fmt(&["circular"], b"TITLE:"), "application/x.gcn.circular"),
        ("avro", fmt(&["avro"], b"Obj\x01"), "application/avro"),
        ("external", fmt(&["external"], br#"{"url": "x"}"#), "message/x.hop.external+json"),
        (
            "last recognised wins",
            fmt(&["json", "nonsense", "circular", "alsononsense"], b"x"),
            "application/x.gcn.circular",
        ),
        ("blob sniffs json", fmt(&["blob"], br#"{"a": [1, 2]}"#), "application/json"),
        ("missing sniffs xml", fmt(&[], b"<?xml version='1.0'?><voe:VOEvent/>"), "text/xml"),
        ("missing sniffs text", fmt(&[], b"TITLE: GCN CIRCULAR\n"), "text/plain"),
        ("missing sniffs avro", fmt(&[], b"Obj\x01\x04\x14avro.codec"), "application/octet-stream"),
        ("missing sniffs binary", fmt(&[], &[0, 1, 2, 0xff]), "application/octet-stream"),
        ("missing sniffs empty", fmt(&[], b""), "application/x-empty"),
        ("broken json is text", fmt(&[], b"{not json"), "text/plain"),
    ];
    for (what, got, expected) in cases {
        assert_eq!(got, expected, "{what}");
    }
}

/// A JSON document of `len` bytes: `{"text": "xxx…"}`.
fn json_of_len(len: usize) -> Vec<u8> {
    let pad = len - br#"{"text": ""}"#.len();
    format!(r#"{{"text": "{}"}}"#, "x".repeat(pad)).into_bytes()
}

fn sniffed(payload: &[u8]) -> String {
    identity::media_type(&message(Vec::new(), payload))
}

// Upstream shows libmagic only the first 4096 bytes: a longer JSON document
// is cut there, is no longer JSON, and libmagic calls it text.
#[test]
fn regression_json_over_4_kib_is_text_as_libmagic_says() {
    assert_eq!(sniffed(&json_of_len(4096)), "application/json", "a whole document in the window");
    assert_eq!(sniffed(&json_of_len(4097)), "text/plain", "cut at 4096 bytes");
    assert_eq!(sniffed(&json_of_len(200_000)), "text/plain");
    let blob = |payload: &[u8]| identity::media_type(&message(vec![Header::new("_format", Some(b"blob"))], payload));
    assert_eq!(blob(&json_of_len(5000)), "text/plain", "`blob` asks the sniff too");
}

// libmagic has no Avro signature: an object container is binary data.
#[test]
fn regression_avro_without_format_is_octet_stream() {
    let container = b"Obj\x01\x04\x16avro.schema\x92\x04{\"type\": \"record\"}\x14avro.codec\x08null\x00";
    assert_eq!(sniffed(container), "application/octet-stream");
    let declared = identity::media_type(&message(vec![Header::new("_format", Some(b"avro"))], container));
    assert_eq!(declared, "application/avro", "`_format: avro` still names it");
}

/// libmagic 5.44's answers (`magic_buffer` with `MAGIC_MIME_TYPE`, as
/// python-magic's `id_buffer`), pinned here so the suite needs no libmagic.
#[test]
fn media_type_sniff_follows_libmagic() {
    let cases: &[(&str, &[u8], &str)] = &[
        ("empty", b"", "application/x-empty"),
        ("one byte is too short for any test", b"{", "application/octet-stream"),
        ("two letters are text", b"ab", "text/plain"),
        ("object", br#"{"a": 1}"#, "application/json"),
        ("empty array", b"[]", "application/json"),
        ("space around", b" {\"a\":1} \n", "application/json"),
        ("a bare scalar is text", b"123", "text/plain"),
        ("a bare string is text", br#""str""#, "text/plain"),
        ("trailing commas pass", br#"{"a":[1,],}"#, "application/json"),
        ("leading zeros pass", br#"{"a": 01}"#, "application/json"),
        ("raw control characters in strings pass", b"[\"a\x01b\"]", "application/json"),
        ("NaN fails", br#"{"a": NaN}"#, "text/plain"),
        ("a bad exponent fails", br#"{"a": 1e}"#, "text/plain"),
        ("a bad escape fails", br#"{"a":"\q"}"#, "text/plain"),
        ("a NUL in a string is binary", b"{\"a\":\"x\x00\"}", "application/octet-stream"),
        ("a byte-order mark is not JSON", b"\xef\xbb\xbf{\"a\":1}", "text/plain"),
        ("trailing text", br#"{"a":1} x"#, "text/plain"),
        ("two documents", b"{\"a\":1}\n{\"b\":2}\n", "application/x-ndjson"),
        ("only the second document is checked", b"{\"a\":1}\n{\"b\":2}\ngarbage", "application/x-ndjson"),
        ("a second document of another kind", br#"{"a":1} [2]"#, "text/plain"),
        ("XML declaration", b"<?xml version='1.0' encoding='UTF-8'?>\n<voe:VOEvent/>", "text/xml"),
        ("XML declaration, any case", b"<?XML version=\"1.0\"?>", "text/xml"),
        ("XML after a byte-order mark", b"\xef\xbb\xbf<?xml version=\"1.0\"?><a/>", "text/xml"),
        ("XML without a declaration is text", b"<voe:VOEvent ivorn=\"x\"></voe:VOEvent>", "text/plain"),
        ("XML after space is text", b"  <?xml version=\"1.0\"?><a/>", "text/plain"),
        ("XML with binary bytes", b"<?xml version=\"1.0\"?>\x00\x01binary", "application/octet-stream"),
        ("GCN notice", b"TITLE:            GCN/SWIFT NOTICE\nNOTICE_DATE:      Thu 01\n", "text/plain"),
        ("ESC and BEL are text", b"hello\x1b\x07 world", "text/plain"),
        ("DEL is binary", b"hello there \x7f world out there", "application/octet-stream"),
        ("ISO-8859-1", b"caf\xe9 au lait", "text/plain"),
        ("extended ASCII", b"\x80\x81abc", "text/plain"),
        ("a C0 control is binary", b"TITLE: x\x0e", "application/octet-stream"),
        ("zeros", &[0; 8192], "application/octet-stream"),
    ];
    for (what, payload, expected) in cases {
        assert_eq!(sniffed(payload), *expected, "{what}");
    }
    let deep = |n: usize| [vec![b'['; n], vec![b']'; n]].concat();
    assert_eq!(sniffed(&deep(251)), "application/json", "libmagic nests 251 arrays");
    assert_eq!(sniffed(&deep(252)), "text/plain", "and gives up on the 252nd");
}
