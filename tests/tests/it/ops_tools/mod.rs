//! The operator tools run as a user would: `archiver reindex` (the index
//! rebuilt from the store alone, an upstream bucket adopted, resumed after
//! a stop or a kill, refusals), `archiver inspect UUID`, and `archiver
//! audit`/`repair` (an archive damaged in every way audit claims to find).
//!
//! `reindex`, `inspect` and `audit` use a filesystem store and SQLite
//! files; `real` and `audit::real` (excluded from the `fast` profile) the
//! same on s3s-fs and PostgreSQL, and S3 refusing a wrong secret.

mod audit;
mod inspect;
mod real;
mod reindex;

use crate::pipeline::{log_of, stream};
use crate::support;
use archiver::identity::{self, civil_date};
use archiver::index::{Index, IndexRow, ListQuery};
use archiver::pipeline::{Context, RunLimits, RunSummary, run};
use archiver::record::{Key, Message, Record};
use archiver::store::{FsStore, ObjectStore};
use archiver::telemetry::metrics::Metrics;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use uuid::Uuid;

/// Runs `archiver args…` with `env` and returns (exit code, stdout, stderr).
pub fn archiver(args: &[&str], env: &[(&str, String)]) -> (i32, String, String) {
    let mut command = std::process::Command::new(support::binary("archiver"));
    command.args(args).env("RUST_LOG", "warn").env_remove("ARCHIVER_CONFIG");
    for (name, value) in env {
        command.env(name, value);
    }
    let Output { status, stdout, stderr } = command.output().expect("archiver runs");
    let code = status.code().expect("exited normally, not by a signal");
    (code, String::from_utf8_lossy(&stdout).into_owned(), String::from_utf8_lossy(&stderr).into_owned())
}

/// `archiver reindex --json` with `args` that must succeed: its summary.
pub fn reindexed(args: &[&str], env: &[(&str, String)]) -> serde_json::Value {
    let mut all = vec!["reindex", "--json"];
    all.extend_from_slice(args);
    let (code, out, err) = archiver(&all, env);
    assert_eq!(code, 0, "archiver {all:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("summary is JSON ({e}): {out}"))
}

/// A count of the summary's totals.
pub fn total(summary: &serde_json::Value, name: &str) -> u64 {
    summary["total"][name].as_u64().unwrap_or_else(|| panic!("total.{name} in {summary}"))
}

/// Every row of `index`, by UUID.
pub async fn all_rows(index: &dyn Index) -> BTreeMap<Uuid, IndexRow> {
    let mut query = ListQuery::every_row(Vec::new(), 1000);
    let mut rows = BTreeMap::new();
    loop {
        let page = index.list(&query).await.expect("lists");
        for entry in page.entries {
            assert!(rows.insert(entry.row.uuid, entry.row).is_none(), "one row per UUID");
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => return rows,
        }
    }
}

/// Upstream's object key (upstream.md §3): `<topic>/Y/M/D/H/<uuid>.bson`,
/// UTC from the Kafka timestamp, no zero padding.
pub fn upstream_key(topic: &str, timestamp_ms: i64, uuid: Uuid) -> String {
    let (year, month, day) = civil_date(timestamp_ms.div_euclid(86_400_000));
    let hour = timestamp_ms.rem_euclid(86_400_000) / 3_600_000;
    format!("{topic}/{year}/{month}/{day}/{hour}/{uuid}.bson")
}

/// The committed objects of upstream's encoders (tests/fixtures/upstream).
pub fn upstream_fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/upstream");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "bson"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| (p.file_name().expect("name").to_string_lossy().into_owned(), std::fs::read(&p).expect("reads")))
        .collect()
}

/// A message without `_id` (kcat, old hop clients) as upstream stored it
/// under the random UUID `uuid` it drew for this delivery.
pub fn upstream_object_without_id(message: &Message, uuid: Uuid) -> Vec<u8> {
    let annotations = identity::annotate(message, uuid, false, true, false).to_annotations();
    Record::new(message, annotations).encode().expect("encodes")
}

/// An upstream bucket in a filesystem store at `dir`: every fixture under
/// its upstream key (its `con_text_uuid`, or a random UUID for E0, which
/// had none), and one message without `_id` stored twice, under two random
/// UUIDs, as upstream did for a redelivery. Returns the keys and bytes
/// written, and the two UUIDs of the message stored twice.
pub async fn upstream_bucket(dir: &Path) -> (BTreeMap<String, Vec<u8>>, [Uuid; 2]) {
    let store = FsStore::create(dir).await.expect("store");
    let mut objects = BTreeMap::new();
    for (_, bytes) in upstream_fixtures() {
        let record = Record::decode(&bytes).expect("a fixture decodes");
        let uuid = record.annotations.as_ref().and_then(|a| a.text_uuid()).unwrap_or_else(Uuid::new_v4);
        objects.insert(upstream_key(&record.metadata.topic, record.metadata.timestamp, uuid), bytes);
    }
    let message = Message {
        topic: "kcat.topic".into(),
        timestamp: 1_704_420_000_000, // 2024-01-05T02:00:00Z
        key: Key::Null,
        headers: Vec::new(),
        payload: Some(b"sent twice by kcat".to_vec()),
    };
    let twice = [Uuid::new_v4(), Uuid::new_v4()];
    for uuid in twice {
        objects
            .insert(upstream_key(&message.topic, message.timestamp, uuid), upstream_object_without_id(&message, uuid));
    }
    for (key, bytes) in &objects {
        store.put_if_absent(key, Bytes::from(bytes.clone())).await.expect("stored");
    }
    (objects, twice)
}

/// Every key and object of the filesystem store at `dir`.
pub async fn store_contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let store = FsStore::create(dir).await.expect("store");
    let mut contents = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list("", after.as_deref(), 1000).await.expect("lists");
        for object in &page.objects {
            let bytes = store.get(&object.key).await.expect("reads").expect("listed");
            contents.insert(object.key.clone(), bytes.to_vec());
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return contents,
        }
    }
}

/// `file://` URL of `dir`.
pub fn file_url(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

/// `sqlite://` URL of a database file `name` in `dir`.
pub fn sqlite_url(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

/// An archive built by the ingest loop in `store` and `index`: a seeded
/// mockhop stream of `count` deliveries (redeliveries, disputed `_id`s,
/// messages without a timestamp) on three partitions, `gcn.*` public.
pub async fn pipeline_archive(
    store: Arc<dyn ObjectStore>,
    index: Arc<dyn Index>,
    seed: u64,
    count: usize,
) -> RunSummary {
    pipeline_archive_of(store, index, &stream(seed, count)).await
}

/// [`pipeline_archive`] of the given `deliveries`.
pub async fn pipeline_archive_of(
    store: Arc<dyn ObjectStore>,
    index: Arc<dyn Index>,
    deliveries: &[mockhop::Delivery],
) -> RunSummary {
    let log = log_of(deliveries);
    let context = Arc::new(Context {
        store,
        index,
        metrics: Arc::new(Metrics::new()),
        archive_test_messages: false,
        public_topics: vec!["gcn.*".into()],
        // As `archiver reindex --public-topics gcn.*` indexes text by default.
        text: archiver::text::TextIndexing { topics: vec!["gcn.*".into()], limits: Default::default() },
        retry_initial_backoff_ms: 1,
        retry_max_backoff_ms: 50,
        key_locks: Default::default(),
    });
    let limits = RunLimits {
        in_flight_max: 16,
        batch_rows_max: 64,
        batch_wait_ms: 5,
        max_messages: None,
        drain_timeout_ms: 5_000,
    };
    run(context, &limits, &mut log.consumer(), std::future::pending()).await.expect("archived")
}
