//! The annotations upstream derives from a message (upstream.md §2.2).

use crate::record::{AnnotationFields, HeaderValue, Message};
use uuid::Uuid;

/// hop-client `_format` names and the media types upstream maps them to.
const FORMATS: [(&str, &str); 7] = [
    ("voevent", "application/x.voevent"),
    ("gcntextnotice", "application/x.gcn.notice"),
    ("circular", "application/x.gcn.circular"),
    ("blob", "application/octet-stream"),
    ("json", "application/json"),
    ("avro", "application/avro"),
    ("external", "message/x.hop.external+json"),
];

const OCTET_STREAM: &str = "application/octet-stream";

/// How many leading payload bytes the content sniffer looks at, as upstream.
const SNIFF_BYTES_MAX: usize = 4096;

/// The annotations for `message` stored under `uuid`.
pub fn annotate(
    message: &Message,
    uuid: Uuid,
    is_client_uuid: bool,
    public: bool,
    direct_upload: bool,
) -> AnnotationFields {
    let payload = message.payload.as_deref().unwrap_or_default();
    AnnotationFields {
        text_uuid: uuid,
        is_client_uuid,
        message_crc32: crc32fast::hash(payload),
        public,
        direct_upload,
        media_type: media_type(message),
        title: first_text(message, "title"),
        sender: first_text(message, "_sender"),
        file_name: first_text(message, "file_name"),
        originator: first_text(message, "originator"),
    }
}

/// The media type from the last recognised `_format` header; when there is
/// none, or it says opaque bytes, a sniff of the payload decides.
pub fn media_type(message: &Message) -> String {
    let declared = message
        .headers
        .iter()
        .filter(|h| h.key == "_format")
        .filter_map(|h| h.value.as_bytes())
        .filter_map(|v| FORMATS.iter().find(|(name, _)| name.as_bytes() == v))
        .map(|(_, media)| *media)
        .next_back();
    match declared {
        Some(media) if media != OCTET_STREAM => media.to_owned(),
        _ => sniff(message.payload.as_deref().unwrap_or_default()).to_owned(),
    }
}

/// A small stand-in for upstream's libmagic call, giving libmagic's answers
/// for the payloads Hopskotch carries. Deliberate difference: Avro object
/// container files are named `application/avro` rather than opaque bytes.
fn sniff(payload: &[u8]) -> &'static str {
    if payload.is_empty() {
        return "application/x-empty";
    }
    if payload.starts_with(b"Obj\x01") {
        return "application/avro";
    }
    let head = &payload[..payload.len().min(SNIFF_BYTES_MAX)];
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        // A multi-byte character cut at the window's edge is still text.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default(),
        Err(_) => return OCTET_STREAM,
    };
    if text.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return OCTET_STREAM;
    }
    let trimmed = text.trim_start();
    if trimmed.starts_with(['{', '[']) && serde_json::from_slice::<serde_json::Value>(payload).is_ok() {
        "application/json"
    } else if trimmed.starts_with('<') {
        "text/xml"
    } else {
        "text/plain"
    }
}

/// The first value of header `name` that is valid UTF-8, else "".
fn first_text(message: &Message, name: &str) -> String {
    message
        .headers
        .iter()
        .filter(|h| h.key == name)
        .find_map(|h| match &h.value {
            HeaderValue::Bytes(b) => std::str::from_utf8(b).ok().map(str::to_owned),
            HeaderValue::Text(t) => Some(t.clone()),
            HeaderValue::Null => None,
        })
        .unwrap_or_default()
}
