//! `verify` against archives with known defects.

use archiver::api::{Access, ApiLimits, ApiState};
use archiver::identity::{Identity, Placement};
use archiver::index::{Index, TimestampType};
use archiver::pipeline::{Provenance, prepare};
use archiver::record::{Header, HeaderValue, Key, Message};
use archiver::store::{MemoryStore, ObjectStore};
use mockhop::expect::{ArchiveRules, Exclusion, Expectation, ExpectedMessage, expect};
use mockhop::generate::{generate, labels};
use mockhop::verify::api::{ApiClient, verify_api};
use mockhop::verify::{Discrepancy, ExtraReason, Report, verify};
use mockhop::{Delivery, StreamOptions};
use std::sync::Arc;
use tokio::task::JoinHandle;

const INGEST_MS: i64 = 1_767_225_600_000;

pub const SEED: u64 = 7;
pub const COUNT: usize = 400;

pub fn deliveries() -> Vec<Delivery> {
    let options = StreamOptions { seed: SEED, count: COUNT, profile: "default".into(), topic_prefix: String::new() };
    generate(&options).expect("generates")
}

pub fn expectation() -> Expectation {
    let expected = expect(&deliveries(), &ArchiveRules::defaults("")).expect("no collisions");
    assert!(expected.conflicts > 0 && expected.duplicates > 0, "the stream exercises duplicates and conflicts");
    expected
}

/// An archive written the way the pipeline writes one, for planting defects.
pub struct Archive {
    pub index: Arc<dyn Index>,
    pub store: Arc<dyn ObjectStore>,
}

impl Archive {
    pub async fn new() -> Archive {
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
    pub async fn write(
        &self,
        expected: &ExpectedMessage,
        uuid: uuid::Uuid,
        object: Option<&Message>,
        with_object: bool,
    ) {
        let provenance = Provenance {
            partition: Some(0),
            offset: Some(i64::try_from(expected.seq).expect("small")),
            timestamp_type: TimestampType::Create,
            ingested_at_ms: INGEST_MS,
            public: true,
            direct_upload: false,
            text: None,
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

    /// Verifies through the index and store, and again through the archive's
    /// HTTP API; both must find the same discrepancies.
    pub async fn verify(&self, expected: &Expectation) -> Report {
        let report = verify(expected, self.index.as_ref(), self.store.as_ref()).await.expect("verify runs");
        let server = self.serve(Access { public_topics: vec!["*".into()], ..Access::default() }).await;
        let client = ApiClient::new(&server.base, None).expect("client");
        let through_api = verify_api(expected, &client).await.expect("verify through the API runs");
        assert_eq!(sorted(&through_api), sorted(&report), "the API path and the store path disagree");
        report
    }

    /// Serves this archive with `archiver serve`'s router on a free port.
    pub async fn serve(&self, access: Access) -> Server {
        let state = ApiState::new(Arc::clone(&self.index), Arc::clone(&self.store), access, ApiLimits::default());
        let addr = "127.0.0.1:0".parse().expect("address");
        let (bound, task) =
            archiver::api::spawn(addr, Arc::new(state), futures::future::pending()).await.expect("serves");
        Server { base: format!("http://{bound}"), task }
    }
}

/// An API server; stops when dropped.
pub struct Server {
    pub base: String,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A report with its discrepancies in a fixed order (the two paths list
/// extras in different orders).
fn sorted(report: &Report) -> Report {
    let mut report = report.clone();
    report.discrepancies.sort_by_key(|d| d.to_string());
    report
}

/// `delivery` as an archive would hold it: under its preferred UUID.
pub fn as_archived(delivery: &Delivery) -> ExpectedMessage {
    let id = Identity::of(&delivery.message);
    ExpectedMessage {
        seq: delivery.seq,
        partition_hint: delivery.partition_hint,
        placement: Placement {
            uuid: id.preferred_uuid(),
            is_client_uuid: id.client_uuid.is_some(),
            claimed_uuid: None,
        },
        fingerprint: id.fingerprint,
        object_key: None,
        message: delivery.message.clone(),
    }
}

pub fn pick(expected: &Expectation, n: usize) -> &ExpectedMessage {
    expected
        .messages
        .iter()
        .filter(|m| m.message.payload.as_ref().is_some_and(|p| !p.is_empty()))
        .nth(n)
        .expect("enough messages")
}

/// A message of real traffic on `topic`, not from the stream.
pub fn foreign(topic: &str, note: &[u8]) -> ExpectedMessage {
    let message = Message {
        topic: topic.to_owned(),
        timestamp: 1,
        key: Key::Null,
        headers: vec![Header::new("origin", Some(b"real traffic"))],
        payload: Some(note.to_vec()),
    };
    as_archived(&Delivery { seq: 999_999, partition_hint: 0, message, labels: Vec::new() })
}

#[tokio::test]
async fn a_complete_archive_verifies_and_foreign_traffic_is_ignored() {
    let expected = expectation();
    let archive = Archive::new().await;
    archive.write_all(&expected, None).await;
    // Real traffic on a topic of the stream, and on its vetoed heartbeat topic.
    for other in [foreign(&expected.messages[0].message.topic, b"not from the stream"), foreign("sys.heartbeat", b"{}")]
    {
        archive.write(&other, other.placement.uuid, None, true).await;
    }
    let report = archive.verify(&expected).await;
    assert_eq!(report.discrepancies, vec![], "a complete archive has no discrepancies");
    assert_eq!(report.checked, expected.messages.len());
    assert_eq!(report.foreign_rows, 2);
}

/// The first disputed `_id` of the stream: its owner and a later claimant
/// stored under its derived UUID.
fn dispute(expected: &Expectation) -> (&ExpectedMessage, &ExpectedMessage) {
    let later = expected.messages.iter().find(|m| m.placement.claimed_uuid.is_some()).expect("a conflict");
    let claimed = later.placement.claimed_uuid;
    let owner = expected.messages.iter().find(|m| Some(m.placement.uuid) == claimed).expect("its owner");
    (owner, later)
}

/// Rewrites the archive with the disputed `_id` given to `later` and
/// `owner` stored as the conflict.
async fn swapped(expected: &Expectation, owner: &ExpectedMessage, later: &ExpectedMessage) -> Archive {
    let archive = Archive::new().await;
    for m in expected.messages.iter().filter(|m| m.seq != owner.seq && m.seq != later.seq) {
        archive.write(m, m.placement.uuid, None, true).await;
    }
    let swap =
        |m: &ExpectedMessage, placement: archiver::identity::Placement| ExpectedMessage { placement, ..m.clone() };
    archive.write(&swap(later, owner.placement), owner.placement.uuid, None, true).await;
    let derived = Identity::of(&owner.message).derived_uuid;
    let conflict = archiver::identity::Placement { uuid: derived, ..later.placement };
    archive.write(&swap(owner, conflict), derived, None, true).await;
    archive
}

/// Issue 11: verify accepted either owner of a disputed `_id`, which hid the
/// archiver giving it to the later delivery of one partition.
#[tokio::test]
async fn regression_a_later_claimant_of_the_same_partition_owning_an_id_is_reported() {
    let expected = expectation();
    let (owner, later) = dispute(&expected);
    let archive = swapped(&expected, owner, later).await;
    let uuid = owner.placement.uuid;
    let wrong = Discrepancy::WrongOwner { uuid, seq: later.seq, earlier_seq: owner.seq };
    assert_eq!(archive.verify(&expected).await.discrepancies, vec![wrong], "one partition: the earlier one owns it");
    // Had the later claimant gone to another partition, either may own it.
    let mut apart = expected.clone().in_partitions(2);
    let moved = apart.messages.iter_mut().find(|m| m.seq == later.seq).expect("the later claimant");
    moved.partition_hint = owner.partition_hint + 1;
    assert_eq!(archive.verify(&apart).await.discrepancies, vec![], "claimants in different partitions");
}

#[tokio::test]
async fn a_disputed_id_that_no_claimant_holds_is_reported() {
    let expected = expectation();
    let (owner, _) = dispute(&expected);
    let archive = Archive::new().await;
    archive.write_all(&expected, Some(owner.seq)).await;
    let derived = Identity::of(&owner.message).derived_uuid;
    let conflict = archiver::identity::Placement {
        uuid: derived,
        is_client_uuid: false,
        claimed_uuid: Some(owner.placement.uuid),
    };
    archive.write(&ExpectedMessage { placement: conflict, ..owner.clone() }, derived, None, true).await;
    let report = archive.verify(&expected).await;
    assert_eq!(report.discrepancies, vec![Discrepancy::Unowned { uuid: owner.placement.uuid, seq: owner.seq }]);
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

/// One field of an archived message changed: which message, and how.
pub fn modified(expected: &Expectation, field: &str) -> (ExpectedMessage, Message) {
    let messages = &expected.messages;
    let flip = |bytes: &mut Vec<u8>| {
        if let Some(last) = bytes.last_mut() {
            *last ^= 0x01;
        }
    };
    let (target, mut message) = match field {
        "payload" => (pick(expected, 5), pick(expected, 5).message.clone()),
        "headers" => {
            // A value changed in place: same count, same keys, same length.
            let editable = |h: &Header| h.key != "_id" && h.value.as_bytes().is_some_and(|v| !v.is_empty());
            let target = messages.iter().find(|m| m.message.headers.iter().any(editable)).expect("a header value");
            let mut message = target.message.clone();
            if let Some(h) = message.headers.iter_mut().find(|h| editable(h)) {
                let mut value = h.value.as_bytes().expect("bytes").to_vec();
                flip(&mut value);
                h.value = HeaderValue::Bytes(value);
            }
            (target, message)
        }
        "key" => {
            let keyed = |m: &&ExpectedMessage| matches!(&m.message.key, Key::Bytes(k) if !k.is_empty());
            let target = messages.iter().find(keyed).expect("a keyed message");
            (target, target.message.clone())
        }
        _ => (pick(expected, 4), pick(expected, 4).message.clone()),
    };
    match field {
        "payload" => flip(message.payload.as_mut().expect("a payload")),
        "key" => {
            if let Key::Bytes(k) = &mut message.key {
                flip(k);
            }
        }
        "timestamp" => message.timestamp += 1,
        "topic" => message.topic.push('x'),
        _ => {}
    }
    assert_ne!(message, target.message, "{field}: changed");
    (target.clone(), message)
}

pub const FIELDS: [&str; 5] = ["payload", "headers", "key", "timestamp", "topic"];

#[tokio::test]
async fn a_modified_message_is_a_mismatch() {
    let expected = expectation();
    for field in FIELDS {
        let (target, message) = modified(&expected, field);
        let archive = Archive::new().await;
        archive.write_all(&expected, Some(target.seq)).await;
        archive.write(&target, target.placement.uuid, Some(&message), true).await;
        let report = archive.verify(&expected).await;
        assert_eq!(
            report.discrepancies,
            vec![Discrepancy::Mismatch { seq: target.seq, uuid: target.placement.uuid, fields: vec![field] }],
            "{field}"
        );
    }
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
        Discrepancy::Extra { seq: with_client.seq, uuid: derived, reason: ExtraReason::Copy },
        Discrepancy::Extra { seq: other.seq, uuid: stray, reason: ExtraReason::Copy },
    ];
    wanted.sort_by_key(|d| format!("{d}"));
    assert_eq!(report.discrepancies, wanted);
}

#[tokio::test]
async fn a_vetoed_or_test_message_archived_is_extra() {
    let deliveries = deliveries();
    let expected = expectation();
    let heartbeat = deliveries.iter().find(|d| d.labels.contains(&labels::HEARTBEAT)).expect("a heartbeat");
    let test = deliveries.iter().find(|d| d.labels.contains(&labels::HOP_TEST)).expect("a _test message");
    // The expectation carries each distinct excluded message once.
    let fingerprints = |label: &str| -> std::collections::BTreeSet<_> {
        deliveries.iter().filter(|d| d.labels.contains(&label)).map(|d| Identity::of(&d.message).fingerprint).collect()
    };
    let excluded = |reason: Exclusion| -> std::collections::BTreeSet<_> {
        expected.excluded.iter().filter(|x| x.reason == reason).map(|x| x.fingerprint).collect()
    };
    assert_eq!(excluded(Exclusion::Vetoed), fingerprints(labels::HEARTBEAT));
    assert_eq!(excluded(Exclusion::Test), fingerprints(labels::HOP_TEST));
    let archive = Archive::new().await;
    archive.write_all(&expected, None).await;
    let mut wanted = Vec::new();
    for (delivery, reason) in [(heartbeat, Exclusion::Vetoed), (test, Exclusion::Test)] {
        let archived = as_archived(delivery);
        archive.write(&archived, archived.placement.uuid, None, true).await;
        wanted.push(Discrepancy::Extra {
            seq: delivery.seq,
            uuid: archived.placement.uuid,
            reason: ExtraReason::Excluded(reason),
        });
    }
    // Foreign traffic on the same topics is still ignored.
    for other in [foreign(&heartbeat.message.topic, b"a beat of another"), foreign(&test.message.topic, b"x")] {
        archive.write(&other, other.placement.uuid, None, true).await;
    }
    let report = sorted(&archive.verify(&expected).await);
    wanted.sort_by_key(ToString::to_string);
    assert_eq!(report.discrepancies, wanted);
    assert_eq!(report.foreign_rows, 2);
    let text: Vec<String> = report.discrepancies.iter().map(ToString::to_string).collect();
    assert!(text.iter().any(|t| t.contains("vetoed topic")) && text.iter().any(|t| t.contains("_test")), "{text:?}");
}

#[tokio::test]
async fn an_indexed_message_without_its_object_is_reported() {
    let expected = expectation();
    let target = pick(&expected, 2);
    let archive = Archive::new().await;
    archive.write_all(&expected, Some(target.seq)).await;
    archive.write(target, target.placement.uuid, None, false).await;
    let report = verify(&expected, archive.index.as_ref(), archive.store.as_ref()).await.expect("verify runs");
    assert!(
        matches!(report.discrepancies.as_slice(), [Discrepancy::ObjectMissing { seq, .. }] if *seq == target.seq),
        "{:?}",
        report.discrepancies
    );
    // The API cannot tell a missing object from other failures: unreadable.
    let server = archive.serve(Access { public_topics: vec!["*".into()], ..Access::default() }).await;
    let report = verify_api(&expected, &ApiClient::new(&server.base, None).expect("client")).await.expect("runs");
    assert!(
        matches!(report.discrepancies.as_slice(),
            [Discrepancy::Unreadable { seq, uuid, error }]
                if *seq == target.seq && *uuid == target.placement.uuid && error.contains("cannot serve")),
        "{:?}",
        report.discrepancies
    );
}

#[tokio::test]
async fn the_api_path_sends_a_bearer_token_and_says_when_one_is_needed() {
    let expected = expectation();
    let archive = Archive::new().await;
    archive.write_all(&expected, None).await;
    let token = "mockhop-test-token";
    let credentials = archiver::api::Credentials::parse(&format!(
        "[[token]]\nname = \"verifier\"\nsha256 = \"{}\"\nread = [\"*\"]\n",
        archiver::api::token_sha256_hex(token)
    ))
    .expect("credentials");
    let server = archive.serve(Access { credentials, ..Access::default() }).await;
    let with = |token: Option<&str>| ApiClient::new(&server.base, token.map(str::to_owned)).expect("client");
    let report = verify_api(&expected, &with(Some(token))).await.expect("verifies with the token");
    assert_eq!((report.discrepancies.len(), report.foreign_rows), (0, 0));
    for (token, status) in [(None, "401"), (Some("wrong"), "401")] {
        let err = verify_api(&expected, &with(token)).await.expect_err("refused").to_string();
        assert!(err.contains(status) && err.contains("--api-token") && !err.contains("mockhop-test-token"), "{err}");
    }
}

#[tokio::test]
async fn the_api_path_refuses_what_is_not_an_archive_api() {
    for bad in ["ftp://x", "http://u:p@127.0.0.1:1", "http://127.0.0.1:1/?q=1", "not a url"] {
        assert!(ApiClient::new(bad, None).is_err(), "{bad}");
    }
    let archive = Archive::new().await;
    let server = archive.serve(Access::default()).await;
    // A path under the API that is not its base: /health_check is 404 there.
    let client = ApiClient::new(&format!("{}/msg", server.base), None).expect("client");
    let err = verify_api(&expectation(), &client).await.expect_err("not an API").to_string();
    assert!(err.contains("not an archive API"), "{err}");
}
