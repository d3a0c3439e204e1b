//! `verify` against archives with known defects.

use archiver::identity::Identity;
use archiver::index::{Index, TimestampType};
use archiver::pipeline::{Provenance, prepare};
use archiver::record::{Header, Key, Message};
use archiver::store::{MemoryStore, ObjectStore};
use mockhop::expect::{ArchiveRules, Expectation, ExpectedMessage, expect};
use mockhop::verify::{Discrepancy, Report, verify};
use mockhop::{StreamOptions, generate::generate};
use std::sync::Arc;

const INGEST_MS: i64 = 1_767_225_600_000;

pub const SEED: u64 = 7;
pub const COUNT: usize = 400;

pub fn expectation() -> Expectation {
    let options = StreamOptions { seed: SEED, count: COUNT, profile: "default".into(), topic_prefix: String::new() };
    let deliveries = generate(&options).expect("generates");
    let expected = expect(&deliveries, &ArchiveRules::defaults("")).expect("no collisions");
    assert!(expected.conflicts > 0 && expected.duplicates > 0, "the stream exercises duplicates and conflicts");
    expected
}

/// An archive written the way the pipeline writes one, for planting defects.
pub struct Archive {
    pub index: Arc<dyn Index>,
    pub store: Arc<dyn ObjectStore>,
}

impl Archive {
    async fn new() -> Archive {
        let index = archiver::index::open("sqlite::memory:").await.expect("sqlite in memory");
        Archive { index, store: Arc::new(MemoryStore::new()) }
    }

    pub async fn at(index_url: &str, store_url: &str) -> Archive {
        let index = archiver::index::open(index_url).await.expect("index opens");
        let store = archiver::store::open(store_url).await.expect("store opens");
        Archive { index, store }
    }

    /// Writes `message` at `uuid` the way the pipeline does; `object` replaces
    /// the message in the object only (to plant a modified copy).
    async fn write(&self, expected: &ExpectedMessage, uuid: uuid::Uuid, object: Option<&Message>, with_object: bool) {
        let provenance = Provenance {
            partition: Some(0),
            offset: Some(i64::try_from(expected.seq).expect("small")),
            timestamp_type: TimestampType::Create,
            ingested_at_ms: INGEST_MS,
            public: true,
            direct_upload: false,
        };
        let placement = archiver::identity::Placement { uuid, ..expected.placement };
        let p = prepare(&expected.message, expected.fingerprint, &placement, &provenance, "test").expect("prepares");
        let bytes = match object {
            Some(other) => {
                prepare(other, expected.fingerprint, &placement, &provenance, "test").expect("prepares").object
            }
            None => p.object,
        };
        if with_object {
            self.store.put_if_absent(&p.key, bytes.into()).await.expect("stores");
        }
        assert_eq!(self.index.insert_batch(&[p.row]).await.expect("indexes"), vec![true]);
    }

    pub async fn write_all(&self, expected: &Expectation, skip_seq: Option<u64>) {
        for m in expected.messages.iter().filter(|m| Some(m.seq) != skip_seq) {
            self.write(m, m.placement.uuid, None, true).await;
        }
    }

    async fn verify(&self, expected: &Expectation) -> Report {
        verify(expected, self.index.as_ref(), self.store.as_ref()).await.expect("verify runs")
    }
}

fn pick(expected: &Expectation, n: usize) -> &ExpectedMessage {
    expected
        .messages
        .iter()
        .filter(|m| m.message.payload.as_ref().is_some_and(|p| !p.is_empty()))
        .nth(n)
        .expect("enough messages")
}

#[tokio::test]
async fn a_complete_archive_verifies_and_foreign_traffic_is_ignored() {
    let expected = expectation();
    let archive = Archive::new().await;
    archive.write_all(&expected, None).await;
    let foreign = Message {
        topic: expected.messages[0].message.topic.clone(),
        timestamp: 1,
        key: Key::Null,
        headers: vec![Header::new("origin", Some(b"real traffic"))],
        payload: Some(b"not from the stream".to_vec()),
    };
    let id = Identity::of(&foreign);
    let foreign_expected = ExpectedMessage {
        seq: 999_999,
        placement: archiver::identity::Placement { uuid: id.derived_uuid, is_client_uuid: false, claimed_uuid: None },
        fingerprint: id.fingerprint,
        object_key: None,
        message: foreign,
    };
    archive.write(&foreign_expected, id.derived_uuid, None, true).await;
    let report = archive.verify(&expected).await;
    assert_eq!(report.discrepancies, vec![], "a complete archive has no discrepancies");
    assert_eq!(report.checked, expected.messages.len());
    assert_eq!(report.foreign_rows, 1);
}

#[tokio::test]
async fn a_removed_message_is_missing() {
    let expected = expectation();
    let gone = pick(&expected, 3);
    let archive = Archive::new().await;
    archive.write_all(&expected, Some(gone.seq)).await;
    let report = archive.verify(&expected).await;
    assert_eq!(report.discrepancies, vec![Discrepancy::Missing { seq: gone.seq, uuid: gone.placement.uuid }]);
}

#[tokio::test]
async fn a_modified_message_is_a_mismatch() {
    let expected = expectation();
    let target = pick(&expected, 5);
    let mut modified = target.message.clone();
    if let Some(p) = modified.payload.as_mut() {
        p[0] ^= 0x20;
    }
    let archive = Archive::new().await;
    archive.write_all(&expected, Some(target.seq)).await;
    archive.write(target, target.placement.uuid, Some(&modified), true).await;
    let report = archive.verify(&expected).await;
    assert_eq!(
        report.discrepancies,
        vec![Discrepancy::Mismatch { seq: target.seq, uuid: target.placement.uuid, fields: vec!["payload"] }]
    );
}

#[tokio::test]
async fn a_message_archived_twice_is_extra() {
    let expected = expectation();
    let archive = Archive::new().await;
    archive.write_all(&expected, None).await;
    // Once under a candidate UUID (its derived one) and once under an unrelated UUID.
    let with_client = expected.messages.iter().find(|m| m.placement.is_client_uuid).expect("a client-UUID message");
    let derived = Identity::of(&with_client.message).derived_uuid;
    archive.write(with_client, derived, None, true).await;
    let other = pick(&expected, 1);
    let stray = uuid::Uuid::from_u128(0x5eed);
    archive.write(other, stray, None, true).await;
    let mut report = archive.verify(&expected).await;
    report.discrepancies.sort_by_key(|d| format!("{d}"));
    let mut wanted = vec![
        Discrepancy::Extra { seq: with_client.seq, uuid: derived },
        Discrepancy::Extra { seq: other.seq, uuid: stray },
    ];
    wanted.sort_by_key(|d| format!("{d}"));
    assert_eq!(report.discrepancies, wanted);
}

#[tokio::test]
async fn an_indexed_message_without_its_object_is_reported() {
    let expected = expectation();
    let target = pick(&expected, 2);
    let archive = Archive::new().await;
    archive.write_all(&expected, Some(target.seq)).await;
    archive.write(target, target.placement.uuid, None, false).await;
    let report = archive.verify(&expected).await;
    assert!(
        matches!(report.discrepancies.as_slice(), [Discrepancy::ObjectMissing { seq, .. }] if *seq == target.seq),
        "{:?}",
        report.discrepancies
    );
}
