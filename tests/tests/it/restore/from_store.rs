//! `archiver restore --from-store`: the selection read from the object
//! store alone — the same messages as the index-driven export (with or
//! without a window, and with the index file gone), and upstream's legacy
//! objects under upstream's key layout.

use super::fixture::{Archive, Spec, b64, line_from_object, read_jsonl, uuid_of, without_provenance};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Lines without partition and offset, as a set (a store walk orders
/// topics, days and uploads differently from the index's lanes).
fn as_set(lines: &[Value]) -> BTreeSet<String> {
    let set: BTreeSet<String> = lines.iter().map(|l| without_provenance(l).to_string()).collect();
    assert_eq!(set.len(), lines.len(), "a line exported twice");
    set
}

/// Rule: with the index and from the store alone, an export selects the
/// same messages with the same contents (whole archive, a window of a few
/// hours — listed day by day — and one of years — listed per topic); the
/// store knows no partition or offset, so those are null.
#[test]
fn from_store_exports_what_the_index_exports() {
    let archive = Archive::build_blocking(Spec::standard());
    let windows: [&[&str]; 3] = [
        &[],
        &["--start", "2026-01-01T00:10:00Z", "--end", "2026-01-01T02:00:00Z"],
        &["--start", "0", "--end", "2025-01-01T00:00:00Z"],
    ];
    for (n, window) in windows.iter().enumerate() {
        let by_index = archive.export(&format!("index-{n}.jsonl"), window);
        let mut args = vec!["--from-store"];
        args.extend_from_slice(window);
        let by_store = archive.export(&format!("store-{n}.jsonl"), &args);
        assert!(by_index.len() > 5, "window {window:?} selects messages");
        assert!(by_store.iter().all(|l| l["partition"].is_null() && l["offset"].is_null()));
        assert_eq!(as_set(&by_store), as_set(&by_index), "window {window:?}");
    }
}

/// Rule: `--from-store` needs no index at all — it works with the index
/// file deleted, and does not create one (a restore never writes to the
/// archive).
#[test]
fn from_store_works_with_the_index_file_deleted() {
    let archive = Archive::build_blocking(Spec::standard());
    let by_index = archive.export("index.jsonl", &[]);
    for suffix in ["", "-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", archive.index_path().display()));
        if path.exists() {
            std::fs::remove_file(path).expect("delete index file");
        }
    }
    let by_store = archive.export("store.jsonl", &["--from-store"]);
    assert_eq!(as_set(&by_store), as_set(&by_index));
    assert!(!archive.index_path().exists(), "the restore created an index file");
}

/// Rule (regression: from the store alone, a selection holding no message
/// exported an empty file and exited 0, where the same selection from the
/// index — and a store dry run — is refused): an empty selection is an
/// error before the output is opened, whichever source selects.
#[test]
fn regression_from_store_empty_selection_is_an_error_not_an_empty_export() {
    let archive = Archive::build_blocking(Spec::standard());
    let out = archive.path("never.jsonl");
    let to = format!("--to=file:{}", out.display());
    let windows: [&[&str]; 2] = [
        &["--start", "1990-01-01T00:00:00Z", "--end", "1990-01-02T00:00:00Z"],
        &["-t", "restore.order", "--start", "0", "--end", "1000"],
    ];
    for window in windows {
        for source in [&[][..], &["--from-store"][..]] {
            let mut args = vec![to.as_str()];
            args.extend_from_slice(source);
            args.extend_from_slice(window);
            archive.restore(&args).fails_naming(&["selection is empty"]);
            assert!(!out.exists(), "{args:?} created its output");
        }
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/upstream").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An E1-shaped legacy object of our own: a header value stored as a
/// non-empty string, one as `""`, no key.
fn synthetic_legacy() -> Vec<u8> {
    let content = bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: b"{\"x\": 1}".to_vec() };
    let doc = bson::doc! {
        "message": { "format": "json", "content": content },
        "metadata": {
            "timestamp": 1_675_300_000_000_i64,
            "headers": [["title", "Über"], ["empty", ""]],
            "topic": "synthetic.legacy",
        },
    };
    doc.to_vec().expect("encode")
}

/// `<topic>/<Y>/<M>/<D>/<H>/<uuid>.bson`, unpadded, as upstream keyed objects.
fn upstream_key(topic: &str, timestamp_ms: i64, uuid: Uuid) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(timestamp_ms) * 1_000_000).expect("time");
    format!("{topic}/{}/{}/{}/{}/{uuid}.bson", at.year(), u8::from(at.month()), at.day(), at.hour())
}

/// The object's topic, timestamp and `con_text_uuid` (if any), by the `bson` crate.
fn facts(bytes: &[u8]) -> (String, i64, Option<Uuid>) {
    let doc = bson::RawDocument::from_bytes(bytes).expect("bson");
    let meta = doc.get_document("metadata").expect("metadata");
    let timestamp = match meta.get("timestamp").expect("timestamp") {
        Some(bson::RawBsonRef::Int32(t)) => i64::from(t),
        Some(bson::RawBsonRef::Int64(t)) => t,
        other => panic!("{other:?}"),
    };
    let uuid = doc
        .get_document("annotations")
        .ok()
        .and_then(|a| a.get_str("con_text_uuid").ok())
        .map(|u| Uuid::parse_str(u).expect("uuid"));
    (meta.get_str("topic").expect("topic").to_owned(), timestamp, uuid)
}

/// Rule: objects of upstream's eras under upstream's key layout restore
/// from the store: a legacy `message: {format, content}` gives `content` as
/// the value, a header stored as the string `""` is null and another string
/// its UTF-8, a missing key is null; current-layout objects as stored.
/// Keys that are not archive objects are ignored.
#[test]
fn from_store_restores_upstream_legacy_objects_under_upstream_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let objects = dir.path().join("objects");
    let names = [
        "e0-no-annotations.bson",
        "e1-simplebson-legacy.bson",
        "e2-pybson-legacy.bson",
        "e2-pybson-bytes.bson",
        "current-vector.bson",
        "current-crc-int32-no-headers.bson",
        "current-direct-upload.bson",
        "current-large-odd-headers.bson",
        "current-tombstone.bson",
    ];
    let mut stored: BTreeMap<Uuid, (String, Vec<u8>)> = BTreeMap::new();
    let all = names.iter().map(|n| ((*n).to_owned(), fixture(n))).chain([("synthetic".into(), synthetic_legacy())]);
    for (n, (name, bytes)) in all.enumerate() {
        let (topic, timestamp, uuid) = facts(&bytes);
        let uuid = uuid.unwrap_or(Uuid::from_u128(0xe0e0_0000_0000_4000_8000_0000_0000_0000 + n as u128));
        let key = upstream_key(&topic, timestamp, uuid);
        let path = objects.join(&key);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, &bytes).expect("write object");
        assert!(stored.insert(uuid, (name, bytes)).is_none());
    }
    // Not archive objects: ignored.
    std::fs::write(objects.join("e1.topic/2023/2/1/0/not-a-uuid.bson"), b"junk").expect("write");
    std::fs::write(objects.join("e1.topic/README"), b"junk").expect("write");

    let out = dir.path().join("legacy.jsonl");
    let command = |extra: &[&str]| {
        let mut c = super::fixture::archiver_restore();
        c.arg("--from-store")
            .arg(format!("--index-url=sqlite://{}", dir.path().join("no-index.db").display()))
            .arg(format!("--store-url=file://{}", objects.display()))
            .arg(format!("--to=file:{}", out.display()))
            .args(extra);
        c
    };
    super::fixture::run(command(&[])).ok();
    let lines = read_jsonl(&out);
    let got: BTreeMap<Uuid, &Value> = lines.iter().map(|l| (uuid_of(l), l)).collect();
    assert_eq!(got.len(), lines.len());
    assert_eq!(got.keys().collect::<Vec<_>>(), stored.keys().collect::<Vec<_>>(), "every object once");
    for (uuid, (name, bytes)) in &stored {
        let (topic, _, _) = facts(bytes);
        assert_eq!(*got[uuid], line_from_object(*uuid, &topic, None, None, false, bytes), "{name}");
    }
    // The legacy mapping, spelled out on the fixtures' known contents.
    let e1 = got[&Uuid::parse_str("4861b593-54d4-4258-94b2-44cc4b92c323").expect("uuid")];
    let e1_id = Uuid::parse_str("4861b593-54d4-4258-94b2-44cc4b92c323").expect("uuid");
    assert_eq!(e1["value"], b64(b"opaque\x00blob"));
    assert_eq!(e1["headers"], json!([["_id", b64(e1_id.as_bytes())], ["empty", null]]));
    assert_eq!((&e1["key"], &e1["timestamp"]), (&Value::Null, &json!(1_675_209_600_000_i64)));
    let e2 = got[&Uuid::parse_str("71670051-73b6-4750-9395-984eb437372b").expect("uuid")];
    assert_eq!(e2["value"], b64(br#"{"re": "serialized"}"#));
    assert_eq!(e2["key"], Value::Null);
    let synthetic = lines.iter().find(|l| l["topic"] == "synthetic.legacy").expect("synthetic legacy object");
    assert_eq!(synthetic["headers"], json!([["title", b64("Über".as_bytes())], ["empty", null]]));
    assert_eq!(synthetic["value"], b64(b"{\"x\": 1}"));
    let e0 = lines.iter().find(|l| l["topic"] == "e0.housekeeping").expect("e0");
    assert_eq!((&e0["value"], &e0["headers"], &e0["key"]), (&b64(b"x"), &json!([]), &Value::Null));

    // A window of two months lists day directories of upstream's layout.
    let ran = super::fixture::run(command(&["--start", "2023-01-01T00:00:00Z", "--end", "2023-03-01T00:00:00Z"]));
    ran.ok();
    let window: BTreeSet<String> =
        read_jsonl(&out).iter().map(|l| l["topic"].as_str().expect("topic").to_owned()).collect();
    assert_eq!(window, BTreeSet::from(["e1.topic".to_owned(), "synthetic.legacy".to_owned()]));
}

// ---- the store walk's memory bound ------------------------------------------

use archiver::record::{Annotations, Key, Message, Record};
use archiver::restore::walk::{StoreWalk, Walk};
use archiver::store::{ListPage, MemoryStore, ObjectMeta, ObjectStore, PutOutcome, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of objects alive right now, and the most ever alive at once.
#[derive(Debug, Default)]
struct Live {
    now: AtomicUsize,
    peak: AtomicUsize,
}

/// One object's bytes handed out by [`Counting`]; counted until dropped.
struct Counted {
    bytes: Vec<u8>,
    live: Arc<Live>,
}

impl AsRef<[u8]> for Counted {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.live.now.fetch_sub(self.bytes.len(), Ordering::SeqCst);
    }
}

/// A store whose reads are counted while the caller holds them.
#[derive(Debug)]
struct Counting {
    inner: MemoryStore,
    live: Arc<Live>,
}

#[async_trait::async_trait]
impl ObjectStore for Counting {
    async fn put_if_absent(&self, key: &str, bytes: bytes::Bytes) -> Result<PutOutcome, StoreError> {
        self.inner.put_if_absent(key, bytes).await
    }

    async fn get(&self, key: &str) -> Result<Option<bytes::Bytes>, StoreError> {
        let Some(bytes) = self.inner.get(key).await? else { return Ok(None) };
        let now = self.live.now.fetch_add(bytes.len(), Ordering::SeqCst) + bytes.len();
        self.live.peak.fetch_max(now, Ordering::SeqCst);
        Ok(Some(bytes::Bytes::from_owner(Counted { bytes: bytes.to_vec(), live: Arc::clone(&self.live) })))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        self.inner.head(key).await
    }

    async fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<ListPage, StoreError> {
        self.inner.list(prefix, after, limit).await
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        self.inner.delete(key).await
    }

    fn bucket(&self) -> &str {
        self.inner.bucket()
    }
}

/// Rule (regression: the store walk read every object of a day into
/// memory at once before keeping 32 MiB of them, so one busy day could
/// exhaust memory): while a day is read, the objects held at once are at
/// most the 32 MiB it keeps plus those being fetched.
#[tokio::test]
async fn regression_store_walk_holds_at_most_its_day_budget_while_reading_a_day() {
    const MIB: usize = 1 << 20;
    const OBJECTS: usize = 64;
    const FETCH: usize = 4;
    let live = Arc::new(Live::default());
    let store = Arc::new(Counting { inner: MemoryStore::new(), live: Arc::clone(&live) });
    let day_start = 1_704_412_800_000; // 2024-01-05T00:00:00Z
    for n in 0..OBJECTS {
        let message = Message {
            topic: "big".into(),
            timestamp: day_start + 1_000 * (OBJECTS - n) as i64,
            key: Key::Null,
            headers: Vec::new(),
            payload: Some(vec![n as u8; MIB]),
        };
        let object = Record::new(&message, Annotations::default()).encode().expect("encode");
        let key = format!("big/2024/01/05/{}.bson", Uuid::from_u128(n as u128 + 1));
        store.put_if_absent(&key, object.into()).await.expect("put");
    }
    let (mut walk, topics) =
        StoreWalk::new(store, archiver::restore::Selection::default(), None, FETCH).await.expect("store walk");
    assert_eq!(topics, ["big"]);
    let page = walk.next_page().await.expect("read the day").expect("one page");
    assert_eq!(page.len(), OBJECTS, "every object of the day");
    let stamps: Vec<i64> = page.iter().map(|i| i.position.seq).collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "sent by timestamp");
    let peak = live.peak.load(Ordering::SeqCst);
    assert!(peak <= (32 + FETCH + 2) * (MIB + 1024), "{} MiB of objects held at once", peak / MIB);
    let kept = page.iter().filter(|i| i.prefetched.is_some()).count();
    assert!(kept > 0 && kept < OBJECTS, "the walk keeps part of a large day, reads the rest again");
    assert!(walk.next_page().await.expect("end").is_none());
}
