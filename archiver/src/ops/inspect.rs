//! `archiver inspect`: show an archive object to a person, as JSON, or check
//! that it re-encodes to the same bytes — a file, or an archived message
//! looked up by UUID through the index and the store, with its index row.

use crate::config::ToolConfig;
use crate::index::IndexEntry;
use crate::ops::backends::{self, BackendError};
use crate::record::bson::{self, Document, EncodeError, Value};
use crate::record::{Body, Header, HeaderValue, Key, Record};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, json};
use std::fmt::{self, Write as _};

/// How much of the payload the text rendering shows.
const PREVIEW_BYTES_MAX: usize = 1024;

/// Outcome of re-encoding a decoded object. Its `Display` is the report
/// `archiver inspect --check` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoundTrip {
    Identical {
        size_bytes: usize,
    },
    DiffersAt {
        /// The first offset where the re-encoded bytes differ (or where the
        /// shorter of the two ends). Usually 0: a change anywhere changes
        /// the length prefix of the top-level document.
        offset: usize,
        original_len: usize,
        reencoded_len: usize,
        /// The first element, in document order, that differs; `None` only
        /// if the bytes differ and their elements do not, which a lossless
        /// codec cannot produce.
        element: Option<ElementDifference>,
    },
}

/// The first element that differs between the original and the re-encoded
/// object, found by walking both documents in parallel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementDifference {
    /// Dotted path from the top level, array items by index
    /// (`metadata.headers.1.1`).
    pub path: String,
    /// Where the element starts (its type byte) in the original; for an
    /// element only the re-encoding has, where it would start.
    pub offset: usize,
    /// The element in the original, e.g. `int64 5`, or `absent`.
    pub original: String,
    /// The element as re-encoded.
    pub reencoded: String,
}

impl RoundTrip {
    pub fn is_identical(&self) -> bool {
        matches!(self, RoundTrip::Identical { .. })
    }
}

impl fmt::Display for RoundTrip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoundTrip::Identical { size_bytes } => write!(f, "round-trip: identical ({size_bytes} bytes)"),
            RoundTrip::DiffersAt { offset, original_len, reencoded_len, element } => {
                write!(
                    f,
                    "round-trip: differs at byte {offset} (original {original_len} bytes, re-encoded {reencoded_len} bytes)"
                )?;
                match element {
                    Some(e) => write!(
                        f,
                        "\nfirst differing element: {} at byte {}: {} in the file, {} re-encoded",
                        e.path, e.offset, e.original, e.reencoded
                    ),
                    None => f.write_str("\nno element differs"),
                }
            }
        }
    }
}

/// Re-encodes `record` and compares with the bytes it was decoded from.
pub fn round_trip(original: &[u8], record: &Record) -> Result<RoundTrip, EncodeError> {
    let reencoded = record.encode()?;
    let Some(offset) = first_difference(original, &reencoded) else {
        return Ok(RoundTrip::Identical { size_bytes: original.len() });
    };
    // Both sides are valid BSON here (the original was decoded, the other
    // was just encoded); should either fail to decode, the element is unknown.
    let element = match (bson::decode(original), bson::decode(&reencoded)) {
        (Ok(a), Ok(b)) => first_element_difference(&a.0, &b.0, "", 0)?,
        _ => None,
    };
    Ok(RoundTrip::DiffersAt { offset, original_len: original.len(), reencoded_len: reencoded.len(), element })
}

fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(at) => Some(at),
        None if a.len() == b.len() => None,
        None => Some(a.len().min(b.len())),
    }
}

/// The first differing element of two element lists (a document's or an
/// array's, whose list starts at `start` in the original), descending into
/// nested documents and arrays that differ.
fn first_element_difference(
    a: &[(String, Value)],
    b: &[(String, Value)],
    parent: &str,
    start: usize,
) -> Result<Option<ElementDifference>, EncodeError> {
    let mut at = start + 4; // after the length prefix
    for i in 0..a.len().max(b.len()) {
        let (left, right) = (a.get(i), b.get(i));
        if left == right {
            if let Some((key, value)) = left {
                at += element_size(key, value)?;
            }
            continue;
        }
        let key = left.or(right).map(|(k, _)| k.as_str()).unwrap_or_default();
        let path = if parent.is_empty() { key.to_owned() } else { format!("{parent}.{key}") };
        if let (Some((ka, va)), Some((kb, vb))) = (left, right)
            && ka == kb
        {
            let value_at = at + 1 + ka.len() + 1;
            let nested = match (va, vb) {
                (Value::Document(da), Value::Document(db)) => first_element_difference(&da.0, &db.0, &path, value_at)?,
                (Value::Array(ia), Value::Array(ib)) => {
                    first_element_difference(&indexed(ia), &indexed(ib), &path, value_at)?
                }
                _ => None,
            };
            if nested.is_some() {
                return Ok(nested);
            }
        }
        let describe = |element: Option<&(String, Value)>| match element {
            None => "absent".to_owned(),
            Some((k, v)) if k == key => describe_value(v),
            Some((k, v)) => format!("{k:?}: {}", describe_value(v)),
        };
        return Ok(Some(ElementDifference { path, offset: at, original: describe(left), reencoded: describe(right) }));
    }
    Ok(None)
}

/// An array's items with their canonical keys, as they are encoded.
fn indexed(items: &[Value]) -> Vec<(String, Value)> {
    items.iter().enumerate().map(|(i, v)| (i.to_string(), v.clone())).collect()
}

/// The encoded size of one element: type byte, key and NUL, value.
fn element_size(key: &str, value: &Value) -> Result<usize, EncodeError> {
    // A document holding just `{"": value}` is 4 (length) + 1 (type) +
    // 1 (empty key's NUL) + value + 1 (final NUL) bytes.
    let alone = bson::encode(&Document(vec![(String::new(), value.clone())]))?;
    Ok(1 + key.len() + 1 + alone.len() - 7)
}

/// A short description of a value: its BSON type and, when short, the value.
fn describe_value(value: &Value) -> String {
    const SHOWN_CHARS_MAX: usize = 40;
    match value {
        Value::String(s) if s.chars().count() <= SHOWN_CHARS_MAX => format!("string {s:?}"),
        Value::String(s) => format!("string of {} bytes", s.len()),
        Value::Document(d) => format!("document of {} fields", d.0.len()),
        Value::Array(items) => format!("array of {} items", items.len()),
        Value::Binary { subtype, bytes } => format!("binary subtype {subtype} of {} bytes", bytes.len()),
        Value::Bool(b) => format!("bool {b}"),
        Value::Null => "null".to_owned(),
        Value::Int32(v) => format!("int32 {v}"),
        Value::Int64(v) => format!("int64 {v}"),
        Value::Other { kind, raw } => format!("BSON type 0x{kind:02x} of {} bytes", raw.len()),
    }
}

fn layout_name(record: &Record) -> &'static str {
    if record.is_legacy() { "legacy" } else { "current" }
}

/// A rendering for people: headers readable, binary as text where printable
/// and hex otherwise.
pub fn render_text(bytes: &[u8], record: &Record) -> String {
    let meta = &record.metadata;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "object:      {} bytes, crc32 {:#010x}, {} layout",
        bytes.len(),
        crc32fast::hash(bytes),
        layout_name(record)
    );
    let _ = writeln!(out, "topic:       {}", meta.topic);
    let _ = writeln!(out, "timestamp:   {} ms", meta.timestamp);
    let key = match &meta.key {
        None => "(absent)".to_owned(),
        Some(Key::Null) => "null".to_owned(),
        Some(Key::Bytes(b)) => readable(b),
        Some(Key::Text(t)) => format!("{t:?} (string)"),
    };
    let _ = writeln!(out, "key:         {key}");
    render_headers(&mut out, meta.headers.as_deref());
    render_payload(&mut out, record);
    match &record.annotations {
        None => {
            let _ = writeln!(out, "annotations: (none)");
        }
        Some(annotations) => {
            let _ = writeln!(out, "annotations:");
            for (name, value) in &annotations.0.0 {
                let _ = writeln!(out, "  {name}: {}", readable_value(value));
            }
        }
    }
    out
}

fn render_headers(out: &mut String, headers: Option<&[Header]>) {
    let Some(headers) = headers else {
        let _ = writeln!(out, "headers:     null");
        return;
    };
    let _ = writeln!(out, "headers:     {}", headers.len());
    for h in headers {
        let value = match &h.value {
            HeaderValue::Null => "null".to_owned(),
            HeaderValue::Text(t) => format!("{t:?} (string)"),
            HeaderValue::Bytes(b) if h.key == "_id" && b.len() == 16 => {
                format!("{} (16 bytes)", uuid::Uuid::from_slice(b).map(|u| u.to_string()).unwrap_or_default())
            }
            HeaderValue::Bytes(b) => readable(b),
        };
        let _ = writeln!(out, "  {:?} = {value}", h.key);
    }
}

fn render_payload(out: &mut String, record: &Record) {
    if let Body::Legacy(doc) = &record.body {
        let format = match doc.get("format") {
            Some(Value::String(f)) => f.as_str(),
            _ => "?",
        };
        let _ = writeln!(out, "legacy:      format {format:?} (content re-serialized by an old hop client)");
    }
    match record.payload() {
        None => {
            let _ = writeln!(out, "payload:     null (tombstone)");
        }
        Some(p) => {
            let _ = writeln!(out, "payload:     {} bytes, crc32 {:#010x}", p.len(), crc32fast::hash(p));
            let shown = &p[..p.len().min(PREVIEW_BYTES_MAX)];
            let _ = writeln!(out, "{}", indent(&preview(shown)));
            if shown.len() < p.len() {
                let _ = writeln!(out, "  ... ({} more bytes)", p.len() - shown.len());
            }
        }
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
}

/// Printable UTF-8 as itself, anything else as a hex dump.
fn preview(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if is_printable(text) => text.to_owned(),
        _ => bytes.chunks(32).map(hex).collect::<Vec<_>>().join("\n"),
    }
}

fn is_printable(text: &str) -> bool {
    !text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

/// A short value on one line: quoted text when printable, else hex.
fn readable(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if is_printable(text) => format!("{text:?}"),
        _ => format!("0x{} ({} bytes)", hex(bytes), bytes.len()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn readable_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Binary { bytes, .. } => readable(bytes),
        other => to_json(other).to_string(),
    }
}

/// One JSON document; payload, key and binary header values in base64.
pub fn render_json(bytes: &[u8], record: &Record) -> serde_json::Value {
    let meta = &record.metadata;
    let message = match &record.body {
        Body::Bytes(b) => json!({ "base64": BASE64.encode(b) }),
        Body::Null => serde_json::Value::Null,
        Body::Legacy(doc) => json!({ "legacy": to_json(&Value::Document(doc.clone())) }),
    };
    let headers = meta.headers.as_ref().map(|hs| hs.iter().map(header_json).collect::<Vec<_>>());
    let key = match &meta.key {
        None => json!("absent"),
        Some(Key::Null) => serde_json::Value::Null,
        Some(Key::Bytes(b)) => json!({ "base64": BASE64.encode(b) }),
        Some(Key::Text(t)) => json!({ "text": t }),
    };
    json!({
        "layout": layout_name(record),
        "size_bytes": bytes.len(),
        "crc32": crc32fast::hash(bytes),
        "message": message,
        "metadata": { "timestamp": meta.timestamp, "headers": headers, "key": key, "topic": meta.topic },
        "annotations": record.annotations.as_ref().map(|a| document_json(&a.0)),
    })
}

fn header_json(h: &Header) -> serde_json::Value {
    match &h.value {
        HeaderValue::Bytes(b) => json!({ "key": h.key, "base64": BASE64.encode(b) }),
        HeaderValue::Null => json!({ "key": h.key, "value": null }),
        HeaderValue::Text(t) => json!({ "key": h.key, "text": t }),
    }
}

fn document_json(doc: &Document) -> serde_json::Value {
    let map: Map<String, serde_json::Value> = doc.0.iter().map(|(k, v)| (k.clone(), to_json(v))).collect();
    serde_json::Value::Object(map)
}

fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::String(s) => json!(s),
        Value::Document(d) => document_json(d),
        Value::Array(items) => items.iter().map(to_json).collect(),
        Value::Binary { subtype, bytes } => json!({ "base64": BASE64.encode(bytes), "subtype": subtype }),
        Value::Bool(b) => json!(b),
        Value::Null => serde_json::Value::Null,
        Value::Int32(v) => json!(v),
        Value::Int64(v) => json!(v),
        Value::Other { kind, raw } => json!({ "bson_type": kind, "raw_hex": hex(raw) }),
    }
}

/// What the archive holds under a UUID.
#[derive(Debug)]
pub enum Found {
    /// The index has no row for it.
    NotIndexed,
    /// Its row, and its object's bytes (`None`: missing from the store).
    Row { entry: Box<IndexEntry>, object: Option<bytes::Bytes> },
}

/// Looks `uuid` up in the index, then its object in the store.
pub async fn look_up(config: &ToolConfig, uuid: uuid::Uuid) -> Result<Found, BackendError> {
    let urls = &config.backends;
    let (index, store) = backends::open(urls).await?;
    let Some(entry) = index.get(uuid).await.map_err(|e| BackendError::index(&urls.index_url, e))? else {
        return Ok(Found::NotIndexed);
    };
    let object = store.get(&entry.row.key).await.map_err(|e| BackendError::store(&urls.store_url, e))?;
    Ok(Found::Row { entry: Box::new(entry), object })
}

/// `ms` since the epoch as RFC 3339 UTC, or "" when out of range.
fn utc(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000);
    at.ok().and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()).unwrap_or_default()
}

/// Every column of an index row, for people.
pub fn render_row_text(entry: &IndexEntry) -> String {
    let r = &entry.row;
    let optional = |v: Option<String>| v.unwrap_or_else(|| "null".to_owned());
    let lines = [
        ("id", entry.id.to_string()),
        ("uuid", r.uuid.to_string()),
        ("topic", r.topic.clone()),
        ("timestamp", format!("{} ms ({})", r.timestamp, utc(r.timestamp))),
        ("size", r.size.to_string()),
        ("key", r.key.clone()),
        ("bucket", r.bucket.clone()),
        ("crc32", format!("{:#010x}", r.crc32)),
        ("is_client_uuid", r.is_client_uuid.to_string()),
        ("public", r.public.to_string()),
        ("direct_upload", r.direct_upload.to_string()),
        ("message_crc32", format!("{:#010x}", r.message_crc32)),
        ("title", format!("{:?}", r.title)),
        ("sender", format!("{:?}", r.sender)),
        ("media_type", format!("{:?}", r.media_type)),
        ("file_name", format!("{:?}", r.file_name)),
        ("originator", format!("{:?}", r.originator)),
        ("retracted", r.retracted.to_string()),
        ("partition", optional(r.partition.map(|p| p.to_string()))),
        ("kafka_offset", optional(r.kafka_offset.map(|o| o.to_string()))),
        ("timestamp_type", r.timestamp_type.as_str().to_owned()),
        ("ingested_at", format!("{} ms ({})", r.ingested_at, utc(r.ingested_at))),
        ("fingerprint", hex(&r.fingerprint)),
        ("claimed_uuid", optional(r.claimed_uuid.map(|u| u.to_string()))),
    ];
    let mut out = String::from("index row:\n");
    for (name, value) in lines {
        let _ = writeln!(out, "  {name:<15} {value}");
    }
    out
}

/// Every column of an index row as JSON.
pub fn row_json(entry: &IndexEntry) -> serde_json::Value {
    let r = &entry.row;
    json!({
        "id": entry.id, "uuid": r.uuid, "topic": r.topic, "timestamp": r.timestamp, "size": r.size,
        "key": r.key, "bucket": r.bucket, "crc32": r.crc32, "is_client_uuid": r.is_client_uuid,
        "public": r.public, "direct_upload": r.direct_upload, "message_crc32": r.message_crc32,
        "title": r.title, "sender": r.sender, "media_type": r.media_type, "file_name": r.file_name,
        "originator": r.originator, "retracted": r.retracted, "partition": r.partition,
        "kafka_offset": r.kafka_offset, "timestamp_type": r.timestamp_type.as_str(),
        "ingested_at": r.ingested_at, "fingerprint": hex(&r.fingerprint), "claimed_uuid": r.claimed_uuid,
    })
}

/// How the stored object disagrees with its row's size and CRC-32, if it does.
pub fn disagreement(entry: &IndexEntry, object: &[u8]) -> Option<String> {
    let (size, crc32) = (object.len(), crc32fast::hash(object));
    let row = &entry.row;
    (i64::from(row.size) != size as i64 || row.crc32 != crc32).then(|| {
        format!(
            "the object ({size} bytes, crc32 {crc32:#010x}) is not the one the row describes ({} bytes, crc32 {:#010x})",
            row.size, row.crc32
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn difference(original: Document, reencoded: Document) -> Option<ElementDifference> {
        let (a, b) = (bson::encode(&original).expect("encodes"), bson::encode(&reencoded).expect("encodes"));
        let (a, b) = (bson::decode(&a).expect("decodes"), bson::decode(&b).expect("decodes"));
        first_element_difference(&a.0, &b.0, "", 0).expect("sizes")
    }

    fn doc(elements: Vec<(&str, Value)>) -> Document {
        Document(elements.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    fn expected(path: &str, offset: usize, original: &str, reencoded: &str) -> Option<ElementDifference> {
        let (path, original, reencoded) = (path.to_owned(), original.to_owned(), reencoded.to_owned());
        Some(ElementDifference { path, offset, original, reencoded })
    }

    #[test]
    fn the_first_differing_element_is_found_inside_arrays() {
        // "a" starts at 4; its array at 4 + 3 = 7; item "0" at 7 + 4 = 11
        // is 1 + 2 + 4 = 7 bytes, so item "1" starts at 18.
        let items = |s: &str| Value::Array(vec![Value::Int32(1), Value::String(s.into())]);
        let found = difference(
            doc(vec![("a", items("x")), ("b", Value::Bool(true))]),
            doc(vec![("a", items("y")), ("b", Value::Bool(true))]),
        );
        assert_eq!(found, expected("a.1", 18, "string \"x\"", "string \"y\""));
    }

    #[test]
    fn missing_extra_and_renamed_elements_are_named() {
        let one = ("a", Value::Int32(1));
        let found = difference(doc(vec![one.clone(), ("b", Value::Int32(2))]), doc(vec![one.clone()]));
        assert_eq!(found, expected("b", 11, "int32 2", "absent"));
        let found = difference(doc(vec![one.clone()]), doc(vec![one.clone(), ("c", Value::Null)]));
        assert_eq!(found, expected("c", 11, "absent", "null"));
        let found = difference(doc(vec![("k", Value::Null)]), doc(vec![("j", Value::Null)]));
        assert_eq!(found, expected("k", 4, "null", "\"j\": null"));
        assert_eq!(difference(doc(vec![one.clone()]), doc(vec![one])), None);
    }
}
