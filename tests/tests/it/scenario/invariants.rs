//! The invariants checked after every scenario run. Each returns the
//! violations it found, as sentences a reader can act on.

use super::drive::Outcome;
use super::dump::Archive;
use super::spec::Invariant;
use archiver::identity;
use archiver::record::Record;
use std::collections::{BTreeMap, BTreeSet};

/// Every violation of `invariants` in `outcome`, whose archive is `archive`.
pub async fn check(invariants: &[Invariant], outcome: &Outcome, archive: &Archive) -> Vec<String> {
    let mut out = Vec::new();
    if outcome.hung {
        out.push("the run did not finish before its watchdog (a hang)".to_owned());
    }
    for invariant in invariants {
        let found = match invariant {
            Invariant::ExactlyOnce => exactly_once(outcome, archive).await,
            Invariant::ByteExact => byte_exact(archive),
            Invariant::NoOrphanObjects => no_orphans(archive),
            Invariant::NoRowWithoutObject => no_row_without_object(archive),
            Invariant::CommitsAfterDurability => outcome.audit.violations(),
            Invariant::AllCommitted => all_committed(outcome),
            Invariant::ConflictsRecorded => conflicts_recorded(outcome, archive),
        };
        out.extend(found.into_iter().map(|v| format!("{invariant:?}: {v}")));
    }
    out
}

async fn exactly_once(outcome: &Outcome, archive: &Archive) -> Vec<String> {
    let report = match mockhop::verify::verify(&outcome.expected, outcome.index.as_ref(), outcome.store.as_ref()).await
    {
        Ok(report) => report,
        Err(e) => return vec![format!("verify failed: {e}")],
    };
    let mut out: Vec<String> = report.discrepancies.iter().map(ToString::to_string).collect();
    if report.foreign_rows > 0 {
        out.push(format!("{} rows belong to no message of the stream", report.foreign_rows));
    }
    let expected = outcome.expected.messages.len();
    if archive.rows.len() != expected {
        out.push(format!("{} rows for {expected} distinct messages", archive.rows.len()));
    }
    // The index's statistics, kept by its writes through every crash the
    // scenario injected, must say what a full count of its rows says.
    let counted = archiver::index::TopicStats::tally(archive.rows.iter().map(|e| &e.row));
    match outcome.index.topic_stats().await {
        Ok(kept) if kept == counted => {}
        Ok(kept) => out.push(format!("the topic statistics {kept:?} differ from a full count {counted:?}")),
        Err(e) => out.push(format!("topic statistics unreadable: {e}")),
    }
    out
}

fn byte_exact(archive: &Archive) -> Vec<String> {
    let mut out = Vec::new();
    for e in &archive.rows {
        let (row, Some(bytes)) = (&e.row, archive.objects.get(&e.row.key)) else { continue };
        let mut wrong = Vec::new();
        if i64::from(row.size) != bytes.len() as i64 {
            wrong.push(format!("size {} vs {} bytes", row.size, bytes.len()));
        }
        if row.crc32 != crc32fast::hash(bytes) {
            wrong.push("crc32".to_owned());
        }
        match Record::decode(bytes) {
            Err(e) => wrong.push(format!("undecodable: {e}")),
            Ok(record) => {
                if record.encode().ok().as_deref() != Some(bytes.as_slice()) {
                    wrong.push("does not re-encode to the same bytes".to_owned());
                }
                if identity::fingerprint(&record.message()).0 != row.fingerprint {
                    wrong.push("fingerprint differs from the row's".to_owned());
                }
            }
        }
        if !wrong.is_empty() {
            out.push(format!("object {} (row {}): {}", row.key, e.id, wrong.join(", ")));
        }
    }
    out
}

fn no_orphans(archive: &Archive) -> Vec<String> {
    let referenced: BTreeSet<&str> = archive.rows.iter().map(|e| e.row.key.as_str()).collect();
    archive
        .objects
        .keys()
        .filter(|k| !referenced.contains(k.as_str()))
        .map(|k| format!("object {k} is referenced by no row"))
        .collect()
}

fn no_row_without_object(archive: &Archive) -> Vec<String> {
    archive
        .rows
        .iter()
        .filter(|e| !archive.objects.contains_key(&e.row.key))
        .map(|e| format!("row {} ({}) points at missing object {}", e.id, e.row.uuid, e.row.key))
        .collect()
}

/// Only for the memory log; a real broker's commits are covered by
/// `commits-after-durability` alone.
fn all_committed(outcome: &Outcome) -> Vec<String> {
    let Some(log) = outcome.broker.memory_log() else { return Vec::new() };
    log.partitions()
        .into_iter()
        .filter_map(|(topic, partition)| {
            let (committed, end) = (log.committed(&topic, partition), log.end_offset(&topic, partition));
            (committed != end).then(|| format!("{topic}/{partition} committed to {committed}, its end is {end}"))
        })
        .collect()
}

fn conflicts_recorded(outcome: &Outcome, archive: &Archive) -> Vec<String> {
    let by_uuid: BTreeMap<_, _> = archive.rows.iter().map(|e| (e.row.uuid, &e.row)).collect();
    let mut out = Vec::new();
    let mut conflicts = 0;
    for e in archive.rows.iter().filter(|e| e.row.claimed_uuid.is_some()) {
        conflicts += 1;
        let (row, claimed) = (&e.row, e.row.claimed_uuid.unwrap_or_default());
        if row.is_client_uuid {
            out.push(format!("row {} claims {claimed} but says its UUID is the client's", e.id));
        }
        match by_uuid.get(&claimed) {
            Some(holder) if holder.fingerprint != row.fingerprint => {}
            _ => out.push(format!("row {} claims {claimed}, which no other message holds", e.id)),
        }
    }
    if conflicts != outcome.expected.conflicts {
        out.push(format!("{conflicts} conflicts recorded, the stream has {}", outcome.expected.conflicts));
    }
    out
}

// ---- the checks themselves must be able to fail -----------------------------

mod tests {
    use super::super::drive::run_scenario;
    use super::super::dump;
    use super::super::spec;
    use super::*;
    use archiver::index::Index as _;
    use archiver::source::memory::MemoryLog;
    use archiver::source::{MessageSource as _, Position};
    use bytes::Bytes;
    use hop_archiver_tests::fault_source::{CommitAudit, FaultSource};
    use hop_archiver_tests::schedule::FaultSchedule;
    use hop_archiver_tests::world::{Process, World};
    use std::sync::Arc;

    fn short() -> spec::Scenario {
        let mut scenario = spec::load("duplicates").unwrap_or_else(|e| panic!("{e}"));
        scenario.stream.count = 30;
        scenario
    }

    #[tokio::test(start_paused = true)]
    async fn a_damaged_archive_violates_the_invariants() {
        let scenario = short();
        let outcome = run_scenario(&scenario, scenario.seed, FaultSchedule::default()).await;
        let archive = dump::read(outcome.index.as_ref(), outcome.store.as_ref()).await;
        assert_eq!(check(&Invariant::all(), &outcome, &archive).await, Vec::<String>::new());
        // An object nobody references, and a row whose object is gone.
        outcome.store.put_if_absent("lvk.alerts/2026/01/01/orphan.bson", Bytes::from_static(b"x")).await.expect("put");
        let victim = archive.rows[0].row.key.clone();
        outcome.store.delete(&victim).await.expect("delete");
        let damaged = dump::read(outcome.index.as_ref(), outcome.store.as_ref()).await;
        let found = check(&Invariant::all(), &outcome, &damaged).await.join("\n");
        assert!(found.contains("NoOrphanObjects: object lvk.alerts/2026/01/01/orphan.bson"), "{found}");
        assert!(found.contains(&format!("NoRowWithoutObject: row {}", archive.rows[0].id)), "{found}");
        assert!(found.contains("ExactlyOnce: object missing"), "{found}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_commit_past_an_unarchived_message_is_caught() {
        let message = short_message();
        let log = MemoryLog::new();
        log.append(0, message.clone());
        log.assign(&message.topic, 0, 0);
        let index = Arc::new(archiver::index::MemoryIndex::new());
        let store = Arc::new(archiver::store::MemoryStore::new());
        let partitions = [((message.topic.clone(), 0), vec![message.clone()])].into_iter().collect();
        let audit = Arc::new(CommitAudit::new(partitions, index.clone(), store, false));
        let process = Process::start(&World::new(FaultSchedule::default()));
        let mut source = FaultSource::new(Box::new(log.member(0)), process, audit.clone());
        let delivered = source.next().await.expect("next").expect("a message");
        let position = Position { topic: message.topic.clone(), partition: 0, next_offset: delivered.offset + 1 };
        source.commit(&[position]).await.expect("commit");
        let violations = audit.violations();
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].contains("covers offset 0, which has no index row"), "{violations:?}");
        assert_eq!(index.topic_stats().await.expect("stats"), vec![]);
    }

    fn short_message() -> archiver::record::Message {
        archiver::record::Message {
            topic: "gcn.notice".into(),
            timestamp: 1_767_225_600_000,
            key: archiver::record::Key::Null,
            headers: vec![],
            payload: Some(b"not archived".to_vec()),
        }
    }
}
