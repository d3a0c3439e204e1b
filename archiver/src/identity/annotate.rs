//! The annotations upstream derives from a message (upstream.md §2.2).

mod sniff;

use crate::record::{AnnotationFields, HeaderValue, Message};
use sniff::{OCTET_STREAM, sniff};
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
        text_fully_indexed: None,
    }
}

/// The media type from the last recognised `_format` header; when there is
/// none, or it says opaque bytes, libmagic's answer on the first 4096
/// payload bytes decides, as upstream (`Decider.get_data_format`).
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
