//! Response bodies: BSON as upstream's clients expect it, JSON for people.

use axum::body::Bytes;
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

/// A BSON body sent piece by piece, with its length announced.
pub fn bson_parts_response(parts: Vec<Bytes>) -> Response {
    let len: usize = parts.iter().map(Bytes::len).sum();
    let stream = futures::stream::iter(parts.into_iter().map(Ok::<_, std::convert::Infallible>));
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(BSON)), (header::CONTENT_LENGTH, HeaderValue::from(len))],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

pub fn json_response(value: &Json) -> Response {
    json_bytes_response(json_bytes(value))
}

pub fn json_bytes(value: &Json) -> Vec<u8> {
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

pub fn json_bytes_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static(JSON))], body).into_response()
}

/// Most bytes of an annotation text sent back from an index row: the bound
/// ingest applies (`pipeline::prepare`'s `INDEX_TEXT_BYTES_MAX`), applied
/// again to rows archived before it.
pub const ROW_TEXT_BYTES_MAX: usize = 1024;

/// `text` cut to at most `bytes_max` bytes, at a character boundary.
pub fn clip(text: &str, bytes_max: usize) -> &str {
    if text.len() <= bytes_max {
        return text;
    }
    let cut = (0..=bytes_max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    &text[..cut]
}

/// `{"next", "prev", "messages": [...]}` around already rendered messages.
pub fn json_listing(next: Option<&str>, prev: Option<&str>, items: &[Vec<u8>]) -> Vec<u8> {
    let token = |t: Option<&str>| serde_json::to_string(&t).unwrap_or_else(|_| "null".into());
    let mut out = Vec::with_capacity(items.iter().map(|i| i.len() + 2).sum::<usize>() + 256);
    out.extend_from_slice(
        format!("{{\"next\": {}, \"prev\": {}, \"messages\": [", token(next), token(prev)).as_bytes(),
    );
    for (i, item) in items.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
        out.extend_from_slice(item);
    }
    out.extend_from_slice(b"]}\n");
    out
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
pub fn listing_bson(next: Option<&str>, prev: Option<&str>, items: Vec<Bytes>) -> Vec<u8> {
    listing_bson_parts(next, prev, items).concat()
}

/// [`listing_bson`] as pieces: the stored objects are passed through as
/// they are (`Bytes` share their memory), never copied into one buffer.
pub fn listing_bson_parts(next: Option<&str>, prev: Option<&str>, items: Vec<Bytes>) -> Vec<Bytes> {
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
    let keys: Vec<Vec<u8>> = (0..items.len())
        .map(|i| {
            let mut key = vec![0x03];
            push_cstring(&mut key, &i.to_string());
            key
        })
        .collect();
    let array_len = 4 + keys.iter().zip(&items).map(|(k, item)| k.len() + item.len()).sum::<usize>() + 1;
    let mut head = Vec::with_capacity(elements.len() + 8);
    push_len(&mut head, 4 + elements.len() + array_len + 1);
    head.extend(elements);
    push_len(&mut head, array_len);
    let mut parts = Vec::with_capacity(2 * items.len() + 2);
    parts.push(Bytes::from(head));
    for (key, item) in keys.into_iter().zip(items) {
        parts.push(Bytes::from(key));
        parts.push(item);
    }
    parts.push(Bytes::from_static(&[0, 0]));
    parts
}

fn push_cstring(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(text.as_bytes());
    out.push(0);
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    // Responses are bounded far below 2 GiB (page and size caps).
    out.extend_from_slice(&i32::try_from(len).unwrap_or(i32::MAX).to_le_bytes());
}

/// The metadata-only record of a row (`meta=true`), with the values
/// upstream means to send: `con_message_crc32` is the payload CRC (upstream
/// sends the `public` flag there) and `con_text_uuid` is a string, as in
/// stored objects (upstream sends binary subtype 4).
pub fn meta_document(entry: &IndexEntry) -> Document {
    let row = &entry.row;
    let text = |s: &str| Value::String(clip(s, ROW_TEXT_BYTES_MAX).to_owned());
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
        "title": clip(&row.title, ROW_TEXT_BYTES_MAX),
        "sender": clip(&row.sender, ROW_TEXT_BYTES_MAX),
        "media_type": clip(&row.media_type, ROW_TEXT_BYTES_MAX),
        "file_name": clip(&row.file_name, ROW_TEXT_BYTES_MAX),
        "originator": clip(&row.originator, ROW_TEXT_BYTES_MAX),
        "text_fully_indexed": row.text_fully_indexed,
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
