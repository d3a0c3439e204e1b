//! One stored object → the index row ingest would have written for it,
//! taking the store as it is: the key (either layout) and its UUID are
//! recorded as found, nothing is moved or rewritten.
//!
//! - uuid: the key's; the object's `con_text_uuid` differing from it is
//!   noted, never followed;
//! - is_client_uuid / claimed_uuid: [`identity::stored_placement`] (the
//!   message's `_id` against the key's UUID: a different `_id` is a
//!   conflict claiming it);
//! - fingerprint, message CRC and annotations: recomputed from the message
//!   by ingest's own functions (`pipeline::annotations`, `index_row`); a
//!   legacy object gives its re-serialized content, all that survives;
//! - public: `[pipeline] public_topics` as ingest (or, for a direct upload,
//!   as `serve`) decides it — never the object's `public`, which upstream
//!   set to true for every ingested message before v1.3.0;
//! - direct_upload: the object's annotation (timestamp type `upload`);
//! - partition and offset unknown (NULL); a negative Kafka timestamp gives
//!   the start of the key's day and `not_available`; ingested_at now.

use crate::identity::{self, Identity, ParsedKey};
use crate::index::{IndexRow, TimestampType};
use crate::pipeline::{self, Provenance, Stored};
use crate::record::Record;
use crate::topics;
use crate::topics::base_topic;
use uuid::Uuid;

/// What every row of a run shares.
#[derive(Debug, Clone)]
pub struct Adoption {
    pub bucket: String,
    pub public_topics: Vec<String>,
    /// Topics whose text is indexed for search, as ingest indexes it.
    pub text: crate::text::TextIndexing,
    pub ingested_at_ms: i64,
}

/// The row for one object, and what an operator should hear about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adopted {
    pub row: IndexRow,
    pub legacy: bool,
    /// The object's own `con_text_uuid`, when it names another UUID than the key.
    pub uuid_in_object: Option<Uuid>,
    /// The message's topic, when it is not the key's.
    pub topic_in_object: Option<String>,
}

/// The row for the object at `key` (taken apart as `parsed`) holding
/// `bytes`; `Err` says why the object cannot be indexed.
pub fn adopt(adoption: &Adoption, key: &str, parsed: &ParsedKey, bytes: &[u8]) -> Result<Adopted, String> {
    let record = Record::decode(bytes).map_err(|e| e.to_string())?;
    let message = record.message();
    let id = Identity::of(&message);
    let placement = identity::stored_placement(&id, parsed.uuid);
    let direct_upload = record.annotations.as_ref().and_then(|a| a.flag("direct_upload")).unwrap_or(false);
    // Ingest asks about the topic, `serve` about the topic an upload names.
    let public_topic = if direct_upload { base_topic(&message.topic) } else { &message.topic };
    let provenance = Provenance {
        partition: None,
        offset: None,
        timestamp_type: if direct_upload { TimestampType::Upload } else { TimestampType::Create },
        ingested_at_ms: adoption.ingested_at_ms,
        public: topics::matches_any(&adoption.public_topics, public_topic),
        direct_upload,
        text: adoption.text.for_topic(&message.topic),
    };
    let fields = pipeline::annotations(&message, &placement, &provenance);
    let stored = Stored { key, bucket: &adoption.bucket, object: bytes, fallback_timestamp_ms: parsed.day_start_ms };
    let row = pipeline::index_row(&message, id.fingerprint, &placement, &provenance, fields, &stored)
        .map_err(|e| e.to_string())?;
    let uuid_in_object = record.annotations.as_ref().and_then(|a| a.text_uuid()).filter(|u| *u != parsed.uuid);
    let topic_in_object = (message.topic != parsed.topic).then(|| message.topic.clone());
    Ok(Adopted { row, legacy: record.is_legacy(), uuid_in_object, topic_in_object })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Placement, parse_object_key};
    use crate::record::{Header, Key, Message};

    fn adoption() -> Adoption {
        let text = crate::text::TextIndexing { topics: vec!["gcn.*".into()], limits: Default::default() };
        Adoption { bucket: "b".into(), public_topics: vec!["gcn.*".into()], text, ingested_at_ms: 99 }
    }

    fn message(timestamp: i64, id: Option<Uuid>) -> Message {
        Message {
            topic: "gcn.notice".into(),
            timestamp,
            key: Key::Null,
            headers: id.map(|u| vec![Header::new("_id", Some(u.as_bytes()))]).unwrap_or_default(),
            payload: Some(b"{\"a\": 1}".to_vec()),
        }
    }

    /// The object and row ingest writes for `message` under `placement`.
    fn ingested(message: &Message, placement: &Placement) -> pipeline::Prepared {
        let provenance = Provenance {
            partition: Some(1),
            offset: Some(7),
            timestamp_type: TimestampType::Create,
            ingested_at_ms: 5,
            public: true,
            direct_upload: false,
            text: Some(Default::default()),
        };
        let id = Identity::of(message);
        pipeline::prepare(message, id.fingerprint, placement, &provenance, "b").expect("prepares")
    }

    #[test]
    fn an_ingested_object_gives_back_its_row_but_the_provenance() {
        let client = Uuid::from_u128(0x0123_4567_89ab_4def_8123_4567_89ab_cdef);
        for (message, conflict) in [(message(1_700_000_000_000, Some(client)), false), (message(5, None), false)]
            .into_iter()
            .chain([(message(6, Some(client)), true)])
        {
            let id = Identity::of(&message);
            let placement = match (id.client_uuid, conflict) {
                (Some(c), false) => Placement { uuid: c, is_client_uuid: true, claimed_uuid: None },
                (Some(c), true) => Placement { uuid: id.derived_uuid, is_client_uuid: false, claimed_uuid: Some(c) },
                (None, _) => Placement { uuid: id.derived_uuid, is_client_uuid: false, claimed_uuid: None },
            };
            let p = ingested(&message, &placement);
            let parsed = parse_object_key(&p.key).expect("our key parses");
            let adopted = adopt(&adoption(), &p.key, &parsed, &p.object).expect("adopts");
            let expected = IndexRow { partition: None, kafka_offset: None, ingested_at: 99, ..p.row.clone() };
            assert_eq!(adopted.row, expected);
            assert_eq!((adopted.legacy, adopted.uuid_in_object, adopted.topic_in_object), (false, None, None));
        }
    }

    #[test]
    fn a_negative_timestamp_takes_the_start_of_the_keys_day() {
        let message = message(-1, None);
        let id = Identity::of(&message);
        let placement = Placement { uuid: id.derived_uuid, is_client_uuid: false, claimed_uuid: None };
        let p = ingested(&message, &placement);
        let key = format!("gcn.notice/2024/1/5/7/{}.bson", id.derived_uuid);
        let parsed = parse_object_key(&key).expect("upstream key parses");
        let row = adopt(&adoption(), &key, &parsed, &p.object).expect("adopts").row;
        assert_eq!((row.timestamp, row.timestamp_type), (parsed.day_start_ms, TimestampType::NotAvailable));
        assert_eq!(row.key, key, "the key is recorded as found");
    }

    #[test]
    fn another_uuid_in_the_key_is_kept_and_noted() {
        let client = Uuid::from_u128(42);
        let message = message(5, Some(client));
        let p = ingested(&message, &Placement { uuid: client, is_client_uuid: true, claimed_uuid: None });
        let other = Uuid::from_u128(43);
        let key = format!("gcn.notice/1970/1/1/0/{other}.bson");
        let parsed = parse_object_key(&key).expect("parses");
        let adopted = adopt(&adoption(), &key, &parsed, &p.object).expect("adopts");
        assert_eq!(adopted.row.uuid, other);
        assert_eq!((adopted.row.is_client_uuid, adopted.row.claimed_uuid), (false, Some(client)));
        assert_eq!(adopted.uuid_in_object, Some(client));
        assert!(adopt(&adoption(), &key, &parsed, b"not bson").is_err());
    }
}
