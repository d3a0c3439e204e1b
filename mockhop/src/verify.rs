//! Checks a real archive against what a stream must have produced.
//!
//! A message of the stream may legitimately sit under its client `_id` or
//! under its derived UUID (a conflict's winner depends on delivery order
//! across partitions), so both are looked up; it must be found under exactly
//! one, with an object whose payload, headers, key, timestamp and topic are
//! byte-identical. A vetoed or skipped `_test` message of the stream found
//! archived is extra, as is a second copy of an archived one. Rows of the
//! stream's topics whose fingerprint belongs to no message of the stream are
//! foreign traffic and ignored. A disputed `_id` must be held by the
//! claimant the rule of [`disputes`] allows.
//!
//! A stream produced under a run tag (`Expectation::run_tag`) answers for
//! every row of the tag's topics, not only for its own messages: a row there
//! that is no message of the stream is stray (an altered copy, another
//! run's message under a reused tag), and every row outside the tag is
//! other traffic, counted from the topic statistics without being read.
//!
//! [`verify`] reads the archive's index and object store; [`api::verify_api`]
//! checks the same things through the archive's HTTP API.

pub mod api;
pub mod disputes;

use crate::expect::{Exclusion, Expectation, ExpectedMessage};
use crate::run_tag::RunTag;
use archiver::identity::{Fingerprint, Identity};
use archiver::index::{Cursor, Index, IndexEntry, IndexError, ListQuery, PAGE_ROWS_MAX};
use archiver::record::{Message, Record};
use archiver::store::{ObjectStore, StoreError};
use futures::StreamExt as _;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use uuid::Uuid;

/// How many expected messages are looked up in one index query.
const LOOKUP_BATCH_MAX: usize = 500;
/// Objects read from the store at once.
const OBJECT_READS_IN_FLIGHT_MAX: usize = 32;

/// One discrepancy between the archive and the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discrepancy {
    /// A message of the stream is in the archive under none of its UUIDs.
    Missing { seq: u64, uuid: Uuid },
    /// The index row exists but its object does not.
    ObjectMissing { seq: u64, uuid: Uuid, key: String },
    /// The object exists but is not a readable archive object.
    Unreadable { seq: u64, uuid: Uuid, error: String },
    /// The archived message differs from the one sent.
    Mismatch { seq: u64, uuid: Uuid, fields: Vec<&'static str> },
    /// A message of the stream is archived more than once, or archived
    /// although it must not be.
    Extra { seq: u64, uuid: Uuid, reason: ExtraReason },
    /// A disputed `_id` is held by delivery `seq` although `earlier_seq`,
    /// an earlier claimant in the same partition, should own it.
    WrongOwner { uuid: Uuid, seq: u64, earlier_seq: u64 },
    /// No claimant of a disputed `_id` holds it (the first is `seq`).
    Unowned { uuid: Uuid, seq: u64 },
    /// A row of the run tag's topics that is no message of the stream.
    Stray { uuid: Uuid, topic: String },
}

/// Why an archived message is one too many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtraReason {
    /// Another copy of a message already found under another UUID.
    Copy,
    /// A message that must not be archived at all.
    Excluded(Exclusion),
}

impl fmt::Display for Discrepancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Discrepancy::Missing { seq, uuid } => write!(f, "missing: delivery #{seq} ({uuid}) is not archived"),
            Discrepancy::ObjectMissing { seq, uuid, key } => {
                write!(f, "object missing: delivery #{seq} ({uuid}) is indexed but {key} does not exist")
            }
            Discrepancy::Unreadable { seq, uuid, error } => {
                write!(f, "unreadable: delivery #{seq} ({uuid}): {error}")
            }
            Discrepancy::Mismatch { seq, uuid, fields } => {
                write!(f, "mismatch: delivery #{seq} ({uuid}) differs in {}", fields.join(", "))
            }
            Discrepancy::Extra { seq, uuid, reason: ExtraReason::Copy } => {
                write!(f, "extra: delivery #{seq} is archived again as {uuid}")
            }
            Discrepancy::Extra { seq, uuid, reason: ExtraReason::Excluded(Exclusion::Vetoed) } => {
                write!(f, "extra: delivery #{seq} is on a vetoed topic but archived as {uuid}")
            }
            Discrepancy::Extra { seq, uuid, reason: ExtraReason::Excluded(Exclusion::Test) } => {
                write!(f, "extra: delivery #{seq} carries _test (skipped) but is archived as {uuid}")
            }
            Discrepancy::WrongOwner { uuid, seq, earlier_seq } => write!(
                f,
                "wrong owner: _id {uuid} is held by delivery #{seq}, but #{earlier_seq} claimed it earlier in the same partition"
            ),
            Discrepancy::Unowned { uuid, seq } => {
                write!(f, "unowned: no claimant holds the disputed _id {uuid} (the first is delivery #{seq})")
            }
            Discrepancy::Stray { uuid, topic } => {
                write!(f, "stray: {uuid} on {topic} carries the run tag but is no message of the stream")
            }
        }
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Expected messages looked for.
    pub checked: usize,
    /// Rows of other traffic: in the stream's topics, or, under a run tag,
    /// everywhere outside the tag's topics.
    pub foreign_rows: u64,
    pub discrepancies: Vec<Discrepancy>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Api(#[from] api::ApiError),
}

/// Verifies the archive behind `index` and `store` against `expected`.
pub async fn verify(expected: &Expectation, index: &dyn Index, store: &dyn ObjectStore) -> Result<Report, VerifyError> {
    let mut report = Report { checked: expected.messages.len(), ..Report::default() };
    let mut found: BTreeSet<Uuid> = BTreeSet::new();
    for batch in expected.messages.chunks(LOOKUP_BATCH_MAX) {
        let uuids: Vec<Uuid> = batch.iter().flat_map(|m| candidates(&m.message)).collect();
        let rows: BTreeMap<Uuid, IndexEntry> =
            index.get_many(&uuids).await?.into_iter().map(|e| (e.row.uuid, e)).collect();
        let mut checks = Vec::with_capacity(batch.len());
        for message in batch {
            let hits: Vec<&IndexEntry> = candidates(&message.message)
                .into_iter()
                .filter_map(|uuid| rows.get(&uuid))
                .filter(|e| e.row.fingerprint == message.fingerprint.0)
                .collect();
            found.extend(hits.iter().map(|e| e.row.uuid));
            checks.push(check_hits(message, hits, store));
        }
        // Object reads dominate; `buffered` keeps the report in stream order.
        let results: Vec<_> = futures::stream::iter(checks).buffered(OBJECT_READS_IN_FLIGHT_MAX).collect().await;
        for result in results {
            report.discrepancies.extend(result?);
        }
    }
    scan_for_extras(expected, index, &found, &mut report).await?;
    check_disputes(expected, index, &mut report).await?;
    Ok(report)
}

/// Applies the rule of [`disputes`] to the rows holding disputed `_id`s.
async fn check_disputes(expected: &Expectation, index: &dyn Index, report: &mut Report) -> Result<(), IndexError> {
    for batch in disputes::disputes(expected).chunks(LOOKUP_BATCH_MAX) {
        let uuids: Vec<Uuid> = batch.iter().map(|d| d.uuid).collect();
        let owners: BTreeMap<Uuid, Fingerprint> =
            index.get_many(&uuids).await?.into_iter().map(|e| (e.row.uuid, Fingerprint(e.row.fingerprint))).collect();
        report.discrepancies.extend(batch.iter().filter_map(|d| d.check(owners.get(&d.uuid).copied())));
    }
    Ok(())
}

/// The UUIDs a message may be archived under: its client `_id`, if any, and
/// its derived UUID.
fn candidates(message: &Message) -> Vec<Uuid> {
    let id = Identity::of(message);
    id.client_uuid.into_iter().chain([id.derived_uuid]).collect()
}

/// The discrepancies of one expected message, given the index rows that
/// hold its fingerprint.
async fn check_hits(
    expected: &ExpectedMessage,
    hits: Vec<&IndexEntry>,
    store: &dyn ObjectStore,
) -> Result<Vec<Discrepancy>, StoreError> {
    let seq = expected.seq;
    let mut out = Vec::new();
    let Some((first, again)) = hits.split_first() else {
        out.push(Discrepancy::Missing { seq, uuid: expected.placement.uuid });
        return Ok(out);
    };
    out.extend(again.iter().map(|e| Discrepancy::Extra { seq, uuid: e.row.uuid, reason: ExtraReason::Copy }));
    let row = &first.row;
    let Some(bytes) = store.get(&row.key).await? else {
        out.push(Discrepancy::ObjectMissing { seq, uuid: row.uuid, key: row.key.clone() });
        return Ok(out);
    };
    match Record::decode(&bytes) {
        Err(e) => out.push(Discrepancy::Unreadable { seq, uuid: row.uuid, error: e.to_string() }),
        Ok(record) => out.extend(compare(expected, &record, row.uuid)),
    }
    Ok(out)
}

/// A mismatch if the archived `record` at `uuid` is not `expected`'s message.
fn compare(expected: &ExpectedMessage, record: &Record, uuid: Uuid) -> Option<Discrepancy> {
    let fields = differing_fields(&expected.message, record, uuid);
    (!fields.is_empty()).then_some(Discrepancy::Mismatch { seq: expected.seq, uuid, fields })
}

/// The fields in which the archived `record` differs from `sent`.
fn differing_fields(sent: &Message, record: &Record, uuid: Uuid) -> Vec<&'static str> {
    let archived = record.message();
    let annotated_uuid = record.annotations.as_ref().and_then(|a| a.text_uuid());
    [
        ("topic", sent.topic == archived.topic),
        ("timestamp", sent.timestamp == archived.timestamp),
        ("key", sent.key == archived.key),
        ("headers", sent.headers == archived.headers),
        ("payload", sent.payload == archived.payload),
        ("con_text_uuid", annotated_uuid == Some(uuid)),
    ]
    .into_iter()
    .filter(|(_, same)| !same)
    .map(|(name, _)| name)
    .collect()
}

/// The stream's messages by fingerprint: the first delivery of each, and
/// what finding it archived under a UUID not already accounted for means.
fn stream_fingerprints(expected: &Expectation) -> BTreeMap<Fingerprint, (u64, ExtraReason)> {
    let mut out: BTreeMap<Fingerprint, (u64, ExtraReason)> =
        expected.messages.iter().map(|m| (m.fingerprint, (m.seq, ExtraReason::Copy))).collect();
    for x in &expected.excluded {
        out.entry(x.fingerprint).or_insert((x.seq, ExtraReason::Excluded(x.reason)));
    }
    out
}

/// Every topic the stream wrote to, vetoed ones included.
fn stream_topics(expected: &Expectation) -> BTreeSet<String> {
    let archived = expected.messages.iter().map(|m| m.message.topic.clone());
    archived.chain(expected.excluded.iter().map(|x| x.topic.clone())).collect()
}

/// The topics whose every row is read for extras: the stream's, and under a
/// run tag every archived topic of the tag. Also the rows of the topics
/// left out, when a run tag makes them all other traffic (else 0: rows of
/// other topics are no concern of the stream's).
pub(crate) fn scanned_topics<'a>(
    expected: &Expectation,
    archived: impl IntoIterator<Item = (&'a str, i64)>,
) -> (BTreeSet<String>, u64) {
    let mut topics = stream_topics(expected);
    let Some(tag) = &expected.run_tag else { return (topics, 0) };
    let mut others: u64 = 0;
    for (topic, rows) in archived {
        if tag.tags(topic) {
            topics.insert(topic.to_owned());
        } else if !topics.contains(topic) {
            others += u64::try_from(rows).unwrap_or(0);
        }
    }
    (topics, others)
}

/// Whether a row of `topic` that is no message of the stream is stray
/// (under the stream's run tag), rather than other traffic.
pub(crate) fn is_stray(run_tag: Option<&RunTag>, topic: &str) -> bool {
    run_tag.is_some_and(|tag| tag.tags(topic))
}

/// Lists every row of the scanned topics: a row holding a stream message's
/// fingerprint under a UUID not already accounted for is an extra copy, a
/// row holding a vetoed or `_test` message's is extra whatever its UUID;
/// any other fingerprint is stray under the run tag, else foreign traffic.
async fn scan_for_extras(
    expected: &Expectation,
    index: &dyn Index,
    found: &BTreeSet<Uuid>,
    report: &mut Report,
) -> Result<(), IndexError> {
    let by_fingerprint = stream_fingerprints(expected);
    let stats = match expected.run_tag {
        Some(_) => index.topic_stats().await?,
        None => Vec::new(),
    };
    let (topics, others) = scanned_topics(expected, stats.iter().map(|s| (s.topic.as_str(), s.count)));
    report.foreign_rows += others;
    let mut query = ListQuery::every_row(topics.into_iter().collect(), PAGE_ROWS_MAX);
    if query.topics.is_empty() {
        return Ok(());
    }
    loop {
        let page = index.list(&query).await?;
        for entry in &page.entries {
            match by_fingerprint.get(&Fingerprint(entry.row.fingerprint)) {
                None if is_stray(expected.run_tag.as_ref(), &entry.row.topic) => {
                    let (uuid, topic) = (entry.row.uuid, entry.row.topic.clone());
                    report.discrepancies.push(Discrepancy::Stray { uuid, topic });
                }
                None => report.foreign_rows += 1,
                Some(&(seq, reason)) if reason != ExtraReason::Copy || !found.contains(&entry.row.uuid) => {
                    report.discrepancies.push(Discrepancy::Extra { seq, uuid: entry.row.uuid, reason });
                }
                Some(_) => {}
            }
        }
        match page.next {
            Some(Cursor { timestamp, id }) => query.after = Some(Cursor { timestamp, id }),
            None => return Ok(()),
        }
    }
}
