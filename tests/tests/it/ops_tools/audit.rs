//! `archiver audit` and `archiver repair` run as a user would, on an
//! archive built by the ingest loop and a replica copied from it, damaged
//! in every way audit claims to find. The damage table runs here on a
//! filesystem store and SQLite, and in `real` on s3s-fs and PostgreSQL.

mod real;

use super::{all_rows, archiver, file_url, pipeline_archive, sqlite_url};
use archiver::index::IndexRow;
use archiver::store::{FsStore, ObjectStore};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use uuid::Uuid;

/// An archive, its replica, and how to reach both.
pub struct Archive {
    pub store: Arc<dyn ObjectStore>,
    pub replica: Arc<dyn ObjectStore>,
    pub store_url: String,
    pub replica_url: String,
    pub index_url: String,
    /// The environment the archiver needs (S3 keys).
    pub env: Vec<(&'static str, String)>,
    /// The rows as ingest wrote them.
    pub rows: BTreeMap<Uuid, IndexRow>,
}

impl Archive {
    /// `count` deliveries archived by the ingest loop into `store` and the
    /// index at `index_url`, then every object copied into `replica`.
    pub async fn build(
        (store, store_url): (Arc<dyn ObjectStore>, String),
        (replica, replica_url): (Arc<dyn ObjectStore>, String),
        index_url: String,
        env: Vec<(&'static str, String)>,
        count: usize,
    ) -> Archive {
        let index = archiver::index::open(&index_url).await.expect("index");
        pipeline_archive(Arc::clone(&store), Arc::clone(&index), 5, count).await;
        let rows = all_rows(&*index).await;
        let mut after: Option<String> = None;
        loop {
            let page = store.list("", after.as_deref(), 1000).await.expect("lists");
            for object in &page.objects {
                let bytes = store.get(&object.key).await.expect("reads").expect("listed");
                replica.put_if_absent(&object.key, bytes).await.expect("copied");
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        Archive { store, replica, store_url, replica_url, index_url, env, rows }
    }

    /// `archiver <command> --json` on this archive with `args`: the exit
    /// code and the report.
    pub fn run(&self, command: &str, args: &[&str]) -> (i32, serde_json::Value) {
        // Rows repair inserts are public as ingest made them.
        let mut all =
            vec![command, "--json", "--store", &self.store_url, "--index", &self.index_url, "--public-topics", "gcn.*"];
        all.extend_from_slice(args);
        let (code, out, err) = archiver(&all, &self.env);
        let report =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("archiver {all:?} ({code}): {e}: {out}{err}"));
        (code, report)
    }

    /// Runs one SQL statement on the index (PostgreSQL or SQLite).
    pub async fn sql(&self, statement: String) {
        use sqlx::Connection as _;
        let statement = sqlx::AssertSqlSafe(statement);
        if self.is_postgres() {
            let mut conn = sqlx::PgConnection::connect(&self.index_url).await.expect("connects");
            sqlx::query(statement).execute(&mut conn).await.expect("runs");
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&self.index_url).await.expect("connects");
            sqlx::query(statement).execute(&mut conn).await.expect("runs");
        }
    }

    fn is_postgres(&self) -> bool {
        self.index_url.starts_with("postgres")
    }

    /// A blob literal of 32 bytes `byte` in the index's SQL.
    fn fingerprint_literal(&self, byte: u8) -> String {
        let hex = format!("{byte:02x}").repeat(32);
        if self.is_postgres() { format!("decode('{hex}', 'hex')") } else { format!("X'{hex}'") }
    }

    async fn replace(store: &dyn ObjectStore, key: &str, bytes: Vec<u8>) {
        assert!(store.delete(key).await.expect("deletes"), "{key} existed");
        store.put_if_absent(key, Bytes::from(bytes)).await.expect("writes");
    }

    async fn object(store: &dyn ObjectStore, key: &str) -> Option<Vec<u8>> {
        store.get(key).await.expect("reads").map(|b| b.to_vec())
    }
}

/// An archive of 60 deliveries on a filesystem store and SQLite in `dir`.
pub async fn fs_archive(dir: &Path) -> Archive {
    let (objects, replica) = (dir.join("objects"), dir.join("replica"));
    let store: Arc<dyn ObjectStore> = Arc::new(FsStore::create(&objects).await.expect("store"));
    let copy: Arc<dyn ObjectStore> = Arc::new(FsStore::create(&replica).await.expect("replica"));
    let index_url = sqlite_url(dir, "index.db");
    Archive::build((store, file_url(&objects)), (copy, file_url(&replica)), index_url, Vec::new(), 60).await
}

/// The findings of a report, as (kind, key).
fn findings(report: &serde_json::Value) -> BTreeSet<(String, String)> {
    let listed = report["findings"].as_array().unwrap_or_else(|| panic!("findings in {report}"));
    listed.iter().map(|f| (text(&f["kind"]), text(&f["key"]))).collect()
}

/// The repair actions of a report, as (finding kind, key) → action.
fn actions(report: &serde_json::Value) -> BTreeMap<(String, String), String> {
    let listed = report["repair"]["actions"].as_array().unwrap_or_else(|| panic!("actions in {report}"));
    listed.iter().map(|a| ((text(&a["finding"]), text(&a["key"])), text(&a["action"]))).collect()
}

fn text(value: &serde_json::Value) -> String {
    value.as_str().unwrap_or_else(|| panic!("a string: {value}")).to_owned()
}

fn count(report: &serde_json::Value, name: &str) -> u64 {
    report["counts"][name].as_u64().unwrap_or_else(|| panic!("counts.{name} in {report}"))
}

/// One kind of damage, done to the archive, and what audit must find.
struct Case {
    name: &'static str,
    /// The findings it causes, as (kind, key).
    found: Vec<(&'static str, String)>,
}

/// The keys repair acts on, for the checks after it.
struct Damaged {
    cases: Vec<Case>,
    /// An object deleted from the primary, intact in the replica.
    deleted: (String, Vec<u8>),
    /// A row deleted (its object intact).
    unindexed: IndexRow,
    /// Orphans repair cannot index: a copy of an object under another
    /// day, and bytes that do not decode.
    copy_key: String,
    junk_key: String,
}

/// Damages `archive` in every way audit claims to find, one victim row per
/// case.
async fn damage(archive: &Archive) -> Damaged {
    let (store, replica) = (&*archive.store, &*archive.replica);
    let victims: Vec<&IndexRow> = archive.rows.values().collect();
    assert!(victims.len() >= 12, "enough rows to damage: {}", victims.len());
    let original = |row: &IndexRow| {
        let key = row.key.clone();
        async move { Archive::object(store, &key).await.expect("archived") }
    };
    let flipped = |mut bytes: Vec<u8>| {
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x5a;
        bytes
    };
    let mut cases = Vec::new();

    let a = victims[0];
    let deleted = (a.key.clone(), original(a).await);
    assert!(store.delete(&a.key).await.expect("deletes"));
    cases.push(Case {
        name: "deleted object",
        found: vec![("missing_object", a.key.clone()), ("replica_extra", a.key.clone())],
    });

    let b = victims[1];
    let bytes = original(b).await;
    Archive::replace(store, &b.key, bytes[..bytes.len() - 10].to_vec()).await;
    cases.push(Case {
        name: "truncated object",
        found: vec![("size_mismatch", b.key.clone()), ("replica_differs", b.key.clone())],
    });

    let c = victims[2];
    Archive::replace(store, &c.key, flipped(original(c).await)).await;
    cases.push(Case {
        name: "flipped byte",
        found: vec![("crc_mismatch", c.key.clone()), ("replica_differs", c.key.clone())],
    });

    let d = victims[3];
    archive.sql(format!("UPDATE messages SET size = size + 1 WHERE uuid = '{}'", d.uuid)).await;
    cases.push(Case { name: "row with the wrong size", found: vec![("size_mismatch", d.key.clone())] });

    let e = victims[4];
    archive.sql(format!("DELETE FROM messages WHERE uuid = '{}'", e.uuid)).await;
    cases.push(Case { name: "row missing (its object an orphan)", found: vec![("orphan", e.key.clone())] });

    let f = victims[5];
    let copy_key = format!("{}/1999/01/01/{}.bson", f.topic, f.uuid);
    store.put_if_absent(&copy_key, Bytes::from(original(f).await)).await.expect("writes");
    cases.push(Case {
        name: "a copy under another day (orphan its row does not reference)",
        found: vec![("orphan", copy_key.clone()), ("replica_missing", copy_key.clone())],
    });

    let g = victims[6];
    let junk_key = format!("{}/2001/01/01/{}.bson", g.topic, Uuid::new_v4());
    store.put_if_absent(&junk_key, Bytes::from_static(b"not an archive object")).await.expect("writes");
    cases.push(Case {
        name: "undecodable orphan",
        found: vec![("orphan", junk_key.clone()), ("replica_missing", junk_key.clone())],
    });

    let h = victims[7];
    assert!(replica.delete(&h.key).await.expect("deletes"));
    cases.push(Case { name: "missing replica object", found: vec![("replica_missing", h.key.clone())] });

    let i = victims[8];
    Archive::replace(replica, &i.key, flipped(original(i).await)).await;
    cases.push(Case { name: "replica with different bytes", found: vec![("replica_differs", i.key.clone())] });

    let j = victims[9];
    let bytes = original(j).await;
    assert!(store.delete(&j.key).await.expect("deletes"));
    Archive::replace(replica, &j.key, flipped(bytes)).await;
    cases.push(Case {
        name: "deleted object whose replica differs",
        found: vec![("missing_object", j.key.clone()), ("replica_extra", j.key.clone())],
    });

    let k = victims[10];
    archive
        .sql(format!(
            "UPDATE messages SET fingerprint = {} WHERE uuid = '{}'",
            archive.fingerprint_literal(0xab),
            k.uuid
        ))
        .await;
    cases.push(Case { name: "row with another fingerprint", found: vec![("fingerprint_mismatch", k.key.clone())] });

    let l = victims[11];
    let junk = b"not bson at all".to_vec();
    let crc = crc32fast::hash(&junk);
    Archive::replace(store, &l.key, junk.clone()).await;
    archive.sql(format!("UPDATE messages SET size = {}, crc32 = {crc} WHERE uuid = '{}'", junk.len(), l.uuid)).await;
    Archive::replace(replica, &l.key, junk).await;
    cases.push(Case { name: "undecodable object (its row agrees)", found: vec![("undecodable", l.key.clone())] });

    Damaged { cases, deleted, unindexed: e.clone(), copy_key, junk_key }
}

/// Every finding `cases` cause, as (kind, key), and the case of each.
fn expected(cases: &[Case]) -> BTreeMap<(String, String), &'static str> {
    let mut all = BTreeMap::new();
    for case in cases {
        for (kind, key) in &case.found {
            assert!(all.insert((kind.to_string(), key.clone()), case.name).is_none(), "one finding per case");
        }
    }
    all
}

/// Compares found with expected, naming the case of each difference.
fn assert_found(report: &serde_json::Value, expected: &BTreeMap<(String, String), &'static str>, when: &str) {
    let found = findings(report);
    let missed: Vec<String> = expected
        .iter()
        .filter(|(f, _)| !found.contains(*f))
        .map(|((kind, _), case)| format!("{case}: {kind}"))
        .collect();
    let extra: Vec<&(String, String)> = found.iter().filter(|f| !expected.contains_key(*f)).collect();
    assert!(
        missed.is_empty() && extra.is_empty(),
        "{when}: not found {missed:?}; found beyond the damage {extra:?}\n{report}"
    );
    assert_eq!(report["findings_total"].as_u64(), Some(expected.len() as u64), "{when}: {report}");
}

/// The whole story on one archive: whole → nothing; damaged → each
/// damage found; repair heals only what it promises; audit after repair
/// finds only what repair must not touch.
pub async fn every_damage_is_found_and_only_the_safe_repaired(archive: Archive) {
    let n = archive.rows.len() as u64;
    let replica = ["--replica", archive.replica_url.as_str(), "--grace-ms", "1"];

    let (code, whole) = archive.run("audit", &replica);
    assert_eq!((code, whole["whole"].clone(), whole["findings_total"].clone()), (0, true.into(), 0.into()), "{whole}");
    for (name, expected) in
        [("rows", n), ("rows_checked", n), ("store_objects", n), ("replica_keys", n), ("replica_compared", n)]
    {
        assert_eq!(count(&whole, name), expected, "{name}: {whole}");
    }
    assert!(whole["throughput"]["objects_checked_per_second"].as_f64().is_some_and(|r| r > 0.0), "{whole}");
    let (code, sampled) = archive.run("audit", &[&replica[..], &["--sample", "5"]].concat());
    assert_eq!(code, 0, "{sampled}");
    let checked = count(&sampled, "rows_checked");
    assert!(checked > 0 && checked < n && checked + count(&sampled, "rows_not_sampled") == n, "{sampled}");
    assert_eq!(
        archive.run("audit", &[&replica[..], &["--sample", "5"]].concat()).1["counts"],
        sampled["counts"],
        "the same sample"
    );
    let (code, young) = archive.run("audit", &["--replica", &archive.replica_url]);
    assert_eq!(code, 0, "nothing is young but whole: {young}");

    let damaged = damage(&archive).await;
    let mut expected = expected(&damaged.cases);
    let (code, report) = archive.run("audit", &replica);
    assert_eq!(code, 1, "{report}");
    assert_found(&report, &expected, "audit of the damaged archive");
    let truncated = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["kind"] == "size_mismatch" && f["key"] == damaged.cases[1].found[0].1);
    let truncated = truncated.unwrap_or_else(|| panic!("the truncation: {report}"));
    assert_eq!(truncated["row_bytes"].as_u64(), truncated["object_bytes"].as_u64().map(|b| b + 10), "{truncated}");

    // With the default grace period (an hour), the orphans and the keys
    // missing from the replica, all just written, are not reported.
    let (code, graced) = archive.run("audit", &["--replica", &archive.replica_url]);
    assert_eq!(code, 1, "{graced}");
    let young: BTreeMap<_, _> = expected
        .iter()
        .filter(|((kind, _), _)| kind != "orphan" && kind != "replica_missing")
        .map(|(f, c)| (f.clone(), *c))
        .collect();
    assert_found(&graced, &young, "audit within the grace period");
    assert_eq!(count(&graced, "young_orphans"), 3, "{graced}");
    assert_eq!(count(&graced, "young_unreplicated"), 3, "{graced}");

    // A dry run changes nothing and says what it would do.
    let (code, dry) = archive.run("repair", &replica);
    assert_eq!(code, 1, "{dry}");
    let would = actions(&dry);
    let key = |case: usize| damaged.cases[case].found[0].1.clone();
    assert_eq!(would[&("missing_object".into(), key(0))], "would_restore_object", "{dry}");
    assert_eq!(would[&("orphan".into(), key(4))], "would_insert_row", "{dry}");
    assert_eq!(would[&("missing_object".into(), key(9))], "left_alone", "the replica's bytes differ: {dry}");
    assert_eq!(would.values().filter(|a| a.starts_with("would_")).count(), 2, "{dry}");
    assert_found(&archive.run("audit", &replica).1, &expected, "audit after a dry run");

    // --apply: the missing object restored from the replica, the missing
    // row inserted; everything else left alone and reported.
    let (code, repaired) = archive.run("repair", &[&replica[..], &["--apply"]].concat());
    assert_eq!(code, 1, "findings are left: {repaired}");
    let done = actions(&repaired);
    assert_eq!(done[&("missing_object".into(), key(0))], "object_restored", "{repaired}");
    assert_eq!(done[&("orphan".into(), key(4))], "row_inserted", "{repaired}");
    let restored: Vec<_> = done.iter().filter(|(_, a)| a.as_str() != "left_alone").collect();
    assert_eq!(restored.len(), 2, "only what is safe: {repaired}");
    let refusal = repaired["repair"]["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .find(|a| a["key"] == key(9) && a["finding"] == "missing_object");
    let refusal = refusal.unwrap_or_else(|| panic!("the differing replica: {repaired}"));
    assert!(text(&refusal["detail"]).contains("is not the object the row describes"), "{refusal}");
    assert_eq!(
        Archive::object(&*archive.store, &damaged.deleted.0).await,
        Some(damaged.deleted.1.clone()),
        "restored byte for byte"
    );
    assert_eq!(Archive::object(&*archive.store, &key(9)).await, None, "not restored from other bytes");
    let index = archiver::index::open(&archive.index_url).await.expect("index");
    let row = index.get(damaged.unindexed.uuid).await.expect("looks up").expect("the row is back").row;
    assert_eq!(
        super::real::comparable(&row),
        super::real::comparable(&damaged.unindexed),
        "built as reindex builds it"
    );

    for healed in [("missing_object", key(0)), ("replica_extra", key(0)), ("orphan", key(4))] {
        assert!(expected.remove(&(healed.0.to_owned(), healed.1)).is_some());
    }
    let (code, after) = archive.run("audit", &replica);
    assert_eq!(code, 1, "{after}");
    assert_found(&after, &expected, "audit after repair");

    // Orphans: reported only; --delete-orphans deletes them, but never
    // within the grace period.
    let orphans = [damaged.copy_key.clone(), damaged.junk_key.clone()];
    for orphan in &orphans {
        let action = &done[&("orphan".into(), orphan.clone())];
        assert_eq!(action, "left_alone", "{orphan} without --delete-orphans: {repaired}");
    }
    let (code, kept) = archive.run("repair", &["--replica", &archive.replica_url, "--apply", "--delete-orphans"]);
    assert_eq!(code, 1, "{kept}");
    for orphan in &orphans {
        assert!(
            Archive::object(&*archive.store, orphan).await.is_some(),
            "{orphan} is younger than the grace period: {kept}"
        );
    }
    let (code, deleted) = archive.run("repair", &[&replica[..], &["--apply", "--delete-orphans"]].concat());
    assert_eq!(code, 1, "{deleted}");
    let done = actions(&deleted);
    for orphan in &orphans {
        assert_eq!(done[&("orphan".into(), orphan.clone())], "orphan_deleted", "{deleted}");
        assert!(Archive::object(&*archive.store, orphan).await.is_none(), "{orphan}");
        for kind in ["orphan", "replica_missing"] {
            expected.remove(&(kind.to_owned(), orphan.clone()));
        }
    }
    let original = &archive.rows[&damaged.unindexed.uuid];
    assert!(Archive::object(&*archive.store, &original.key).await.is_some(), "the copy's original is kept");

    let (code, last) = archive.run("audit", &replica);
    assert_eq!(code, 1, "{last}");
    assert_found(&last, &expected, "audit after deleting the orphans");
    let left: BTreeSet<&str> = expected.values().copied().collect();
    assert_eq!(
        left,
        BTreeSet::from([
            "truncated object",
            "flipped byte",
            "row with the wrong size",
            "missing replica object",
            "replica with different bytes",
            "deleted object whose replica differs",
            "row with another fingerprint",
            "undecodable object (its row agrees)",
        ]),
        "what repair must not touch"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_damage_is_found_and_only_the_safe_repaired_on_fs_and_sqlite() {
    let tmp = tempfile::tempdir().expect("tempdir");
    every_damage_is_found_and_only_the_safe_repaired(fs_archive(tmp.path()).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_stopped_at_max_objects_resumes_to_the_same_report() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = fs_archive(tmp.path()).await;
    damage(&archive).await;
    let replica = ["--replica", archive.replica_url.as_str(), "--grace-ms", "1"];
    let (code, whole) = archive.run("audit", &replica);
    assert_eq!(code, 1, "{whole}");

    let state_dir = tmp.path().join("jobs").display().to_string();
    let job =
        [&replica[..], &["--job", "a", "--state-dir", &state_dir, "--max-objects", "7", "--concurrency", "3"]].concat();
    let mut runs = 0;
    let last = loop {
        let (code, report) = archive.run("audit", &job);
        runs += 1;
        assert!(report["items_this_run"].as_u64().is_some_and(|n| n <= 7), "{report}");
        if report["complete"] == true {
            assert_eq!(code, 1, "{report}");
            break report;
        }
        assert_eq!(report["stopped_early"], true, "{report}");
        let found = report["findings_total"].as_u64().unwrap_or_default();
        assert_eq!(code, if found == 0 { 3 } else { 1 }, "{report}");
        assert!(runs < 100, "the job does not advance: {report}");
    };
    assert!(runs > 10, "stopped and resumed often: {runs}");
    assert_eq!(last["counts"], whole["counts"], "every row and key counted once");
    assert_eq!(findings(&last), findings(&whole));
    let (code, again) = archive.run("audit", &job);
    assert_eq!((code, again["already_finished"].clone(), again["items_this_run"].clone()), (1, true.into(), 0.into()));

    // A job is tied to its command.
    let (code, out, err) = archiver(
        &[
            "audit",
            "--store",
            &archive.store_url,
            "--index",
            &archive.index_url,
            "--job",
            "a",
            "--state-dir",
            &state_dir,
        ],
        &[],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("use another --job name"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn topics_and_windows_select_rows_and_keys() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = fs_archive(tmp.path()).await;
    let topics: BTreeSet<&str> = archive.rows.values().map(|r| r.topic.as_str()).collect();
    let topic = *topics.iter().next().expect("a topic");
    let of_topic = archive.rows.values().filter(|r| r.topic == topic).count() as u64;
    let (code, report) = archive.run("audit", &["--topic", topic, "--replica", &archive.replica_url]);
    assert_eq!(code, 0, "{report}");
    for name in ["rows_checked", "store_objects", "replica_keys"] {
        assert_eq!(count(&report, name), of_topic, "{name}: {report}");
    }
    // A window of one day: the rows of that day, the keys of that day.
    let day = |t: i64| t.div_euclid(86_400_000) * 86_400_000;
    let first = archive.rows.values().filter(|r| r.timestamp >= 0).map(|r| day(r.timestamp)).min().expect("a row");
    let (start, end) = (first.to_string(), (first + 86_400_000).to_string());
    let in_day = archive.rows.values().filter(|r| day(r.timestamp) == first).count() as u64;
    let (code, report) = archive.run("audit", &["--start", &start, "--end", &end]);
    assert_eq!(code, 0, "{report}");
    assert_eq!((count(&report, "rows_checked"), count(&report, "store_objects")), (in_day, in_day), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_backends_and_flags_fail_with_a_clear_message() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let objects = tmp.path().join("objects");
    super::upstream_bucket(&objects).await;
    let store = file_url(&objects);
    let index = sqlite_url(tmp.path(), "index.db");
    let closed = crate::support::free_port();
    let unreachable_s3 = format!("s3://archive?endpoint=http://127.0.0.1:{closed}&region=us-east-1");
    let fake_keys = [("AWS_ACCESS_KEY_ID", "nobody".to_owned()), ("AWS_SECRET_ACCESS_KEY", "nothing".to_owned())];
    let ok = ["--index", index.as_str(), "--store", store.as_str()];
    let with = |extra: &[&'static str]| -> Vec<String> { ok.iter().chain(extra).map(|s| s.to_string()).collect() };
    let cases: Vec<(&str, Vec<String>, Vec<&str>)> = vec![
        (
            "audit",
            vec![
                "--index".into(),
                "postgres://archiver:hunter2@127.0.0.1:1/archive".into(),
                "--store".into(),
                store.clone(),
            ],
            vec!["index postgres://archiver:***@127.0.0.1:1/archive", "unavailable"],
        ),
        (
            "audit",
            vec!["--index".into(), index.clone(), "--store".into(), "s3://x".into()],
            vec!["invalid store URL", "bucket names"],
        ),
        (
            "audit",
            vec!["--index".into(), index.clone(), "--store".into(), unreachable_s3.clone()],
            vec!["object store s3://archive", "unavailable"],
        ),
        (
            "audit",
            vec!["--index".into(), index.clone(), "--store".into(), "memory://".into()],
            vec!["keeps nothing after the process exits"],
        ),
        ("audit", with(&["--replica", "memory://"]), vec!["--replica", "keeps nothing after the process exits"]),
        ("audit", with(&["--replica", "ftp://host/dir"]), vec!["--replica", "invalid value"]),
        ("audit", with(&["--replica", "s3://x"]), vec!["replica object store", "bucket names"]),
        (
            "repair",
            ok.iter().map(|s| s.to_string()).chain(["--replica".into(), unreachable_s3.clone()]).collect(),
            vec!["replica object store s3://archive", "unavailable"],
        ),
        (
            "audit",
            ok.iter().map(|s| s.to_string()).chain(["--replica".into(), store.clone()]).collect(),
            vec!["--replica", "the primary store itself"],
        ),
        ("audit", with(&["-t", "gcn.*,nope*"]), vec!["--topic nope*", "matches no topic"]),
        ("audit", with(&["--start", "2024-01-02T00:00:00Z", "--end", "2024-01-01T00:00:00Z"]), vec!["empty window"]),
        ("audit", with(&["--start", "yesterday"]), vec!["--start", "invalid time"]),
        ("repair", with(&["--delete-orphans", "--grace-ms", "0"]), vec!["--delete-orphans", "give a grace period"]),
    ];
    for (command, args, expected) in cases {
        let all: Vec<&str> = [command].into_iter().chain(args.iter().map(String::as_str)).collect();
        let (code, out, err) = archiver(&all, &fake_keys);
        assert_eq!(code, 2, "{all:?} exits 2: {out}{err}");
        for text in expected {
            assert!(err.contains(text), "{all:?}: {text:?} not in {err}");
        }
        assert!(!err.contains("hunter2"), "a password leaked: {err}");
    }
}
