//! Turning a placed message into exactly what is written: the object key and
//! bytes, and the index row that describes them.

use crate::identity::{self, Fingerprint, Placement};
use crate::index::{IndexRow, TimestampType};
use crate::record::bson::EncodeError;
use crate::record::{AnnotationFields, Message, Record};
use crate::text::{self, TextLimits};

/// Where a message came from and when it was archived; facts that belong to
/// the index, never to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provenance {
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    pub timestamp_type: TimestampType,
    pub ingested_at_ms: i64,
    /// Whether the topic is publicly readable.
    pub public: bool,
    pub direct_upload: bool,
    /// How much text to index for search; `None` for a topic whose text is not indexed.
    pub text: Option<TextLimits>,
}

/// What to write for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub key: String,
    pub object: Vec<u8>,
    pub row: IndexRow,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    #[error("cannot encode message as BSON: {0}")]
    Encode(#[from] EncodeError),
    #[error("archive object of {size_bytes} bytes exceeds the index's size column")]
    TooLarge { size_bytes: usize },
}

/// Most bytes of each annotation text (title, sender, media type, file name,
/// originator) kept in the index row. They come from message headers of any
/// length and are sent back in every metadata listing, so the row keeps a
/// prefix; the object keeps the headers (and its annotations) unchanged.
pub const INDEX_TEXT_BYTES_MAX: usize = 1024;

/// `text` cut to at most [`INDEX_TEXT_BYTES_MAX`] bytes, at a character boundary.
pub fn index_text(mut text: String) -> String {
    if text.len() > INDEX_TEXT_BYTES_MAX {
        let cut = (0..=INDEX_TEXT_BYTES_MAX).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        text.truncate(cut);
    }
    text
}

/// The object and index row for `message` placed at `placement`.
pub fn prepare(
    message: &Message,
    fingerprint: Fingerprint,
    placement: &Placement,
    provenance: &Provenance,
    bucket: &str,
) -> Result<Prepared, PrepareError> {
    let (fields, text) = annotations(message, placement, provenance);
    let object = Record::new(message, fields.to_annotations()).encode()?;
    let (timestamp, _) = identity::effective_timestamp(message.timestamp, provenance.ingested_at_ms);
    let key = identity::object_key(&message.topic, timestamp, placement.uuid);
    let stored = Stored { key: &key, bucket, object: &object, fallback_timestamp_ms: provenance.ingested_at_ms };
    let row = index_row(message, fingerprint, placement, provenance, (fields, text), &stored)?;
    Ok(Prepared { key, object, row })
}

/// The annotations ingest writes into the object of `message` placed at
/// `placement` (and whose texts its index row keeps), and the message's
/// searchable text when its topic's text is indexed (`text_fully_indexed`
/// is then set, as upstream's `get_indexable_text` sets it).
pub fn annotations(
    message: &Message,
    placement: &Placement,
    provenance: &Provenance,
) -> (AnnotationFields, Option<String>) {
    let mut fields = identity::annotate(
        message,
        placement.uuid,
        placement.is_client_uuid,
        provenance.public,
        provenance.direct_upload,
    );
    let text = provenance.text.map(|limits| {
        let extracted = text::extract(message, &fields.media_type, &limits);
        fields.text_fully_indexed = Some(extracted.fully_indexed);
        extracted.text
    });
    (fields, text)
}

/// An object as it lies in the store, for the row that describes it.
#[derive(Debug, Clone, Copy)]
pub struct Stored<'a> {
    pub key: &'a str,
    pub bucket: &'a str,
    /// The object's bytes: the row records their size and CRC-32.
    pub object: &'a [u8],
    /// The row's timestamp when Kafka gave none (a negative timestamp):
    /// the ingest time for ingest, the start of the key's day for reindex.
    pub fallback_timestamp_ms: i64,
}

/// The index row describing `stored`, the object of `message` placed at
/// `placement` with annotations and text `(fields, text)` ([`annotations`]):
/// the one place a row is built, for ingest, direct uploads and reindex alike.
pub fn index_row(
    message: &Message,
    fingerprint: Fingerprint,
    placement: &Placement,
    provenance: &Provenance,
    (fields, text): (AnnotationFields, Option<String>),
    stored: &Stored<'_>,
) -> Result<IndexRow, PrepareError> {
    let size_bytes = stored.object.len();
    let size = i32::try_from(size_bytes).map_err(|_| PrepareError::TooLarge { size_bytes })?;
    let (timestamp, used_fallback) = identity::effective_timestamp(message.timestamp, stored.fallback_timestamp_ms);
    Ok(IndexRow {
        uuid: placement.uuid,
        topic: message.topic.clone(),
        timestamp,
        size,
        key: stored.key.to_owned(),
        bucket: stored.bucket.to_owned(),
        crc32: crc32fast::hash(stored.object),
        is_client_uuid: placement.is_client_uuid,
        public: provenance.public,
        direct_upload: provenance.direct_upload,
        message_crc32: fields.message_crc32,
        title: index_text(fields.title),
        sender: index_text(fields.sender),
        media_type: index_text(fields.media_type),
        file_name: index_text(fields.file_name),
        originator: index_text(fields.originator),
        retracted: false,
        partition: provenance.partition,
        kafka_offset: provenance.offset,
        timestamp_type: if used_fallback { TimestampType::NotAvailable } else { provenance.timestamp_type },
        ingested_at: provenance.ingested_at_ms,
        fingerprint: fingerprint.0,
        claimed_uuid: placement.claimed_uuid,
        text_fully_indexed: fields.text_fully_indexed,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_text_is_cut_at_a_char_boundary() {
        assert_eq!(index_text("short".into()), "short");
        let exact = "a".repeat(INDEX_TEXT_BYTES_MAX);
        assert_eq!(index_text(exact.clone()), exact);
        // 1023 ASCII bytes then a 2-byte character straddling the bound.
        let straddling = format!("{}é tail", "a".repeat(INDEX_TEXT_BYTES_MAX - 1));
        assert_eq!(index_text(straddling), "a".repeat(INDEX_TEXT_BYTES_MAX - 1));
        assert_eq!(index_text("€".repeat(1000)).len(), 1023, "341 whole 3-byte characters");
    }
}
