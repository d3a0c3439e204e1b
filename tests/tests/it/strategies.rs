//! proptest strategies for messages as Kafka delivers them.

use archiver::record::{Header, HeaderValue, Key, Message};
use proptest::collection::vec;
use proptest::prelude::*;

/// Payload sizes from empty to 1 MiB; large ones are cheap patterns so the
/// suite stays fast while still crossing every length-prefix boundary.
pub fn payload() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        1 => Just(None),
        6 => vec(any::<u8>(), 0..300).prop_map(Some),
        2 => (0usize..=(1 << 20), any::<u8>()).prop_map(|(len, seed)| {
            Some((0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect())
        }),
    ]
}

/// Header keys: hop's own, unicode, empty, and keys with NUL bytes.
pub fn header_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("_id".to_owned()),
        Just("_format".to_owned()),
        Just("_sender".to_owned()),
        Just("title".to_owned()),
        "[a-z_]{0,12}",
        "\\PC{0,8}",
        Just("nul\0key".to_owned()),
    ]
}

/// Text as it appears in string keys and legacy string header values:
/// empty (legacy objects wrote null header values as `""`), unicode, and
/// with NUL and control characters (a BSON string is length-prefixed, so it
/// holds them and reads back byte-exact).
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "\\PC{1,16}", "[a-z\0\n\u{7f}é]{1,8}"]
}

/// Header values: Kafka's bytes and null, and the string values of legacy
/// objects, which the record keeps as BSON strings.
pub fn header_value() -> impl Strategy<Value = HeaderValue> {
    prop_oneof![
        1 => Just(HeaderValue::Null),
        4 => vec(any::<u8>(), 0..40).prop_map(HeaderValue::Bytes),
        1 => vec(any::<u8>(), 16).prop_map(HeaderValue::Bytes),
        1 => Just(HeaderValue::Bytes(vec![0xff, 0xfe, 0x80])),
        1 => text().prop_map(HeaderValue::Text),
    ]
}

/// Header lists with duplicates, nulls, non-UTF-8 values and unicode keys.
pub fn headers() -> impl Strategy<Value = Vec<Header>> {
    vec((header_key(), header_value()).prop_map(|(key, value)| Header { key, value }), 0..12)
}

/// Keys: null, bytes, and the string keys of direct uploads (stored as BSON
/// strings).
pub fn key() -> impl Strategy<Value = Key> {
    prop_oneof![Just(Key::Null), vec(any::<u8>(), 0..40).prop_map(Key::Bytes), text().prop_map(Key::Text)]
}

pub fn topic() -> impl Strategy<Value = String> {
    prop_oneof![Just("gcn.notice".to_owned()), "[a-zA-Z0-9._-]{1,40}", "[a-z.]{1,20}\\+oversized"]
}

pub fn message() -> impl Strategy<Value = Message> {
    (topic(), any::<i64>(), key(), headers(), payload()).prop_map(|(topic, timestamp, key, headers, payload)| Message {
        topic,
        timestamp,
        key,
        headers,
        payload,
    })
}
