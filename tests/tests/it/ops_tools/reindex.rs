//! `archiver reindex` on a filesystem store and SQLite files.

use super::{
    all_rows, archiver, file_url, reindexed, sqlite_url, store_contents, total, upstream_bucket, upstream_key,
    upstream_object_without_id,
};
use archiver::identity::{self, parse_object_key};
use archiver::index::{IndexRow, TimestampType};
use archiver::record::{Key, Message, Record};
use archiver::store::{FsStore, ObjectStore};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::path::Path;
use uuid::Uuid;

/// The backend flags for a store at `objects` and the index `db`.
fn backends(objects: &Path, index: &str) -> Vec<String> {
    vec!["--store".into(), file_url(objects), "--index".into(), index.to_owned()]
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Rows without the column every run sets anew.
fn without_ingest_time(rows: BTreeMap<Uuid, IndexRow>) -> BTreeMap<Uuid, IndexRow> {
    rows.into_iter().map(|(uuid, row)| (uuid, IndexRow { ingested_at: 0, ..row })).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_bucket_is_adopted_as_it_is() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let objects = tmp.path().join("hopskotch-archive");
    let (written, twice) = upstream_bucket(&objects).await;
    let index_url = sqlite_url(tmp.path(), "index.db");
    let mut args = backends(&objects, &index_url);
    args.extend(["--public-topics".into(), "gcn.*,lvk.alerts".into()]);
    let summary = reindexed(&strs(&args), &[]);

    let n = written.len() as u64;
    assert_eq!(n, 11, "nine fixtures and a message stored twice");
    assert_eq!((total(&summary, "objects"), total(&summary, "inserted")), (n, n), "{summary}");
    for (count, expected) in [("duplicates", 1), ("legacy", 4), ("conflicts", 0), ("unreadable", 0)] {
        assert_eq!(total(&summary, count), expected, "{count}: {summary}");
    }
    for (count, expected) in [("uuid_mismatches", 0), ("ignored_keys", 0), ("index_differs", 0)] {
        assert_eq!(total(&summary, count), expected, "{count}: {summary}");
    }
    let duplicate = summary["notes"].as_array().expect("notes").iter().find(|n| n["kind"] == "duplicate");
    let duplicate = duplicate.unwrap_or_else(|| panic!("the message stored twice is reported: {summary}"));
    let (noted, detail) = (duplicate["uuid"].as_str().expect("uuid"), duplicate["detail"].as_str().expect("detail"));
    let [a, b] = twice.map(|u| u.to_string());
    assert!((noted == a && detail.contains(&b)) || (noted == b && detail.contains(&a)), "{duplicate}");
    assert_eq!(store_contents(&objects).await, written, "nothing moved, rewritten or added in the store");

    let index = archiver::index::open(&index_url).await.expect("index");
    let rows = all_rows(&*index).await;
    assert_eq!(rows.len(), written.len(), "one row per object, both copies included");
    for (key, bytes) in &written {
        let parsed = parse_object_key(key).expect("an upstream key");
        let row = rows.get(&parsed.uuid).unwrap_or_else(|| panic!("no row for {key}"));
        let record = Record::decode(bytes).expect("decodes");
        let message = record.message();
        let id = identity::Identity::of(&message);
        assert_eq!((&row.key, row.bucket.as_str()), (key, "hopskotch-archive"), "the key as found");
        assert_eq!((row.size as usize, row.crc32), (bytes.len(), crc32fast::hash(bytes)), "{key}");
        assert_eq!(row.fingerprint, id.fingerprint.0, "{key}");
        assert_eq!((row.is_client_uuid, row.claimed_uuid), (id.client_uuid == Some(parsed.uuid), None), "{key}");
        assert_eq!((row.partition, row.kafka_offset, row.retracted), (None, None, false), "{key}");
        assert_eq!(row.topic, message.topic);
        assert_eq!(row.message_crc32, crc32fast::hash(message.payload.as_deref().unwrap_or_default()));
        let upload = record.annotations.as_ref().and_then(|a| a.flag("direct_upload")) == Some(true);
        assert_eq!(row.direct_upload, upload, "{key}");
        let expected_type = if upload { TimestampType::Upload } else { TimestampType::Create };
        assert_eq!((row.timestamp, row.timestamp_type), (message.timestamp, expected_type), "{key}");
        // Public by the configuration, whatever the object says (upstream
        // marked every ingested message public before v1.3.0).
        let public = ["gcn.notice", "lvk.alerts+oversized"].contains(&message.topic.as_str());
        assert_eq!(row.public, public, "{key}");
    }
    let by_file = |name: &str| {
        let uuid = |s| Uuid::parse_str(s).expect("uuid");
        &rows[&uuid(name)]
    };
    let vector = by_file("01234567-aaaa-bbbb-cccc-0123456789de");
    assert_eq!((vector.media_type.as_str(), vector.sender.as_str()), ("application/json", "alice"));
    let upload = by_file("3d10fac6-359f-48e6-b042-e4d6dda89875");
    assert_eq!((upload.title.as_str(), upload.originator.as_str()), ("Über", "LVK"));
    assert_eq!(by_file("71670051-73b6-4750-9395-984eb437372b").media_type, "application/json", "E2 legacy");

    // Again: every row is there already; nothing is inserted or reported twice.
    let again = reindexed(&strs(&args), &[]);
    assert_eq!((total(&again, "inserted"), total(&again, "already_indexed")), (0, n), "{again}");
    assert_eq!(all_rows(&*index).await.len(), written.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_inserts_nothing_and_says_what_it_would() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let objects = tmp.path().join("objects");
    let (written, _) = upstream_bucket(&objects).await;
    let index_url = sqlite_url(tmp.path(), "index.db");
    let mut args = backends(&objects, &index_url);
    args.push("--dry-run".into());
    let summary = reindexed(&strs(&args), &[]);
    assert_eq!(summary["dry_run"], true);
    assert_eq!(total(&summary, "inserted"), written.len() as u64, "what would be inserted: {summary}");
    let index = archiver::index::open(&index_url).await.expect("index");
    assert!(all_rows(&*index).await.is_empty(), "a dry run inserts nothing");
}

/// A store of 20 objects: 15 in one day of `t1` — a message stored twice
/// first and last, so that stops fall between the copies — and 5 in `t2`.
async fn two_topics(dir: &Path) -> usize {
    let store = FsStore::create(dir).await.expect("store");
    let at = 1_704_420_000_000; // 2024-01-05T02:00:00Z
    let message = |topic: &str, n: u32| Message {
        topic: topic.into(),
        timestamp: at + i64::from(n),
        key: Key::Null,
        headers: Vec::new(),
        payload: Some(format!("message {n}").into_bytes()),
    };
    let mut objects: Vec<(String, Vec<u8>)> = Vec::new();
    let twice = message("t1", 0);
    for uuid in [Uuid::from_u128(1), Uuid::from_u128(u128::MAX)] {
        objects.push((upstream_key("t1", twice.timestamp, uuid), upstream_object_without_id(&twice, uuid)));
    }
    for n in 1..=13u32 {
        let (m, uuid) = (message("t1", n), Uuid::from_u128(u128::from(n) << 100));
        objects.push((upstream_key("t1", m.timestamp, uuid), upstream_object_without_id(&m, uuid)));
    }
    for n in 1..=5u32 {
        let (m, uuid) = (message("t2", n), Uuid::from_u128(u128::from(n) << 64));
        objects.push((upstream_key("t2", m.timestamp, uuid), upstream_object_without_id(&m, uuid)));
    }
    for (key, bytes) in &objects {
        store.put_if_absent(key, Bytes::from(bytes.clone())).await.expect("stored");
    }
    objects.len()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_stopped_at_max_objects_resumes_and_still_finds_the_duplicate() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let objects = tmp.path().join("objects");
    let n = two_topics(&objects).await as u64;
    let state_dir = tmp.path().join("jobs").display().to_string();
    let resumed_url = sqlite_url(tmp.path(), "resumed.db");
    let mut args = backends(&objects, &resumed_url);
    args.extend(
        ["--job", "adopt", "--state-dir", &state_dir, "--batch-rows", "3", "--max-objects", "4"].map(String::from),
    );
    let mut runs = Vec::new();
    loop {
        let summary = reindexed(&strs(&args), &[]);
        assert!(summary["objects_this_run"].as_u64().expect("count") <= 4, "{summary}");
        runs.push(summary.clone());
        if summary["complete"] == true {
            break;
        }
        assert_eq!(summary["stopped_early"], true, "{summary}");
        assert!(runs.len() < 10, "the job does not advance: {summary}");
    }
    let last = runs.last().expect("a run");
    assert_eq!(runs.iter().map(|r| r["objects_this_run"].as_u64().expect("count")).sum::<u64>(), n);
    assert_eq!((total(last, "objects"), total(last, "inserted")), (n, n), "counts carried over: {last}");
    assert_eq!(total(last, "duplicates"), 1, "the copies, 14 keys apart, straddle a stop: {last}");
    let finished = reindexed(&strs(&args), &[]);
    assert_eq!((finished["already_finished"].clone(), finished["objects_this_run"].clone()), (true.into(), 0.into()));

    // The same rows as one uninterrupted run.
    let whole_url = sqlite_url(tmp.path(), "whole.db");
    let whole = reindexed(&strs(&backends(&objects, &whole_url)), &[]);
    assert_eq!(total(&whole, "duplicates"), 1);
    let resumed = archiver::index::open(&resumed_url).await.expect("index");
    let at_once = archiver::index::open(&whole_url).await.expect("index");
    let resumed_rows = without_ingest_time(all_rows(&*resumed).await);
    assert_eq!(resumed_rows.len() as u64, n);
    assert_eq!(resumed_rows, without_ingest_time(all_rows(&*at_once).await));

    // The job is tied to its selection.
    let mut other = args.clone();
    other.extend(["--topic".into(), "t1".into()]);
    let (code, _, err) = archiver(&[&["reindex"][..], &strs(&other)].concat(), &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("use another --job name"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_killed_mid_run_finishes_on_rerun_with_every_row_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let objects = tmp.path().join("objects");
    let store = FsStore::create(&objects).await.expect("store");
    let n = 300u32;
    for i in 0..n {
        let message = Message {
            topic: format!("topic-{}", i % 3),
            timestamp: 1_704_420_000_000 + i64::from(i) * 600_000,
            key: Key::Bytes(i.to_be_bytes().to_vec()),
            headers: Vec::new(),
            payload: Some(vec![b'x'; 100 + i as usize]),
        };
        let uuid = Uuid::new_v4();
        let key = upstream_key(&message.topic, message.timestamp, uuid);
        store.put_if_absent(&key, Bytes::from(upstream_object_without_id(&message, uuid))).await.expect("stored");
    }
    let state_dir = tmp.path().join("jobs");
    let index_url = sqlite_url(tmp.path(), "index.db");
    let mut args = vec!["reindex".to_owned(), "--json".to_owned()];
    args.extend(backends(&objects, &index_url));
    args.extend(["--job", "k", "--batch-rows", "1", "--fetch-concurrency", "1"].map(String::from));
    args.extend(["--state-dir".to_owned(), state_dir.display().to_string()]);
    let job_file = state_dir.join("k.json");
    let mut child = std::process::Command::new(crate::support::binary("archiver"))
        .args(&args)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("archiver starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !job_file.exists() {
        assert!(std::time::Instant::now() < deadline, "no checkpoint within a minute");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    std::thread::sleep(std::time::Duration::from_millis(20));
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&job_file).expect("job file")).expect("JSON");
    assert_eq!(saved["finished"], false, "the kill came too late to test anything: {saved}");

    let (code, out, err) = archiver(&strs(&args), &[]);
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(summary["complete"], true);
    let n = u64::from(n);
    assert_eq!(total(&summary, "objects"), n, "every key counted once: {summary}");
    let (inserted, already) = (total(&summary, "inserted"), total(&summary, "already_indexed"));
    assert_eq!(inserted + already, n, "{summary}");
    assert!(already <= 1, "at most the batch after the last checkpoint is redone: {summary}");
    let index = archiver::index::open(&index_url).await.expect("index");
    let rows = all_rows(&*index).await;
    assert_eq!(rows.len() as u64, n, "every object indexed, none twice");
    let whole_url = sqlite_url(tmp.path(), "whole.db");
    reindexed(&strs(&backends(&objects, &whole_url)), &[]);
    let whole = archiver::index::open(&whole_url).await.expect("index");
    assert_eq!(without_ingest_time(rows), without_ingest_time(all_rows(&*whole).await));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_backends_and_flags_fail_with_a_clear_message() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let objects = tmp.path().join("objects");
    upstream_bucket(&objects).await;
    let store = file_url(&objects);
    let index = sqlite_url(tmp.path(), "index.db");
    let closed = crate::support::free_port();
    let unreachable_s3 = format!("s3://archive?endpoint=http://127.0.0.1:{closed}&region=us-east-1");
    let fake_keys = [("AWS_ACCESS_KEY_ID", "nobody".to_owned()), ("AWS_SECRET_ACCESS_KEY", "nothing".to_owned())];
    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        (
            vec!["--index", "postgres://archiver:hunter2@127.0.0.1:1/archive", "--store", &store],
            &["index postgres://archiver:***@127.0.0.1:1/archive", "unavailable"],
        ),
        (vec!["--index", &index, "--store", "s3://x"], &["invalid store URL", "bucket names"]),
        (vec!["--index", &index, "--store", "ftp://host/dir"], &["backends.store_url"]),
        (vec!["--index", "mysql://host/db", "--store", &store], &["backends.index_url"]),
        (vec!["--index", &index, "--store", "memory://"], &["keeps nothing after the process exits"]),
        (vec!["--index", "sqlite::memory:", "--store", &store], &["keeps nothing after the process exits"]),
        (vec!["--index", &index, "--store", &unreachable_s3], &["object store s3://archive", "unavailable"]),
        (vec!["--index", &index, "--store", &store, "-t", "gcn.*,nope*"], &["--topic nope*", "matches no topic"]),
        (vec!["--index", &index, "--store", &store, "--dry-run", "--job", "j"], &["--dry-run", "leave out --job"]),
    ];
    for (args, expected) in cases {
        let (code, out, err) = archiver(&[&["reindex"][..], &args].concat(), &fake_keys);
        assert_eq!(code, 2, "{args:?} exits 2: {out}{err}");
        for text in expected {
            assert!(err.contains(text), "{args:?}: {text:?} not in {err}");
        }
        assert!(!err.contains("hunter2"), "a password leaked: {err}");
    }
}
