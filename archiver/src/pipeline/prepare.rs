//! Turning a placed message into exactly what is written: the object key and
//! bytes, and the index row that describes them.

use crate::identity::{self, Fingerprint, Placement};
use crate::index::{IndexRow, TimestampType};
use crate::record::bson::EncodeError;
use crate::record::{Message, Record};

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
    let fields = identity::annotate(
        message,
        placement.uuid,
        placement.is_client_uuid,
        provenance.public,
        provenance.direct_upload,
    );
    let object = Record::new(message, fields.to_annotations()).encode()?;
    let size = i32::try_from(object.len()).map_err(|_| PrepareError::TooLarge { size_bytes: object.len() })?;
    let (timestamp, used_ingest_time) = identity::effective_timestamp(message.timestamp, provenance.ingested_at_ms);
    let key = identity::object_key(&message.topic, timestamp, placement.uuid);
    let row = IndexRow {
        uuid: placement.uuid,
        topic: message.topic.clone(),
        timestamp,
        size,
        key: key.clone(),
        bucket: bucket.to_owned(),
        crc32: crc32fast::hash(&object),
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
        timestamp_type: if used_ingest_time { TimestampType::NotAvailable } else { provenance.timestamp_type },
        ingested_at: provenance.ingested_at_ms,
        fingerprint: fingerprint.0,
        claimed_uuid: placement.claimed_uuid,
    };
    Ok(Prepared { key, object, row })
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
