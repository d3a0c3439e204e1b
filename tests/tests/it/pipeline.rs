//! `pipeline::prepare`: the object and index row written for a placed message.

use crate::strategies;
use archiver::identity::{self, Identity, Placement};
use archiver::index::TimestampType;
use archiver::pipeline::{Provenance, prepare};
use archiver::record::Record;
use proptest::prelude::*;

const INGEST_MS: i64 = 1_764_288_000_000; // 2025-11-28T00:00:00Z

fn provenance() -> Provenance {
    Provenance {
        partition: Some(2),
        offset: Some(41),
        timestamp_type: TimestampType::Create,
        ingested_at_ms: INGEST_MS,
        public: true,
        direct_upload: false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn object_and_row_agree(message in strategies::message()) {
        let id = Identity::of(&message);
        let placement = Placement { uuid: id.preferred_uuid(), is_client_uuid: id.client_uuid.is_some(), claimed_uuid: None };
        let p = prepare(&message, id.fingerprint, &placement, &provenance(), "bucket-a").expect("prepares");
        let record = Record::decode(&p.object).expect("the object decodes");
        prop_assert_eq!(record.message(), message.clone());
        let row = &p.row;
        prop_assert_eq!(row.size as usize, p.object.len());
        prop_assert_eq!(row.crc32, crc32fast::hash(&p.object));
        prop_assert_eq!(row.message_crc32, crc32fast::hash(message.payload.as_deref().unwrap_or_default()));
        prop_assert_eq!(&row.key, &p.key);
        prop_assert_eq!(row.fingerprint, id.fingerprint.0);
        prop_assert_eq!(row.uuid, placement.uuid);
        prop_assert_eq!(record.annotations.as_ref().and_then(|a| a.text_uuid()), Some(placement.uuid));
        prop_assert_eq!((row.partition, row.kafka_offset), (Some(2), Some(41)));
        let (when, ingest) = if message.timestamp >= 0 {
            (message.timestamp, TimestampType::Create)
        } else {
            (INGEST_MS, TimestampType::NotAvailable)
        };
        prop_assert_eq!(row.timestamp, when);
        prop_assert_eq!(row.timestamp_type, ingest);
        prop_assert_eq!(&p.key, &identity::object_key(&message.topic, when, placement.uuid));
    }
}

#[test]
fn a_conflict_row_records_the_claimed_uuid() {
    let message = archiver::record::Message {
        topic: "gcn.notice".into(),
        timestamp: 5,
        key: archiver::record::Key::Null,
        headers: vec![archiver::record::Header::new("_id", Some(&[7; 16]))],
        payload: Some(b"other content".to_vec()),
    };
    let id = Identity::of(&message);
    let claimed = id.client_uuid.expect("16-byte _id");
    let placement = Placement { uuid: id.derived_uuid, is_client_uuid: false, claimed_uuid: Some(claimed) };
    let p = prepare(&message, id.fingerprint, &placement, &provenance(), "b").expect("prepares");
    assert_eq!(p.row.claimed_uuid, Some(claimed));
    assert!(!p.row.is_client_uuid);
    let record = Record::decode(&p.object).expect("decodes");
    let annotations = record.annotations.expect("annotations");
    assert_eq!(annotations.flag("con_is_client_uuid"), Some(false));
    assert_eq!(annotations.text_uuid(), Some(id.derived_uuid));
}
