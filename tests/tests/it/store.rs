//! Conformance suite for `archiver::store`.
//!
//! Every check in [`conformance!`] runs against the three stores: in memory,
//! on a fresh temporary directory, and on a fresh bucket of a real s3s-fs
//! server (`ARCHIVER_TEST_S3_*`). A store-specific behaviour (fs temporaries,
//! S3 credentials, URL parsing) has its own test below the shared ones.

use std::collections::BTreeSet;
use std::sync::Arc;

use archiver::store::{
    self, FsStore, ListPage, MemoryStore, ObjectMeta, ObjectStore, ObjectStream, PutOutcome, S3Config, S3Store,
    STREAM_CHUNK_BYTES, StoreError,
};
use bytes::Bytes;
use futures::StreamExt as _;
use tempfile::TempDir;

use crate::support;

// ---------------------------------------------------------------------------
// Fixtures

/// A store under test, with whatever has to live as long as it.
struct Fixture {
    store: Arc<dyn ObjectStore>,
    /// The fs store's root; dropped (deleted) with the fixture.
    dir: Option<TempDir>,
    /// Whether the backend makes "create if absent" atomic under concurrency.
    /// False for s3s-fs 0.14.1: its `If-None-Match: *` is check-then-rename,
    /// so racing PUTs can all succeed (AWS S3 and MinIO are atomic).
    atomic_create: bool,
    /// Largest chunk `get_stream` may yield: ours for memory and fs; for S3
    /// the HTTP client's frames, whose size is the client's business, so
    /// only "far from the whole object" is checked.
    stream_chunk_max: usize,
}

async fn memory() -> Fixture {
    Fixture {
        store: Arc::new(MemoryStore::new()),
        dir: None,
        atomic_create: true,
        stream_chunk_max: STREAM_CHUNK_BYTES,
    }
}

async fn fs() -> Fixture {
    let dir = tempfile::tempdir().expect("create a temporary directory for the fs store");
    let store = FsStore::create(dir.path()).await.expect("open the fs store on a temp dir");
    Fixture { store: Arc::new(store), dir: Some(dir), atomic_create: true, stream_chunk_max: STREAM_CHUNK_BYTES }
}

async fn s3() -> Fixture {
    let store = support::s3_store(&fresh_bucket(), &s3_secret()).await;
    store
        .create_bucket_if_missing()
        .await
        .unwrap_or_else(|e| panic!("creating a fresh bucket on the S3 test server ({}) failed: {e}", s3_endpoint()));
    Fixture { store: Arc::new(store), dir: None, atomic_create: false, stream_chunk_max: 1 << 20 }
}

fn s3_endpoint() -> String {
    support::service("ARCHIVER_TEST_S3_ENDPOINT")
}

fn s3_secret() -> String {
    support::service("ARCHIVER_TEST_S3_SECRET_KEY")
}

/// A bucket name no other test uses, so tests never see each other's objects.
fn fresh_bucket() -> String {
    format!("it-store-{}", uuid::Uuid::new_v4().simple())
}

/// One `#[tokio::test]` per (store, check): `store::memory::roundtrip`,
/// `store::fs::roundtrip`, `store::s3::roundtrip`, ...
macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        conformance!(@store memory; $($check),*);
        conformance!(@store fs; $($check),*);
        conformance!(@store s3; $($check),*);
    };
    (@store $store:ident; $($check:ident),*) => {
        mod $store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    super::$check(&super::$store().await).await;
                }
            )*
        }
    };
}

conformance!(
    roundtrip,
    second_create_keeps_first,
    missing_objects,
    list_pages_by_prefix,
    list_limits,
    delete_removes,
    invalid_keys_rejected,
    concurrent_creates_one_winner,
    stream_matches_get,
    stream_missing_and_invalid_keys,
);

// ---------------------------------------------------------------------------
// Helpers

/// A realistic archive key: `{topic}/{y}/{m}/{d}/{h}/{uuid}.bson`, unpadded.
fn archive_key(topic: &str) -> String {
    format!("{topic}/2024/1/5/7/{}.bson", uuid::Uuid::new_v4())
}

/// Deterministic, incompressible-looking bytes (a tiny LCG, no extra crates).
fn payload(len: usize, seed: u32) -> Bytes {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect();
    Bytes::from(bytes)
}

async fn create(store: &dyn ObjectStore, key: &str, bytes: Bytes) {
    let outcome = store.put_if_absent(key, bytes).await;
    assert!(
        matches!(outcome, Ok(PutOutcome::Created)),
        "{store:?}: creating {key:?} should give Created, got {outcome:?}"
    );
}

/// Follows `next` from the start until the last page; returns the pages.
async fn all_pages(store: &dyn ObjectStore, prefix: &str, limit: usize) -> Vec<ListPage> {
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list(prefix, after.as_deref(), limit)
            .await
            .unwrap_or_else(|e| panic!("{store:?}: list({prefix:?}, {after:?}, {limit}) failed: {e}"));
        after = page.next.clone();
        pages.push(page);
        assert!(pages.len() <= 1000, "{store:?}: listing {prefix:?} does not terminate");
        if after.is_none() {
            return pages;
        }
    }
}

fn keys(objects: &[ObjectMeta]) -> Vec<&str> {
    objects.iter().map(|o| o.key.as_str()).collect()
}

/// Reads a stream to its end: the chunks' sizes and the bytes, or the first error.
async fn drain(mut stream: ObjectStream) -> Result<(Vec<usize>, Vec<u8>), StoreError> {
    let (mut sizes, mut bytes) = (Vec::new(), Vec::new());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        sizes.push(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    Ok((sizes, bytes))
}

fn assert_invalid_key<T: std::fmt::Debug>(what: &str, result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::InvalidKey { .. })),
        "{what} should fail with StoreError::InvalidKey, got {result:?}"
    );
}

// ---------------------------------------------------------------------------
// Shared checks

/// Create, then `get` returns the identical bytes and `head` their size,
/// from the empty object to 1 MiB, and for keys with unusual but valid bytes.
async fn roundtrip(fixture: &Fixture) {
    let store = &*fixture.store;
    // S3's LastModified has one-second resolution; allow for it and for
    // the server's clock (the same machine's).
    let written_from = epoch_ms() - 2_000;
    let cases = [
        (archive_key("gcn.circular"), payload(0, 1)),
        (archive_key("sys.heartbeat"), payload(1, 2)),
        (archive_key("lvk.nsevents"), payload(4096 + 7, 3)),
        (archive_key("gcn.notices.icecube+oversized"), payload(1 << 20, 4)),
        ("odd/ a b=c&d%20e@f,g;h!~'(x)*é😀.bson".to_owned(), payload(33, 5)),
        ("no-slash-at-all".to_owned(), payload(3, 6)),
    ];
    for (key, bytes) in &cases {
        create(store, key, bytes.clone()).await;
    }
    for (key, bytes) in &cases {
        let got = store.get(key).await.unwrap_or_else(|e| panic!("{store:?}: get {key:?}: {e}"));
        let got = got.unwrap_or_else(|| panic!("{store:?}: {key:?} was created but get says None"));
        assert!(
            got == *bytes,
            "{store:?}: get {key:?} returned {} bytes that differ from the {} written",
            got.len(),
            bytes.len()
        );
        let head = store.head(key).await.unwrap_or_else(|e| panic!("{store:?}: head {key:?}: {e}"));
        let head = head.unwrap_or_else(|| panic!("{store:?}: head {key:?} says None"));
        assert_eq!((&head.key, head.size_bytes), (key, bytes.len() as u64), "{store:?}: head {key:?}");
        assert_written_now(store, &head, written_from);
    }
    let listed = all_pages(store, "", 1000).await;
    let listed: Vec<&ObjectMeta> = listed.iter().flat_map(|p| &p.objects).collect();
    assert_eq!(listed.len(), cases.len(), "{store:?}: listing should show exactly the objects written");
    for meta in listed {
        let (_, bytes) = cases
            .iter()
            .find(|(k, _)| *k == meta.key)
            .unwrap_or_else(|| panic!("{store:?}: listing shows {:?}, which was never written", meta.key));
        assert_eq!(meta.size_bytes, bytes.len() as u64, "{store:?}: listed size of {:?}", meta.key);
        assert_written_now(store, meta, written_from);
    }
}

fn epoch_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970");
    i64::try_from(now.as_millis()).expect("fits")
}

/// `meta` says the object was written between `from` and now (a second of
/// slack for S3's resolution): what an audit's grace period relies on.
fn assert_written_now(store: &dyn ObjectStore, meta: &ObjectMeta, from: i64) {
    let modified = meta.modified_ms.unwrap_or_else(|| panic!("{store:?}: {:?} without a modification time", meta.key));
    assert!(
        (from..=epoch_ms() + 2_000).contains(&modified),
        "{store:?}: {:?} modified at {modified}, written after {from}",
        meta.key
    );
}

/// A second create of a key reports AlreadyExists and leaves the first bytes.
async fn second_create_keeps_first(fixture: &Fixture) {
    let store = &*fixture.store;
    let key = archive_key("gcn.circular");
    let first = payload(100, 10);
    create(store, &key, first.clone()).await;
    for (attempt, bytes) in [payload(100, 11), payload(5, 12), Bytes::new(), first.clone()].into_iter().enumerate() {
        let outcome = store.put_if_absent(&key, bytes).await;
        assert!(
            matches!(outcome, Ok(PutOutcome::AlreadyExists)),
            "{store:?}: re-create #{attempt} of {key:?} should give AlreadyExists, got {outcome:?}"
        );
    }
    let got = store.get(&key).await.expect("get after re-creates");
    assert_eq!(got, Some(first), "{store:?}: the first object's bytes must survive re-creates");
}

/// Absent keys: `get`/`head` give None, `delete` false, listings are empty.
async fn missing_objects(fixture: &Fixture) {
    let store = &*fixture.store;
    let key = archive_key("never.written");
    let get = store.get(&key).await;
    assert!(matches!(get, Ok(None)), "{store:?}: get of a missing key: {get:?}");
    let head = store.head(&key).await;
    assert!(matches!(head, Ok(None)), "{store:?}: head of a missing key: {head:?}");
    let delete = store.delete(&key).await;
    assert!(matches!(delete, Ok(false)), "{store:?}: delete of a missing key: {delete:?}");
    // A missing key whose "parent" is an object must also just be missing.
    create(store, "parent", payload(1, 20)).await;
    let get = store.get("parent/child").await;
    assert!(matches!(get, Ok(None)), "{store:?}: get below an object: {get:?}");
    let head = store.head("parent/child").await;
    assert!(matches!(head, Ok(None)), "{store:?}: head below an object: {head:?}");
    let page = store.list("never/", None, 10).await.expect("list of an empty prefix");
    assert_eq!(page, ListPage { objects: vec![], next: None }, "{store:?}: empty prefix");
}

/// Keys for the listing checks: 25 under `page/`, spread over directories,
/// including `page/1-x.bson`, which sorts before `page/1/...` ('-' < '/')
/// although a directory walk would visit `1` first; plus look-alikes
/// outside the prefix.
fn listing_keys() -> (Vec<String>, Vec<String>) {
    let mut inside: Vec<String> = (0..24).map(|i| format!("page/{}/{i:02}.bson", i % 3)).collect();
    inside.push("page/1-x.bson".to_owned());
    let outside = ["pag", "page-other/x.bson", "page.x/y", "pagf/0", "a/page/x", "zz"].map(str::to_owned).to_vec();
    (inside, outside)
}

/// Listing: prefix filter, lexicographic order, `after`, and paging with `next`.
async fn list_pages_by_prefix(fixture: &Fixture) {
    let store = &*fixture.store;
    let (inside, outside) = listing_keys();
    for (i, key) in inside.iter().chain(&outside).enumerate() {
        create(store, key, payload(i, 30)).await;
    }
    let all: BTreeSet<&str> = inside.iter().chain(&outside).map(String::as_str).collect();

    let pages = all_pages(store, "page/", 10).await;
    let sizes: Vec<usize> = pages.iter().map(|p| p.objects.len()).collect();
    assert_eq!(sizes, [10, 10, 5], "{store:?}: 25 keys at limit 10 should come in 3 pages");
    for page in &pages[..2] {
        let last = page.objects.last().map(|o| o.key.clone());
        assert_eq!(page.next, last, "{store:?}: `next` of a full page should be its last key");
    }
    let listed: Vec<&str> = pages.iter().flat_map(|p| keys(&p.objects)).collect();
    let expected: Vec<&str> = all.iter().copied().filter(|k| k.starts_with("page/")).collect();
    assert_eq!(listed, expected, "{store:?}: paged listing of \"page/\" (sorted, prefix only)");

    for prefix in ["", "page", "page/1", "page/1/", "page/1/1", "page-", "q"] {
        let listed: Vec<String> =
            all_pages(store, prefix, 4).await.iter().flat_map(|p| p.objects.iter().map(|o| o.key.clone())).collect();
        let expected: Vec<&str> = all.iter().copied().filter(|k| k.starts_with(prefix)).collect();
        assert_eq!(listed, expected, "{store:?}: listing of prefix {prefix:?} at limit 4");
    }

    for after in ["page/1", "page/1-x.bson", "page/1/10.bson", "page/1/5", "page/2/23.bson", "a"] {
        let page = store.list("page/", Some(after), 100).await.expect("list after");
        let expected: Vec<&str> = all.iter().copied().filter(|k| k.starts_with("page/") && *k > after).collect();
        assert_eq!(keys(&page.objects), expected, "{store:?}: list(\"page/\", after {after:?})");
        assert_eq!(page.next, None, "{store:?}: list after {after:?} fits in one page");
    }
}

/// Limits: a page exactly as long as what remains is the last one, and a
/// zero limit still makes progress (it is clamped to 1).
async fn list_limits(fixture: &Fixture) {
    let store = &*fixture.store;
    for i in 0..5 {
        create(store, &format!("lim/{i}"), payload(i, 40)).await;
    }
    let exact = store.list("lim/", None, 5).await.expect("list with limit == count");
    assert_eq!(exact.objects.len(), 5, "{store:?}: limit 5 over 5 keys");
    assert_eq!(exact.next, None, "{store:?}: nothing remains after an exact page");
    let zero = store.list("lim/", None, 0).await.expect("list with limit 0");
    assert_eq!(keys(&zero.objects), ["lim/0"], "{store:?}: limit 0 is clamped to 1");
    assert_eq!(zero.next.as_deref(), Some("lim/0"), "{store:?}: limit 0 page has a next");
    let huge = store.list("lim/", None, usize::MAX).await.expect("list with a huge limit");
    assert_eq!(huge.objects.len(), 5, "{store:?}: a huge limit is clamped, not an error");
}

/// Delete removes the object (and says so once), after which the key can be created again.
async fn delete_removes(fixture: &Fixture) {
    let store = &*fixture.store;
    let key = archive_key("gcn.circular");
    let other = archive_key("gcn.circular");
    create(store, &key, payload(10, 50)).await;
    create(store, &other, payload(10, 51)).await;
    assert_eq!(store.delete(&key).await.ok(), Some(true), "{store:?}: delete of an existing key");
    assert_eq!(store.get(&key).await.ok(), Some(None), "{store:?}: get after delete");
    assert_eq!(store.head(&key).await.ok(), Some(None), "{store:?}: head after delete");
    assert_eq!(store.delete(&key).await.ok(), Some(false), "{store:?}: second delete");
    let listed = store.list("gcn.circular/", None, 10).await.expect("list after delete");
    assert_eq!(keys(&listed.objects), [other.as_str()], "{store:?}: listing after delete");
    let again = payload(3, 52);
    create(store, &key, again.clone()).await;
    assert_eq!(store.get(&key).await.ok(), Some(Some(again)), "{store:?}: re-created after delete");
}

/// Keys that could escape a directory or mean different things to different
/// stores are refused by every operation, and nothing gets written.
async fn invalid_keys_rejected(fixture: &Fixture) {
    let store = &*fixture.store;
    let long = "k".repeat(1025);
    let bad = [
        "",
        "../x",
        "/abs",
        "a//b",
        "a/",
        "a/./b",
        "a/..",
        ".",
        "..",
        "a\\b",
        "a\0b",
        "a\nb",
        "x/.tmp-123",
        long.as_str(),
    ];
    for key in bad {
        let shown = key.chars().take(40).collect::<String>();
        assert_invalid_key(&format!("{store:?} put {shown:?}"), store.put_if_absent(key, payload(1, 60)).await);
        assert_invalid_key(&format!("{store:?} get {shown:?}"), store.get(key).await);
        assert_invalid_key(&format!("{store:?} head {shown:?}"), store.head(key).await);
        assert_invalid_key(&format!("{store:?} delete {shown:?}"), store.delete(key).await);
    }
    for prefix in ["../", "/abs", "a//b", "a/../b", "a\\b", "a\0"] {
        assert_invalid_key(&format!("{store:?} list {prefix:?}"), store.list(prefix, None, 10).await);
    }
    let page = store.list("", None, 10).await.expect("list everything");
    assert!(page.objects.is_empty(), "{store:?}: rejected keys left objects behind: {page:?}");
}

/// Eight writers race on one key: exactly one wins (where the backend is
/// atomic), and the stored bytes are a winner's.
async fn concurrent_creates_one_winner(fixture: &Fixture) {
    let store = &*fixture.store;
    // The store is borrowed, so race with join_all rather than spawn; the
    // blocking pool (fs) and the HTTP connections (S3) still run in parallel.
    let key = archive_key("race");
    let writers = (0..8u32).map(|i| {
        let key = key.clone();
        async move { (i, store.put_if_absent(&key, payload(64 * 1024, 100 + i)).await) }
    });
    let results = futures::future::join_all(writers).await;
    let winners: Vec<u32> = results
        .iter()
        .filter_map(|(i, r)| match r {
            Ok(PutOutcome::Created) => Some(*i),
            Ok(PutOutcome::AlreadyExists) => None,
            Err(e) => panic!("{store:?}: concurrent put_if_absent #{i} failed: {e}"),
        })
        .collect();
    let stored = store.get(&key).await.expect("get after the race");
    let stored_by = winners.iter().find(|&&i| stored == Some(payload(64 * 1024, 100 + i)));
    assert!(stored_by.is_some(), "{store:?}: the stored bytes must be a winner's ({winners:?})");
    if fixture.atomic_create {
        assert_eq!(winners.len(), 1, "{store:?}: exactly one of 8 racing creates may win: {winners:?}");
    } else {
        // Known s3s-fs limitation (see `Fixture::atomic_create`); a loser's
        // bytes are still never stored, which the assertion above checks.
        assert!(!winners.is_empty(), "{store:?}: one of 8 racing creates must win");
    }
}

/// `get_stream` announces the object's size and yields exactly `get`'s
/// bytes, in bounded chunks: several for a multi-MiB object, none for an
/// empty one.
async fn stream_matches_get(fixture: &Fixture) {
    let store = &*fixture.store;
    let several_mib = 5 * (1 << 20) + 12_345;
    let cases = [
        (archive_key("gcn.circular"), payload(0, 200)),
        (archive_key("lvk.nsevents"), payload(4096 + 7, 201)),
        (archive_key("gcn.notices.icecube+oversized"), payload(several_mib, 202)),
    ];
    for (key, bytes) in &cases {
        create(store, key, bytes.clone()).await;
    }
    for (key, bytes) in &cases {
        let got = store.get(key).await.unwrap_or_else(|e| panic!("{store:?}: get {key:?}: {e}"));
        assert_eq!(got.as_ref(), Some(bytes), "{store:?}: get {key:?}");
        let stream = store.get_stream(key).await.unwrap_or_else(|e| panic!("{store:?}: get_stream {key:?}: {e}"));
        let stream = stream.unwrap_or_else(|| panic!("{store:?}: {key:?} was created but get_stream says None"));
        assert_eq!(stream.size_bytes(), bytes.len() as u64, "{store:?}: announced size of {key:?}");
        let (sizes, streamed) =
            drain(stream).await.unwrap_or_else(|e| panic!("{store:?}: streaming {key:?} failed: {e}"));
        assert!(
            streamed == *bytes,
            "{store:?}: streamed {} bytes of {key:?} that differ from the {} written",
            streamed.len(),
            bytes.len()
        );
        let largest = sizes.iter().copied().max().unwrap_or(0);
        assert!(
            largest <= fixture.stream_chunk_max,
            "{store:?}: a chunk of {largest} bytes exceeds {} ({key:?})",
            fixture.stream_chunk_max
        );
        if bytes.len() >= several_mib {
            assert!(sizes.len() > 1, "{store:?}: {several_mib} bytes came in one chunk");
        }
    }
}

/// `get_stream` follows `get`'s rules: `None` for missing keys (also below
/// an object), `InvalidKey` for keys no store accepts.
async fn stream_missing_and_invalid_keys(fixture: &Fixture) {
    let store = &*fixture.store;
    let missing = store.get_stream(&archive_key("never.written")).await;
    assert!(matches!(missing, Ok(None)), "{store:?}: get_stream of a missing key: {missing:?}");
    create(store, "parent", payload(1, 210)).await;
    let below = store.get_stream("parent/child").await;
    assert!(matches!(below, Ok(None)), "{store:?}: get_stream below an object: {below:?}");
    let long = "k".repeat(1025);
    for key in ["", "../x", "/abs", "a//b", "a/", "a/../b", "a\\b", "a\0b", "x/.tmp-1", long.as_str()] {
        let shown = key.chars().take(40).collect::<String>();
        assert_invalid_key(&format!("{store:?} get_stream {shown:?}"), store.get_stream(key).await);
    }
}

// ---------------------------------------------------------------------------
// ObjectStream's length guard (store-independent)

fn chunks(items: Vec<Result<Bytes, StoreError>>) -> futures::stream::BoxStream<'static, Result<Bytes, StoreError>> {
    futures::stream::iter(items).boxed()
}

fn unavailable() -> StoreError {
    StoreError::Unavailable { op: "get", key: "k".into(), message: "connection reset".into() }
}

#[tokio::test]
async fn object_stream_ends_with_an_error_unless_exactly_its_size() {
    let exact = ObjectStream::new("k", 6, chunks(vec![Ok(Bytes::from_static(b"abc")), Ok(Bytes::from_static(b"def"))]));
    assert_eq!(drain(exact).await.expect("exact length").1, b"abcdef");

    let mut short = ObjectStream::new("k", 6, chunks(vec![Ok(Bytes::from_static(b"abc"))]));
    assert_eq!(short.next().await.map(|c| c.ok()), Some(Some(Bytes::from_static(b"abc"))));
    let end = short.next().await;
    assert!(
        matches!(&end, Some(Err(e @ StoreError::Io { .. })) if e.to_string().contains("3 of 6")),
        "a body shorter than announced must end with an error: {end:?}"
    );
    assert!(short.next().await.is_none(), "nothing after the error");

    let long = ObjectStream::new("k", 2, chunks(vec![Ok(Bytes::from_static(b"abc"))]));
    assert!(matches!(drain(long).await, Err(StoreError::Io { .. })), "a body longer than announced is an error");

    let mut failing = ObjectStream::new(
        "k",
        6,
        chunks(vec![Ok(Bytes::from_static(b"abc")), Err(unavailable()), Ok(Bytes::from_static(b"def"))]),
    );
    assert!(matches!(failing.next().await, Some(Ok(_))));
    assert!(matches!(failing.next().await, Some(Err(StoreError::Unavailable { .. }))), "the store's error passes");
    assert!(failing.next().await.is_none(), "a failed stream never resumes");

    let split = ObjectStream::from_bytes("k", payload(2 * STREAM_CHUNK_BYTES + 1, 220));
    let (sizes, bytes) = drain(split).await.expect("from_bytes");
    assert_eq!(sizes, [STREAM_CHUNK_BYTES, STREAM_CHUNK_BYTES, 1]);
    assert_eq!(bytes, payload(2 * STREAM_CHUNK_BYTES + 1, 220));
    let (sizes, _) = drain(ObjectStream::from_bytes("k", Bytes::new())).await.expect("empty from_bytes");
    assert!(sizes.is_empty(), "an empty object is no chunks");
}

// ---------------------------------------------------------------------------
// Filesystem store

/// All file names under `dir`, recursively, relative to it.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).expect("under root");
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn fs_leaves_no_temp_files_and_hides_strays() {
    let fixture = fs().await;
    let (store, dir) = (&*fixture.store, fixture.dir.as_ref().expect("fs fixture has a dir"));
    let key = "gcn.circular/2024/1/5/7/a.bson";
    create(store, key, payload(10, 70)).await;
    let again = store.put_if_absent(key, payload(10, 71)).await;
    assert!(matches!(again, Ok(PutOutcome::AlreadyExists)), "re-create: {again:?}");
    create(store, "gcn.circular/2024/1/5/7/b.bson", payload(0, 72)).await;
    assert_eq!(
        files_under(dir.path()),
        ["gcn.circular/2024/1/5/7/a.bson", "gcn.circular/2024/1/5/7/b.bson"],
        "only the objects may remain on disk after creates and a refused re-create"
    );

    // A temporary left by a crash mid-write must stay invisible.
    let stray = dir.path().join("gcn.circular/2024/1/5/7/.tmp-crashed");
    std::fs::write(&stray, b"half").expect("plant a stray temp file");
    std::fs::create_dir_all(dir.path().join(".tmp-dir")).expect("plant a stray temp dir");
    let page = store.list("", None, 100).await.expect("list");
    assert_eq!(
        keys(&page.objects),
        ["gcn.circular/2024/1/5/7/a.bson", "gcn.circular/2024/1/5/7/b.bson"],
        "temporary files must never be listed as objects"
    );
}

#[tokio::test]
async fn fs_key_colliding_with_directory_is_rejected_not_existing() {
    let fixture = fs().await;
    let store = &*fixture.store;
    create(store, "a/b", payload(1, 80)).await;
    let over_dir = store.put_if_absent("a", payload(1, 81)).await;
    assert!(
        matches!(over_dir, Err(StoreError::Rejected { .. })),
        "a key naming a directory of other keys must be Rejected, not AlreadyExists: {over_dir:?}"
    );
    let under_file = store.put_if_absent("a/b/c", payload(1, 82)).await;
    assert!(
        matches!(under_file, Err(StoreError::Rejected { .. })),
        "a key below an existing object must be Rejected: {under_file:?}"
    );
    assert!(over_dir.is_err_and(|e| !e.is_transient()), "a collision is permanent");
    assert_eq!(store.get("a").await.ok(), Some(None), "a directory is not an object");
    let streamed = store.get_stream("a").await;
    assert!(matches!(streamed, Ok(None)), "a directory is not an object to stream either: {streamed:?}");
    assert_eq!(store.delete("a").await.ok(), Some(false), "deleting a directory is a no-op");
}

/// A file that shrinks while it is streamed (only a bug or an operator can
/// do that) makes the stream fail, not end early as if complete.
#[tokio::test]
async fn fs_stream_of_a_file_truncated_mid_read_fails() {
    let fixture = fs().await;
    let (store, dir) = (&*fixture.store, fixture.dir.as_ref().expect("fs fixture has a dir"));
    let key = "gcn.circular/2024/1/5/7/t.bson";
    create(store, key, payload(4 * STREAM_CHUNK_BYTES, 230)).await;
    let mut stream = store.get_stream(key).await.expect("get_stream").expect("object exists");
    let first = stream.next().await.expect("a first chunk").expect("first chunk reads");
    assert_eq!(first.len(), STREAM_CHUNK_BYTES);
    let file = std::fs::OpenOptions::new().write(true).open(dir.path().join(key)).expect("open for truncation");
    file.set_len(2 * STREAM_CHUNK_BYTES as u64).expect("truncate");
    let rest = drain(stream).await;
    assert!(matches!(rest, Err(StoreError::Io { .. })), "a truncated file must fail the stream: {rest:?}");
}

#[tokio::test]
async fn fs_bucket_is_root_dir_name_or_configured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("hopskotch-archive");
    let store = FsStore::create(&root).await.expect("create a store in a missing dir");
    assert!(root.is_dir(), "FsStore::create must create the root");
    assert_eq!(store.bucket(), "hopskotch-archive");
    assert_eq!(FsStore::new(&root).with_bucket("primary").bucket(), "primary");
}

// ---------------------------------------------------------------------------
// S3 store

#[tokio::test]
async fn s3_wrong_secret_is_denied_and_writes_nothing() {
    let good = s3().await;
    let bucket = good.store.bucket().to_owned();
    let wrong_secret = "definitely-not-the-secret-0123456789";
    let bad = support::s3_store(&bucket, wrong_secret).await;
    let key = archive_key("gcn.circular");

    let put = bad.put_if_absent(&key, payload(10, 90)).await;
    match &put {
        Err(e @ StoreError::Denied { .. }) => {
            assert!(!e.is_transient(), "Denied must not be transient");
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains(wrong_secret), "the error must not carry the secret: {shown}");
            assert!(!shown.contains(&s3_secret()), "the error must not carry the secret: {shown}");
        }
        other => panic!("put with a wrong secret should be StoreError::Denied, got {other:?}"),
    }
    for (op, result) in [
        ("get", bad.get(&key).await.map(|_| ())),
        ("head", bad.head(&key).await.map(|_| ())),
        ("list", bad.list("", None, 10).await.map(|_| ())),
        ("delete", bad.delete(&key).await.map(|_| ())),
    ] {
        assert!(matches!(result, Err(StoreError::Denied { .. })), "{op} with a wrong secret: {result:?}");
    }
    assert_eq!(good.store.get(&key).await.ok(), Some(None), "a denied put must not write");
    let listed = good.store.list("", None, 10).await.expect("list with the right secret");
    assert!(listed.objects.is_empty(), "a denied put must not write anything: {listed:?}");
}

#[tokio::test]
async fn s3_missing_bucket_is_rejected_not_transient() {
    let store = support::s3_store(&fresh_bucket(), &s3_secret()).await;
    let listed = store.list("", None, 10).await;
    assert!(
        matches!(&listed, Err(e @ StoreError::Rejected { .. }) if !e.is_transient()),
        "listing a missing bucket should be a permanent Rejected error, got {listed:?}"
    );
}

#[tokio::test]
async fn s3_unreachable_endpoint_is_transient() {
    // A port that was just free: nothing listens, the connection is refused.
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("find a free port").port();
    let store = S3Store::new(S3Config {
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        path_style: true,
        credentials: Some(("k".to_owned(), "s".to_owned())),
        ..S3Config::new("some-bucket")
    })
    .await;
    let got = store.get("a/b").await;
    assert!(
        matches!(&got, Err(e @ StoreError::Unavailable { .. }) if e.is_transient()),
        "a refused connection should be Unavailable (transient), got {got:?}"
    );
}

#[tokio::test]
async fn s3_create_bucket_if_missing_is_idempotent() {
    let fixture = s3().await;
    let bucket = fixture.store.bucket().to_owned();
    let again = support::s3_store(&bucket, &s3_secret()).await;
    again.create_bucket_if_missing().await.expect("second create_bucket_if_missing");
    create(fixture.store.as_ref(), "k", payload(1, 95)).await;
    again.create_bucket_if_missing().await.expect("create_bucket_if_missing on a non-empty bucket");
    assert_eq!(again.get("k").await.ok(), Some(Some(payload(1, 95))), "objects survive");
}

#[tokio::test]
async fn s3_config_debug_redacts_secret() {
    let config = S3Config { credentials: Some(("AKID".into(), "s3cr3t-value".into())), ..S3Config::new("b") };
    let shown = format!("{config:?}");
    assert!(!shown.contains("s3cr3t-value"), "Debug must redact the secret: {shown}");
}

// ---------------------------------------------------------------------------
// store::open

#[tokio::test]
async fn open_memory_and_file_urls() {
    let memory = store::open("memory://").await.expect("memory://");
    assert_eq!(memory.bucket(), "memory");
    let named = store::open("memory://demo").await.expect("memory://demo");
    assert_eq!(named.bucket(), "demo");

    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("new dir/archive");
    let url = url_for(&root);
    let fs = store::open(&url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
    assert!(root.is_dir(), "opening {url} must create the directory");
    assert_eq!(fs.bucket(), "archive");
    create(fs.as_ref(), "t/1.bson", payload(4, 96)).await;
    assert!(root.join("t/1.bson").is_file(), "{url}: objects live at <root>/<key>");
}

/// `file://` URL of an absolute path, percent-encoding what needs it.
fn url_for(path: &std::path::Path) -> String {
    let display = path.to_str().expect("temp paths are UTF-8");
    format!("file://{}", display.replace(' ', "%20"))
}

#[tokio::test]
async fn open_s3_url() {
    let endpoint = s3_endpoint();
    let opened = store::open(&format!("s3://hopskotch-archive?endpoint={endpoint}&region=us-west-2"))
        .await
        .expect("s3 URL with endpoint and region");
    assert_eq!(opened.bucket(), "hopskotch-archive");
    let shown = format!("{opened:?}");
    assert!(shown.contains("us-west-2") && shown.contains(&endpoint), "config reaches the store: {shown}");
    let aws = store::open("s3://hopskotch-archive").await.expect("plain AWS s3 URL");
    assert!(format!("{aws:?}").contains("us-east-1"), "default region: {aws:?}");
    store::open(&format!("s3://b-1.x?endpoint={endpoint}&path_style=false")).await.expect("explicit path_style");
}

#[tokio::test]
async fn open_rejects_bad_urls() {
    let bad = [
        "",
        "not a url",
        "/abs/path",
        "ftp://host/dir",
        "memory://x/path",
        "memory://?q=1",
        "file://relative/path",
        "file:///tmp/x?mode=1",
        "s3://",
        "s3://Bad_Bucket",
        "s3://ab",
        "s3://bucket/some/path",
        "s3://bucket:9000",
        "s3://bucket?foo=bar",
        "s3://bucket?region=",
        "s3://bucket?path_style=maybe",
        "s3://bucket?endpoint=not-a-url",
        "s3://bucket?endpoint=ftp://host",
        "s3://bucket?region=a&region=b",
        "s3://bucket#frag",
        "s3://AKIDEXAMPLE:supersecret@bucket",
    ];
    for url in bad {
        match store::open(url).await {
            Err(e @ StoreError::InvalidUrl { .. }) => {
                assert!(!e.to_string().contains("supersecret"), "{url}: error leaks a secret: {e}");
            }
            other => panic!("store::open({url:?}) should be InvalidUrl, got {other:?}"),
        }
    }
}

#[test]
fn key_rule_edges() {
    let max = format!("{}/{}", "a".repeat(511), "b".repeat(512));
    assert_eq!(max.len(), 1024);
    assert!(store::validate_key(&max).is_ok(), "1024 bytes is the longest valid key");
    assert!(store::validate_key(&format!("{max}c")).is_err(), "1025 bytes is too long");
    for ok in ["a", "a/b", "+oversized/2024/1/5/7/x.bson", ".hidden/x", "a/..b", "a/b.", "tmp-x/.tmp"] {
        assert!(store::validate_key(ok).is_ok(), "{ok:?} should be a valid key");
    }
    for ok in ["", "a", "a/", "a/b", "a/.", "a/.."] {
        assert!(store::validate_prefix(ok).is_ok(), "{ok:?} should be a valid prefix");
    }
}
