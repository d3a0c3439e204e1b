//! Stream files: the generated deliveries as JSON lines or concatenated BSON,
//! for other tools and for reading by eye.

use crate::Delivery;
use archiver::record::bson::{self, Document, EncodeError, Value};
use archiver::record::{HeaderValue, Key};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::json;

/// One delivery as a JSON object; binary fields are base64, nulls are null.
pub fn to_json(delivery: &Delivery) -> serde_json::Value {
    let message = &delivery.message;
    let b64 = |bytes: &[u8]| json!(BASE64.encode(bytes));
    let headers: Vec<_> = message.headers.iter().map(|h| json!([h.key, header_bytes(&h.value).map(b64)])).collect();
    json!({
        "seq": delivery.seq,
        "topic": message.topic,
        "partition_hint": delivery.partition_hint,
        "timestamp": message.timestamp,
        "key": key_bytes(&message.key).map(b64),
        "headers": headers,
        "value": message.payload.as_deref().map(b64),
        "labels": delivery.labels,
    })
}

/// One delivery as a BSON document with the same fields as [`to_json`],
/// binary fields as BSON binary.
pub fn to_bson(delivery: &Delivery) -> Result<Vec<u8>, EncodeError> {
    let message = &delivery.message;
    let bin = |bytes: Option<&[u8]>| bytes.map_or(Value::Null, Value::bytes);
    let headers = message
        .headers
        .iter()
        .map(|h| Value::Array(vec![Value::String(h.key.clone()), bin(header_bytes(&h.value))]))
        .collect();
    let doc = Document(vec![
        ("seq".into(), Value::Int64(i64::try_from(delivery.seq).unwrap_or(i64::MAX))),
        ("topic".into(), Value::String(message.topic.clone())),
        ("partition_hint".into(), Value::int(i64::from(delivery.partition_hint))),
        ("timestamp".into(), Value::Int64(message.timestamp)),
        ("key".into(), bin(key_bytes(&message.key))),
        ("headers".into(), Value::Array(headers)),
        ("value".into(), bin(message.payload.as_deref())),
        ("labels".into(), Value::Array(delivery.labels.iter().map(|l| Value::String((*l).to_owned())).collect())),
    ]);
    bson::encode(&doc)
}

fn header_bytes(value: &HeaderValue) -> Option<&[u8]> {
    value.as_bytes()
}

fn key_bytes(key: &Key) -> Option<&[u8]> {
    match key {
        Key::Null => None,
        Key::Bytes(b) => Some(b),
        Key::Text(t) => Some(t.as_bytes()),
    }
}
