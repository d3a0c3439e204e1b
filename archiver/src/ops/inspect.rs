//! `archiver inspect`: show an archive object to a person, as JSON, or check
//! that it re-encodes to the same bytes.

use crate::record::bson::{Document, Value};
use crate::record::{Body, Header, HeaderValue, Key, Record};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, json};
use std::fmt::Write as _;

/// How much of the payload the text rendering shows.
const PREVIEW_BYTES_MAX: usize = 1024;

/// Outcome of re-encoding a decoded object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoundTrip {
    Identical,
    /// The first offset where the re-encoded bytes differ (or where the
    /// shorter of the two ends).
    DiffersAt {
        offset: usize,
        original_len: usize,
        reencoded_len: usize,
    },
}

/// Re-encodes `record` and compares with the bytes it was decoded from.
pub fn round_trip(original: &[u8], record: &Record) -> Result<RoundTrip, crate::record::bson::EncodeError> {
    let reencoded = record.encode()?;
    Ok(match original.iter().zip(&reencoded).position(|(a, b)| a != b) {
        None if original.len() == reencoded.len() => RoundTrip::Identical,
        found => RoundTrip::DiffersAt {
            offset: found.unwrap_or(original.len().min(reencoded.len())),
            original_len: original.len(),
            reencoded_len: reencoded.len(),
        },
    })
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
