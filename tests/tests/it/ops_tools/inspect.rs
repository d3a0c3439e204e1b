//! `archiver inspect UUID`: an archived message looked up through the
//! index and the store, shown with its index row.

use super::{archiver, file_url, reindexed, sqlite_url, upstream_bucket};
use std::path::Path;

const VECTOR_UUID: &str = "01234567-aaaa-bbbb-cccc-0123456789de";
const VECTOR_KEY: &str = "demo.topic/2023/11/14/22/01234567-aaaa-bbbb-cccc-0123456789de.bson";

/// An upstream bucket in `dir`/objects, indexed into `dir`/index.db; the
/// backend flags that reach it.
async fn indexed_archive(dir: &Path) -> Vec<String> {
    let objects = dir.join("objects");
    upstream_bucket(&objects).await;
    let args = vec!["--store".to_owned(), file_url(&objects), "--index".to_owned(), sqlite_url(dir, "index.db")];
    reindexed(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    args
}

fn inspect(target: &str, flags: &[&str], backends: &[String]) -> (i32, String, String) {
    let mut args = vec!["inspect", target];
    args.extend_from_slice(flags);
    args.extend(backends.iter().map(String::as_str));
    archiver(&args, &[])
}

#[tokio::test(flavor = "multi_thread")]
async fn inspect_uuid_shows_the_index_row_and_the_object() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backends = indexed_archive(tmp.path()).await;
    let (code, out, err) = inspect(VECTOR_UUID, &[], &backends);
    assert_eq!(code, 0, "{err}");
    for expected in [
        "index row:",
        &format!("  uuid            {VECTOR_UUID}"),
        &format!("  key             {VECTOR_KEY}"),
        "  timestamp       1700000000123 ms (2023-11-14T22:13:20.123Z)",
        "  partition       null",
        "  timestamp_type  create",
        "  sender          \"alice\"",
        "object:      480 bytes, crc32 0xfe8ecffd, current layout",
        "topic:       demo.topic",
        "  con_text_uuid: \"01234567-aaaa-bbbb-cccc-0123456789de\"",
    ] {
        assert!(out.contains(expected), "{expected:?} not in\n{out}");
    }

    let (code, out, err) = inspect(VECTOR_UUID, &["--json"], &backends);
    assert_eq!(code, 0, "{err}");
    let shown: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(shown["row"]["key"], VECTOR_KEY);
    assert_eq!(shown["row"]["kafka_offset"], serde_json::Value::Null);
    assert_eq!(shown["row"]["size"], 480);
    assert_eq!(shown["object"]["metadata"]["topic"], "demo.topic");
    assert_eq!(shown["problems"], serde_json::json!([]));

    let (code, out, err) = inspect(VECTOR_UUID, &["--check"], &backends);
    assert_eq!(code, 0, "{err}");
    assert!(out.ends_with("round-trip: identical (480 bytes)\n"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn inspect_uuid_says_what_is_missing_and_exits_non_zero() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backends = indexed_archive(tmp.path()).await;
    let unknown = "7f3c2a10-0000-4000-8000-000000000000";
    let (code, out, err) = inspect(unknown, &[], &backends);
    assert_eq!((code, out.as_str()), (3, ""), "{err}");
    assert!(err.contains(&format!("{unknown} is not in the index sqlite://")), "{err}");

    std::fs::remove_file(tmp.path().join("objects").join(VECTOR_KEY)).expect("the object removed");
    let (code, out, err) = inspect(VECTOR_UUID, &[], &backends);
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains(&format!("  key             {VECTOR_KEY}")), "the row is still shown: {out}");
    assert!(err.contains(&format!("object {VECTOR_KEY} is missing from the store file://")), "{err}");
    let (code, out, _) = inspect(VECTOR_UUID, &["--json"], &backends);
    let shown: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!((code, shown["object"].clone()), (3, serde_json::Value::Null));
    assert_eq!(shown["row"]["uuid"], VECTOR_UUID);

    // Backends it cannot use are refused as `reindex` refuses them.
    let (code, _, err) = inspect(VECTOR_UUID, &["--store", "memory://", "--index", "sqlite::memory:"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("keeps nothing after the process exits"), "{err}");
}

#[test]
fn inspect_of_an_existing_file_named_like_a_uuid_reads_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/upstream/current-vector.bson");
    std::fs::copy(fixture, tmp.path().join(VECTOR_UUID)).expect("copied");
    let output = std::process::Command::new(crate::support::binary("archiver"))
        .args(["inspect", VECTOR_UUID, "--index", "postgres://nowhere:1/db"])
        .current_dir(tmp.path())
        .output()
        .expect("archiver runs");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(out.starts_with("object:      480 bytes") && !out.contains("index row:"), "{out}");
}
