//! Response bodies: BSON as upstream's clients expect it, JSON for people.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value as Json, json};

use crate::index::IndexEntry;
use crate::record::bson::{self, Document, Value};
use crate::record::{HeaderValue as RecordHeaderValue, Key, Record};

pub const BSON: &str = "application/bson";
pub const JSON: &str = "application/json";

/// Whether the client asked for JSON (`Accept: application/json`); BSON,
/// upstream's format, is the default for everything else.
pub fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|part| part.trim().starts_with(JSON)))
}

pub fn bson_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static(BSON))], body).into_response()
}

pub fn json_response(value: &Json) -> Response {
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    ([(header::CONTENT_TYPE, HeaderValue::from_static(JSON))], body).into_response()
}

/// A small BSON document built from values (upload answers, counts, …).
pub fn bson_document(doc: &Document) -> Vec<u8> {
    // Only documents of strings, booleans and integers are built here, and
    // those always encode.
    bson::encode(doc).unwrap_or_default()
}

/// `{next, prev, messages: [...]}` with each element spliced in as the raw
/// bytes of a BSON document (a stored object, verbatim, or a metadata
/// record), array keys "0", "1", … (upstream writes "0" for every element).
pub fn listing_bson(next: Option<&str>, prev: Option<&str>, items: &[Vec<u8>]) -> Vec<u8> {
    let mut array = Vec::new();
    for (i, item) in items.iter().enumerate() {
        array.push(0x03);
        push_cstring(&mut array, &i.to_string());
        array.extend_from_slice(item);
    }
    let mut elements = Vec::new();
    for (name, token) in [("next", next), ("prev", prev)] {
        match token {
            Some(token) => {
                elements.push(0x02);
                push_cstring(&mut elements, name);
                push_len(&mut elements, token.len() + 1);
                elements.extend_from_slice(token.as_bytes());
                elements.push(0);
            }
            None => {
                elements.push(0x0A);
                push_cstring(&mut elements, name);
            }
        }
    }
    elements.push(0x04);
    push_cstring(&mut elements, "messages");
    elements.extend(wrap_document(array));
    wrap_document(elements)
}

fn push_cstring(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(text.as_bytes());
    out.push(0);
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    // Responses are bounded far below 2 GiB (page and size caps).
    out.extend_from_slice(&i32::try_from(len).unwrap_or(i32::MAX).to_le_bytes());
}

/// Length prefix + elements + terminator.
fn wrap_document(elements: Vec<u8>) -> Vec<u8> {
    let mut doc = Vec::with_capacity(elements.len() + 5);
    push_len(&mut doc, elements.len() + 5);
    doc.extend(elements);
    doc.push(0);
    doc
}

/// The metadata-only record of a row (`meta=true`), with the values
/// upstream means to send: `con_message_crc32` is the payload CRC (upstream
/// sends the `public` flag there) and `con_text_uuid` is a string, as in
/// stored objects (upstream sends binary subtype 4).
pub fn meta_document(entry: &IndexEntry) -> Document {
    let row = &entry.row;
    let text = |s: &str| Value::String(s.to_owned());
    let metadata = Document(vec![("topic".into(), text(&row.topic)), ("timestamp".into(), Value::int(row.timestamp))]);
    let annotations = Document(vec![
        ("con_text_uuid".into(), Value::String(row.uuid.hyphenated().to_string())),
        ("size".into(), Value::int(i64::from(row.size))),
        ("crc32".into(), Value::int(i64::from(row.crc32))),
        ("public".into(), Value::Bool(row.public)),
        ("con_message_crc32".into(), Value::int(i64::from(row.message_crc32))),
        ("title".into(), text(&row.title)),
        ("sender".into(), text(&row.sender)),
        ("media_type".into(), text(&row.media_type)),
        ("file_name".into(), text(&row.file_name)),
        ("originator".into(), text(&row.originator)),
        ("retracted".into(), Value::Bool(row.retracted)),
    ]);
    Document(vec![("metadata".into(), Value::Document(metadata)), ("annotations".into(), Value::Document(annotations))])
}

/// A row as JSON: what the index knows.
pub fn entry_json(entry: &IndexEntry) -> Json {
    let row = &entry.row;
    json!({
        "uuid": row.uuid.hyphenated().to_string(),
        "topic": row.topic,
        "timestamp": row.timestamp,
        "size": row.size,
        "crc32": row.crc32,
        "con_message_crc32": row.message_crc32,
        "is_client_uuid": row.is_client_uuid,
        "claimed_uuid": row.claimed_uuid.map(|u| u.hyphenated().to_string()),
        "public": row.public,
        "direct_upload": row.direct_upload,
        "retracted": row.retracted,
        "title": row.title,
        "sender": row.sender,
        "media_type": row.media_type,
        "file_name": row.file_name,
        "originator": row.originator,
    })
}

/// A row plus its decoded object: key, headers, payload and annotations.
pub fn message_json(entry: &IndexEntry, record: &Record) -> Json {
    let mut value = entry_json(entry);
    if let Json::Object(map) = &mut value {
        let headers: Vec<Json> = record
            .metadata
            .headers
            .iter()
            .flatten()
            .map(|h| {
                let (text, encoding) = header_text(&h.key, &h.value);
                json!({"key": h.key, "value": text, "encoding": encoding})
            })
            .collect();
        let (key, key_encoding) = match &record.metadata.key {
            None | Some(Key::Null) => (Json::Null, "null"),
            Some(Key::Text(t)) => (Json::String(t.clone()), "utf-8"),
            Some(Key::Bytes(b)) => text_or_base64(b),
        };
        let (payload, payload_encoding) = record.payload().map_or((Json::Null, "null"), text_or_base64);
        map.insert("key".into(), key);
        map.insert("key_encoding".into(), key_encoding.into());
        map.insert("headers".into(), Json::Array(headers));
        map.insert("payload".into(), payload);
        map.insert("payload_encoding".into(), payload_encoding.into());
        map.insert("legacy_layout".into(), record.is_legacy().into());
        let annotations = record.annotations.as_ref().map_or(Json::Null, |a| document_json(&a.0));
        map.insert("annotations".into(), annotations);
    }
    value
}

/// A header value for people: a 16-byte `_id` as a UUID, UTF-8 as text,
/// anything else as base64.
pub fn header_text(key: &str, value: &RecordHeaderValue) -> (Json, &'static str) {
    match value {
        RecordHeaderValue::Null => (Json::Null, "null"),
        RecordHeaderValue::Text(t) => (Json::String(t.clone()), "utf-8"),
        RecordHeaderValue::Bytes(b) if key == "_id" && b.len() == 16 => match uuid::Uuid::from_slice(b) {
            Ok(u) => (Json::String(u.hyphenated().to_string()), "uuid"),
            Err(_) => text_or_base64(b),
        },
        RecordHeaderValue::Bytes(b) => text_or_base64(b),
    }
}

pub fn text_or_base64(bytes: &[u8]) -> (Json, &'static str) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (Json::String(text.to_owned()), "utf-8"),
        Err(_) => (Json::String(base64::engine::general_purpose::STANDARD.encode(bytes)), "base64"),
    }
}

/// A BSON document as JSON, for annotations.
pub fn document_json(doc: &Document) -> Json {
    Json::Object(doc.0.iter().map(|(k, v)| (k.clone(), value_json(v))).collect())
}

pub fn value_json(value: &Value) -> Json {
    match value {
        Value::String(s) => Json::String(s.clone()),
        Value::Document(d) => document_json(d),
        Value::Array(items) => Json::Array(items.iter().map(value_json).collect()),
        Value::Binary { bytes, .. } => text_or_base64(bytes).0,
        Value::Bool(b) => Json::Bool(*b),
        Value::Null => Json::Null,
        Value::Int32(i) => Json::from(*i),
        Value::Int64(i) => Json::from(*i),
        Value::Other { kind, .. } => Json::String(format!("<BSON type 0x{kind:02x}>")),
    }
}
