//! The searchable text of a message, as upstream's `get_indexable_text`
//! builds it (upstream.md §2.2, §10), and the search syntax over it.
//!
//! The text is, joined by spaces: each header that is not reserved (its
//! name does not start with `_`), and `_sender`, as its name (without the
//! `_`) and its value when that is UTF-8; then, when the payload is
//! smaller than [`TextLimits::message_size_bytes_max`] and its media type
//! has an extractor, what the extractor finds in it. The result is cut to
//! [`TextLimits::text_chars_max`] characters and ASCII control characters
//! become spaces. `text_fully_indexed` says whether the payload was read:
//! false for a payload at or over the size limit, a media type without an
//! extractor (binary blobs), or a payload its extractor cannot parse.
//!
//! Extractors, by media type (`media_type` annotation):
//! - GCN notices and circulars, plain text: the text as is (UTF-8);
//! - JSON: string values (keys, numbers and structure dropped);
//! - VOEvent (and XML sniffed as such): element text and `Param` values;
//!   a VOEvent in hop-client's older JSON rendering is read as JSON;
//! - Avro object container files: the records' strings (null codec).
//!
//! A string of 128 characters or more without a space is left out (base64
//! sky maps and the like), as upstream does.
//!
//! Architecture Invariant: extraction never panics and never reads more
//! than the payload it is given: every parser here is bounded in depth and
//! work, and a malformed payload only makes the text partial.

mod avro;
mod json;
pub mod lexemes;
pub mod query;
mod xml;

use crate::record::{HeaderValue, Message};
use crate::topics::{base_topic, matches_any};

/// Upstream's `text_index_message_size_limit`: a larger payload is not read.
pub const MESSAGE_SIZE_BYTES_MAX_DEFAULT: u64 = 1 << 22;
/// Upstream's `text_index_size_limit`: characters of text kept per message.
pub const TEXT_CHARS_MAX_DEFAULT: u64 = 1 << 14;

/// How much of a message is read and kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextLimits {
    /// Payloads of this many bytes or more are not read (headers only).
    pub message_size_bytes_max: usize,
    /// Characters of text kept.
    pub text_chars_max: usize,
}

impl Default for TextLimits {
    fn default() -> TextLimits {
        TextLimits {
            message_size_bytes_max: MESSAGE_SIZE_BYTES_MAX_DEFAULT as usize,
            text_chars_max: TEXT_CHARS_MAX_DEFAULT as usize,
        }
    }
}

/// Which topics have their text indexed, and how much of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextIndexing {
    /// Topic names or `*` globs (`X+oversized` counts as `X`).
    pub topics: Vec<String>,
    pub limits: TextLimits,
}

impl TextIndexing {
    /// The limits to index `topic`'s messages with, `None` when its text is not indexed.
    pub fn for_topic(&self, topic: &str) -> Option<TextLimits> {
        matches_any(&self.topics, base_topic(topic)).then_some(self.limits)
    }
}

/// A message's searchable text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub text: String,
    /// Upstream's `text_fully_indexed`: the payload was read.
    pub fully_indexed: bool,
}

/// Upstream's rule against indexing encoded data: a string of 128
/// characters or more is kept only if it has a space.
const UNSPACED_CHARS_MAX: usize = 128;

/// Whether `s` looks like text rather than encoded data.
fn looks_like_text(s: &str) -> bool {
    s.len() < UNSPACED_CHARS_MAX || s.contains(' ') || s.chars().nth(UNSPACED_CHARS_MAX - 1).is_none()
}

/// The text being built: chunks joined by spaces (as Python's `' '.join`,
/// an empty chunk included), cut at a number of characters, control
/// characters replaced.
#[derive(Debug)]
pub(crate) struct Chunks {
    text: String,
    chars: usize,
    chars_max: usize,
    pushed: bool,
}

impl Chunks {
    fn new(chars_max: usize) -> Chunks {
        Chunks { text: String::new(), chars: 0, chars_max, pushed: false }
    }

    /// Whether no more text fits: extractors may stop reading.
    pub(crate) fn is_full(&self) -> bool {
        self.chars >= self.chars_max
    }

    /// Appends `chunk` (after a space, unless it is the first), as much of it as fits.
    pub(crate) fn push(&mut self, chunk: &str) {
        let separator = std::mem::replace(&mut self.pushed, true).then_some(' ');
        for c in separator.into_iter().chain(chunk.chars()) {
            if self.is_full() {
                return;
            }
            self.text.push(if (c as u32) < 32 || c == '\u{7f}' { ' ' } else { c });
            self.chars += 1;
        }
    }

    /// Appends `chunk` if it looks like text (see [`looks_like_text`]).
    pub(crate) fn push_text(&mut self, chunk: &str) {
        if looks_like_text(chunk) {
            self.push(chunk);
        }
    }
}

/// Why an extractor gave up on a payload (the text stays partial).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Unreadable(pub String);

/// The searchable text of `message`, whose media type is `media_type`.
pub fn extract(message: &Message, media_type: &str, limits: &TextLimits) -> Extracted {
    let mut chunks = Chunks::new(limits.text_chars_max);
    for header in &message.headers {
        let shown = match header.key.strip_prefix('_') {
            None => header.key.as_str(),
            Some("sender") => "sender",
            Some(_) => continue,
        };
        let value = match &header.value {
            HeaderValue::Bytes(bytes) => std::str::from_utf8(bytes).ok(),
            HeaderValue::Text(text) => Some(text.as_str()),
            HeaderValue::Null => None,
        };
        if let Some(value) = value {
            chunks.push(shown);
            chunks.push(value);
        }
    }
    let payload = message.payload.as_deref().unwrap_or_default();
    let fully_indexed = payload.len() < limits.message_size_bytes_max
        && extractor(media_type).is_some_and(|read| match read(payload, &mut chunks) {
            Ok(()) => true,
            Err(Unreadable(reason)) => {
                tracing::debug!(media_type, reason, "payload text partly indexed");
                false
            }
        });
    Extracted { text: chunks.text, fully_indexed }
}

type Extractor = fn(&[u8], &mut Chunks) -> Result<(), Unreadable>;

/// The extractor for a media type: upstream's, plus XML without `_format`.
fn extractor(media_type: &str) -> Option<Extractor> {
    Some(match media_type {
        "application/avro" => avro::extract,
        "application/json" => json::extract,
        "text/plain" | "application/x.gcn.notice" | "application/x.gcn.circular" => plain,
        "application/x.voevent" | "text/xml" | "application/xml" => voevent,
        _ => return None,
    })
}

/// Text as is; a payload that is not UTF-8 has none (upstream's rule).
fn plain(payload: &[u8], chunks: &mut Chunks) -> Result<(), Unreadable> {
    if let Ok(text) = std::str::from_utf8(payload) {
        chunks.push_text(text);
    }
    Ok(())
}

/// VOEvent XML, or the JSON rendering hop-client sent before 0.12.
fn voevent(payload: &[u8], chunks: &mut Chunks) -> Result<(), Unreadable> {
    match payload.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => json::extract(payload, chunks),
        _ => xml::extract(payload, chunks),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Header;

    fn message(headers: Vec<Header>, payload: &[u8]) -> Message {
        Message {
            topic: "t".into(),
            timestamp: 1,
            key: crate::record::Key::Null,
            headers,
            payload: Some(payload.to_vec()),
        }
    }

    #[test]
    fn headers_then_payload_control_characters_become_spaces() {
        let headers = vec![
            Header::new("_id", Some(&[1, 2, 3])),
            Header::new("_sender", Some(b"alice")),
            Header::new("title", Some(b"GRB\t1")),
            Header::new("bin", Some(&[0xff])),
            Header::new("none", None),
        ];
        let got = extract(&message(headers, b"line one\nline two"), "text/plain", &TextLimits::default());
        assert_eq!(got.text, "sender alice title GRB 1 line one line two");
        assert!(got.fully_indexed);
    }

    #[test]
    fn the_size_limits_apply() {
        let limits = TextLimits { message_size_bytes_max: 8, text_chars_max: 5 };
        let under = extract(&message(vec![], b"abcdefg"), "text/plain", &limits);
        assert_eq!((under.text.as_str(), under.fully_indexed), ("abcde", true));
        let at = extract(&message(vec![], b"abcdefgh"), "text/plain", &limits);
        assert_eq!((at.text.as_str(), at.fully_indexed), ("", false));
        let blob = extract(&message(vec![], b"abc"), "application/octet-stream", &limits);
        assert!(!blob.fully_indexed);
        let limits = TextLimits { message_size_bytes_max: 100, ..limits };
        let cut = extract(&message(vec![], "ééééééé".as_bytes()), "text/plain", &limits);
        assert_eq!(cut.text, "ééééé", "characters, not bytes");
    }

    #[test]
    fn long_unspaced_strings_are_left_out() {
        let base64 = "QUJD".repeat(32);
        let got = extract(&message(vec![], base64.as_bytes()), "text/plain", &TextLimits::default());
        assert_eq!(got.text, "");
        let short = "x".repeat(127);
        assert_eq!(extract(&message(vec![], short.as_bytes()), "text/plain", &TextLimits::default()).text, short);
        let multibyte = "é".repeat(100);
        assert!(looks_like_text(&multibyte), "100 characters, 200 bytes");
    }
}
