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
        title: fields.title,
        sender: fields.sender,
        media_type: fields.media_type,
        file_name: fields.file_name,
        originator: fields.originator,
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
