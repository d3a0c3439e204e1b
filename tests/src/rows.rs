//! A minimal index row, for tests that put rows in place by hand and
//! override the fields they care about.

use archiver::index::{IndexRow, TimestampType};
use uuid::Uuid;

/// A row for `uuid` in `topic` pointing at `key` (an object of `size`
/// bytes): public, Kafka-created on 2023-01-01, every other field empty.
pub fn row(uuid: Uuid, topic: &str, key: &str, size: usize) -> IndexRow {
    IndexRow {
        uuid,
        topic: topic.into(),
        timestamp: 1_672_531_200_000,
        size: i32::try_from(size).unwrap_or(i32::MAX),
        key: key.into(),
        bucket: "archive".into(),
        crc32: 0,
        is_client_uuid: false,
        public: true,
        direct_upload: false,
        message_crc32: 0,
        title: String::new(),
        sender: String::new(),
        media_type: String::new(),
        file_name: String::new(),
        originator: String::new(),
        retracted: false,
        partition: Some(0),
        kafka_offset: Some(0),
        timestamp_type: TimestampType::Create,
        ingested_at: 0,
        fingerprint: [0; 32],
        claimed_uuid: None,
        text_fully_indexed: None,
        text: None,
    }
}
