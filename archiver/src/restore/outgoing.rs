//! From a stored object to the message Kafka first delivered: the object is
//! checked against what the index recorded (size, CRC-32) right after it is
//! read, decoded (current and legacy layouts), and mapped back.
//!
//! The mapping (README "Restore"):
//! - current layout: `message` (binary or null) is the value; `metadata`'s
//!   key (binary, text or null), headers (in order, duplicates and null
//!   values kept) and timestamp are the record's;
//! - legacy layout (E1, and E2 before 2023-11-30): the value is
//!   `message.content` as the old hop client re-serialized it (all that
//!   survives; `message.format` is not sent: hop-clients of that era put
//!   the format in the value itself, and nothing is added to the message);
//!   a header value stored as the string `""` is null (what those encoders
//!   wrote for a null value), another string is its UTF-8; a missing `key`
//!   is a null key;
//! - a negative timestamp, or an index row saying Kafka had none, is sent
//!   without a timestamp (the broker stamps it) and counted.

use super::sink::Outgoing;
use super::walk::Item;
use super::{Rename, RestoreError};
use crate::index::TimestampType;
use crate::record::{HeaderValue, Record};

/// The message to send for `item`, whose object holds `bytes`.
pub fn outgoing(item: &Item, bytes: &[u8], rename: &Rename) -> Result<Outgoing, RestoreError> {
    let unreadable =
        |reason: String| RestoreError::UnreadableObject { uuid: item.uuid, key: item.object_key.clone(), reason };
    if bytes.len() as u64 != item.size_bytes {
        return Err(unreadable(format!("{} bytes, the index recorded {}", bytes.len(), item.size_bytes)));
    }
    if let Some(expected) = item.crc32 {
        let found = crc32fast::hash(bytes);
        if found != expected {
            return Err(unreadable(format!("CRC-32 {found:08x}, the index recorded {expected:08x}")));
        }
    }
    let record = Record::decode(bytes).map_err(|e| unreadable(e.to_string()))?;
    let mut message = record.message();
    for header in &mut message.headers {
        if let HeaderValue::Text(text) = &header.value {
            header.value =
                if text.is_empty() { HeaderValue::Null } else { HeaderValue::Bytes(text.clone().into_bytes()) };
        }
    }
    let absent = message.timestamp < 0 || item.timestamp_type == Some(TimestampType::NotAvailable);
    Ok(Outgoing {
        uuid: item.uuid,
        topic: rename.target(&item.topic),
        partition: item.partition,
        offset: item.offset,
        timestamp_ms: (!absent).then_some(message.timestamp),
        key: message.key,
        headers: message.headers,
        payload: message.payload,
    })
}
