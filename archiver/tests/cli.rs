//! The `archiver` command line, run as a user would.

// Integration tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/upstream").join(name)
}

/// Runs `archiver args...` and returns (exit code, stdout, stderr).
fn check(args: &[&str]) -> (i32, String, String) {
    let Output { status, stdout, stderr } =
        Command::new(env!("CARGO_BIN_EXE_archiver")).args(args).output().expect("archiver runs");
    let code = status.code().expect("exited normally, not by a signal");
    (code, String::from_utf8_lossy(&stdout).into_owned(), String::from_utf8_lossy(&stderr).into_owned())
}

fn to_bytes(doc: &bson::Document) -> Vec<u8> {
    let mut bytes = Vec::new();
    doc.to_writer(&mut bytes).expect("bson encodes");
    bytes
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 test path")
}

#[test]
fn inspect_check_reports_identical_round_trips_for_upstream_objects() {
    let dir = fixture("");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures dir") {
        let file = entry.expect("entry").path();
        if file.extension().is_none_or(|e| e != "bson") {
            continue;
        }
        let (code, out, err) = check(&["inspect", "--check", path(&file)]);
        assert_eq!(code, 0, "{}: {out}{err}", file.display());
        let size_bytes = std::fs::metadata(&file).expect("fixture size").len();
        assert_eq!(out, format!("round-trip: identical ({size_bytes} bytes)\n"), "{}", file.display());
        seen += 1;
    }
    assert!(seen >= 9, "only {seen} fixtures");
}

#[test]
fn inspect_check_names_the_first_differing_byte_and_element() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // A timestamp that fits int32 but is stored as int64 is valid BSON that
    // upstream's encoder would never write; re-encoding narrows it. Byte 0
    // (the document's length) is the first to differ; the element is
    // metadata.timestamp, whose type byte is at 4 (length) + 15 ("message")
    // + 10 ("metadata" type and key) + 4 (its length) = 33.
    let doc = bson::doc! {
        "message": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: b"x".to_vec() },
        "metadata": { "timestamp": 5_i64, "headers": bson::Bson::Null, "key": bson::Bson::Null, "topic": "t" },
        "annotations": {},
    };
    let bytes = to_bytes(&doc);
    assert_eq!((bytes.len(), bytes[33]), (99, 0x12), "the element under test is the int64 at byte 33");
    let file = tmp.path().join("wide.bson");
    std::fs::write(&file, bytes).expect("write");
    let (code, out, err) = check(&["inspect", "--check", path(&file)]);
    assert_eq!(
        out,
        "round-trip: differs at byte 0 (original 99 bytes, re-encoded 95 bytes)\n\
         first differing element: metadata.timestamp at byte 33: int64 5 in the file, int32 5 re-encoded\n"
    );
    assert_eq!(code, 1, "{err}");
}

#[test]
fn inspect_shows_headers_payload_and_annotations() {
    let (code, out, err) = check(&["inspect", path(&fixture("current-vector.bson"))]);
    assert_eq!(code, 0, "{err}");
    for expected in [
        "topic:       demo.topic",
        "\"_id\" = 01234567-aaaa-bbbb-cccc-0123456789de (16 bytes)",
        "\"_sender\" = \"alice\"",
        "payload:     8 bytes, crc32 0xfba18e97",
        "{\"a\": 1}",
        "media_type: \"application/json\"",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    let (_, binary, _) = check(&["inspect", path(&fixture("current-large-odd-headers.bson"))]);
    assert!(binary.contains("\"bin\" = 0xfffe00 (3 bytes)"), "{binary}");
}

#[test]
fn inspect_json_is_one_document_with_base64_bytes() {
    let (code, out, err) = check(&["inspect", "--json", path(&fixture("current-vector.bson"))]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(json["message"]["base64"], "eyJhIjogMX0=");
    assert_eq!(json["metadata"]["headers"][1]["base64"], "YWxpY2U=");
    assert_eq!(json["metadata"]["topic"], "demo.topic");
    assert_eq!(json["annotations"]["con_message_crc32"], 4_221_669_015_u64);
    assert_eq!(json["size_bytes"], 480);
}

#[test]
fn inspect_refuses_hostile_files_cleanly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let good = std::fs::read(fixture("current-vector.bson")).expect("fixture");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", good[..100].to_vec(), "truncated"),
        ("empty", vec![], "truncated"),
        ("not bson", b"hello, world".to_vec(), "malformed BSON"),
        ("valid bson, not an object", to_bytes(&bson::doc! { "a": 1 }), "not an archive object"),
    ];
    for (name, bytes, expected) in cases {
        let file = tmp.path().join(name);
        std::fs::write(&file, bytes).expect("write");
        for flags in [&[][..], &["--json"], &["--check"]] {
            let mut args = vec!["inspect"];
            args.extend_from_slice(flags);
            args.push(path(&file));
            let (code, out, err) = check(&args);
            assert_eq!(code, 2, "{name} {flags:?}: {out}{err}");
            assert!(err.contains(expected), "{name} {flags:?}: {err}");
            assert!(!err.contains("panicked"), "{name} {flags:?}: {err}");
        }
    }
    let (code, _, err) = check(&["inspect", "/nonexistent/object.bson"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read"), "{err}");
}

/// `archiver ARGS…` started in `cwd` with stdout piped and stderr into
/// `stderr_file`.
fn spawn_in(cwd: &Path, args: &[&str], stderr_file: &Path) -> std::process::Child {
    let stderr = std::fs::File::create(stderr_file).expect("stderr file");
    Command::new(env!("CARGO_BIN_EXE_archiver"))
        .args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("archiver starts")
}

/// A closed port: nothing listens on the discard port of the loopback.
const NO_KAFKA: &str = "127.0.0.1:9";

/// The embedded default (`sqlite://./archive/index.db`,
/// `file://./archive/objects`) failed in a fresh directory with "unable to
/// open database file": SQLite does not create the file's directory.
#[test]
fn regression_embedded_default_works_in_a_fresh_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("stderr.log");
    let mut child = spawn_in(dir.path(), &["run", "--kafka-brokers", NO_KAFKA, "--metrics-addr", "none"], &log);
    let objects = dir.path().join("archive/objects");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // The index opens first, then the store, then the Kafka client: the
    // store's directory shows that the run got as far as Kafka.
    let reached_kafka = loop {
        if objects.is_dir() || std::time::Instant::now() > deadline || child.try_wait().expect("wait").is_some() {
            break objects.is_dir();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    let err = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!err.contains("unable to open database file"), "{err}");
    assert!(reached_kafka, "archiver run did not get as far as Kafka:\n{err}");
    assert!(dir.path().join("archive/index.db").is_file(), "{err}");
}

/// An error's cause was printed four times in one line: each error's
/// Display embeds its source, and `{:#}` printed every source again.
#[test]
fn regression_an_error_cause_is_printed_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A directory is no database file.
    let index = format!("sqlite://{}", path(dir.path()));
    let store = format!("file://{}/objects", path(dir.path()));
    let args = ["run", "--kafka-brokers", NO_KAFKA, "--metrics-addr", "none", "--index", &index, "--store", &store];
    let (code, _, err) = check(&args);
    assert_eq!(code, 2, "{err}");
    let line = err.lines().find(|l| l.starts_with("archiver: ")).unwrap_or_else(|| panic!("no error line in:\n{err}"));
    assert_eq!(line.matches("unable to open database file").count(), 1, "{line}");
    assert_eq!(line.matches("index query failed").count(), 1, "{line}");

    let (code, _, err) = check(&["inspect", "/nonexistent/object.bson"]);
    assert_eq!(code, 2);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

/// A copy of upstream's test vector whose payload is `size` bytes, so that
/// `inspect`'s output outgrows a pipe's buffer.
fn big_object(dir: &Path, size: usize) -> PathBuf {
    let bytes = std::fs::read(fixture("current-vector.bson")).expect("fixture");
    let mut doc = bson::Document::from_reader(&mut &bytes[..]).expect("fixture decodes");
    doc.insert("message", bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![b'x'; size] });
    let file = dir.join("big.bson");
    std::fs::write(&file, to_bytes(&doc)).expect("write");
    file
}

/// `archiver inspect --json BIG.bson | head -1` panicked (exit 101): a reader
/// that closes the pipe early is a normal end for every command.
#[test]
fn regression_a_closed_stdout_pipe_is_a_normal_end() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let big = big_object(dir.path(), 1 << 20);
    let log = dir.path().join("stderr.log");
    for flags in [&["--json"][..], &[]] {
        let mut args = vec!["inspect"];
        args.extend_from_slice(flags);
        args.push(path(&big));
        let mut child = spawn_in(dir.path(), &args, &log);
        let mut first = String::new();
        let out = child.stdout.take().expect("piped stdout");
        std::io::BufReader::new(out).read_line(&mut first).expect("first line");
        // The reader is dropped here, as `head -1` exits.
        let status = child.wait().expect("wait");
        let err = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(status.success(), "{args:?}: {status}: {err}");
    }
    // Short outputs: the reader is gone before the command writes.
    let check_big = ["inspect", "--check", path(&big)];
    for args in [&["config", "--kafka-brokers", NO_KAFKA][..], &["token", "someone"], &check_big] {
        let mut child = spawn_in(dir.path(), args, &log);
        drop(child.stdout.take());
        let status = child.wait().expect("wait");
        let err = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(status.success(), "{args:?}: {status}: {err}");
    }
}
