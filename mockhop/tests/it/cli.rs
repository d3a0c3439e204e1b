//! The `mockhop` command line, run as a user would.

use crate::verify::{Archive, COUNT, FIELDS, SEED, expectation, modified, pick};
use archiver::api::Access;
use sha2::{Digest, Sha256};
use std::io::Read as _;
use std::process::{Command, Output, Stdio};

/// Runs `mockhop args...` and returns (exit code, stdout bytes, stderr).
fn check(args: &[&str]) -> (i32, Vec<u8>, String) {
    let Output { status, stdout, stderr } =
        Command::new(env!("CARGO_BIN_EXE_mockhop")).args(args).output().expect("mockhop runs");
    (status.code().expect("exited normally"), stdout, String::from_utf8_lossy(&stderr).into_owned())
}

#[test]
fn generate_is_byte_identical_across_runs_in_both_formats() {
    for format in ["jsonl", "bson"] {
        let args = ["generate", "--seed", "3", "--count", "250", "--format", format];
        let (code, first, err) = check(&args);
        assert_eq!(code, 0, "{err}");
        assert!(!first.is_empty());
        let (_, second, _) = check(&args);
        assert!(first == second, "{format}: two runs differ");
        let (_, other_seed, _) = check(&["generate", "--seed", "4", "--count", "250", "--format", format]);
        assert!(first != other_seed, "{format}: another seed gives the same stream");
    }
}

/// The bytes `mockhop generate --seed 42 --count 300` writes, pinned in both
/// formats: other tools read these files, so a change of the generator or of
/// the file formats must be a conscious decision (update the digests then,
/// with `the_stream_for_seed_42_is_pinned` in generate.rs).
#[test]
fn generate_file_bytes_are_pinned() {
    for (format, digest) in [
        ("jsonl", "6fde86223039595435bfb0f29b2d0b7a248938fcd7537d3700cf37a3ad190d80"),
        ("bson", "a90cac2a09c63953829b47f21242aa66991f158e312b0de22f6b1bd973d8e0e9"),
    ] {
        let (code, out, err) = check(&["generate", "--seed", "42", "--count", "300", "--format", format]);
        assert_eq!(code, 0, "{err}");
        let hex: String = Sha256::digest(&out).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, digest, "{format}: the file bytes changed");
    }
}

/// `mockhop generate | head`: the reader leaving early is a normal end.
#[test]
fn generate_into_a_closed_pipe_ends_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mockhop"))
        .args(["generate", "--seed", "1", "--count", "300"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mockhop runs");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 1024];
    stdout.read_exact(&mut first).expect("some output");
    // About 11 MB remain to be written: far more than a pipe holds.
    drop(stdout);
    let output = child.wait_with_output().expect("mockhop ends");
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(err.is_empty(), "nothing on stderr: {err}");
}

#[test]
fn generate_jsonl_has_one_object_per_delivery() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("stream.jsonl");
    let (code, _, err) = check(&["generate", "--seed", "1", "--count", "40", "--out", out.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&out).expect("written");
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
    assert_eq!(lines.len(), 40);
    assert_eq!(lines[7]["seq"], 7);
    assert!(lines.iter().all(|l| l["topic"].is_string() && l["headers"].is_array()));
}

#[test]
fn profiles_and_bad_input() {
    let (code, out, _) = check(&["profiles"]);
    assert_eq!(code, 0);
    let text = String::from_utf8_lossy(&out);
    for name in ["default", "realistic", "old-clients", "odd-headers", "duplicates"] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{name} missing from:\n{text}");
    }
    let (code, _, err) = check(&["generate", "--seed", "1", "--count", "5", "--profile", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown profile") && err.contains("realistic"), "{err}");
}

#[test]
fn expect_prints_messages_and_counts() {
    let (code, out, err) = check(&["expect", "--seed", &SEED.to_string(), "--count", &COUNT.to_string()]);
    assert_eq!(code, 0, "{err}");
    let text = String::from_utf8_lossy(&out);
    let expected = expectation();
    let summary = text.lines().last().expect("a summary line");
    assert!(
        summary.starts_with(&format!(
            "# {} messages, {} duplicates, {} conflicts",
            expected.messages.len(),
            expected.duplicates,
            expected.conflicts
        )),
        "{summary}"
    );
    let first = &expected.messages[0];
    assert!(text.contains(&format!("{} {}", first.seq, first.placement.uuid)), "first message missing");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_exits_zero_on_a_good_archive_and_one_on_a_damaged_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let index = format!("sqlite://{}", tmp.path().join("index.db").display());
    let store_dir = tmp.path().join("objects");
    let store = format!("file://{}", store_dir.display());
    let archive = Archive::at(&index, &store).await;
    let expected = expectation();
    archive.write_all(&expected, None).await;
    let args = verify_args(&index, &store);
    let (code, out, err) = tokio::task::spawn_blocking(move || run_owned(&args)).await.expect("runs");
    let text = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(code, 0, "{text}{err}");
    assert!(text.contains(&format!("verified {} messages: 0 discrepancies", expected.messages.len())), "{text}");

    let victim = expected.messages.iter().find_map(|m| m.object_key.clone()).expect("a keyed message");
    std::fs::remove_file(store_dir.join(&victim)).expect("object file removed");
    let args = verify_args(&index, &store);
    let (code, out, _) = tokio::task::spawn_blocking(move || run_owned(&args)).await.expect("runs");
    let text = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("object missing") && text.contains(&victim), "{text}");
}

fn verify_args(index: &str, store: &str) -> Vec<String> {
    let (seed, count) = (SEED.to_string(), COUNT.to_string());
    ["verify", "--seed", &seed, "--count", &count, "--index", index, "--store", store].map(str::to_owned).to_vec()
}

fn verify_api_args(api: &str) -> Vec<String> {
    let (seed, count) = (SEED.to_string(), COUNT.to_string());
    ["verify", "--seed", &seed, "--count", &count, "--api", api].map(str::to_owned).to_vec()
}

/// An archive in files (SQLite + directory) with one defect planted.
async fn damaged(dir: &std::path::Path, defect: &str) -> (Archive, String, String) {
    let index = format!("sqlite://{}", dir.join("index.db").display());
    let store = format!("file://{}", dir.join("objects").display());
    let archive = Archive::at(&index, &store).await;
    let expected = expectation();
    match defect {
        "missing" => archive.write_all(&expected, Some(pick(&expected, 3).seq)).await,
        "mismatch" => {
            let (target, message) = modified(&expected, FIELDS[0]);
            archive.write_all(&expected, Some(target.seq)).await;
            archive.write(&target, target.placement.uuid, Some(&message), true).await;
        }
        "extra" => {
            archive.write_all(&expected, None).await;
            archive.write(pick(&expected, 1), uuid::Uuid::from_u128(0x5eed), None, true).await;
        }
        _ => unreachable!("{defect}"),
    }
    (archive, index, store)
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_exits_one_on_a_missing_a_mismatched_and_an_extra_message() {
    for defect in ["missing", "mismatch", "extra"] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (archive, index, store) = damaged(tmp.path(), defect).await;
        let server = archive.serve(Access { public_topics: vec!["*".into()], ..Access::default() }).await;
        for args in [verify_args(&index, &store), verify_api_args(&server.base)] {
            let (code, out, err) = tokio::task::spawn_blocking(move || run_owned(&args)).await.expect("runs");
            let text = String::from_utf8_lossy(&out).into_owned();
            assert_eq!(code, 1, "{defect}: {text}{err}");
            let first = text.lines().next().unwrap_or_default();
            assert!(first.starts_with(&format!("{defect}:")), "{defect}: {text}");
            assert!(text.contains(": 1 discrepancies"), "{defect}: {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_through_the_api_exits_zero_on_a_good_archive_and_two_when_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let index = format!("sqlite://{}", tmp.path().join("index.db").display());
    let store = format!("file://{}", tmp.path().join("objects").display());
    let archive = Archive::at(&index, &store).await;
    let expected = expectation();
    archive.write_all(&expected, None).await;
    let public = archive.serve(Access { public_topics: vec!["*".into()], ..Access::default() }).await;
    let args = verify_api_args(&public.base);
    let (code, out, err) = tokio::task::spawn_blocking(move || run_owned(&args)).await.expect("runs");
    let text = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(code, 0, "{text}{err}");
    assert!(text.contains(&format!("verified {} messages: 0 discrepancies", expected.messages.len())), "{text}");
    // Private topics without a token: a clear error, not a report.
    let private = archive.serve(Access::default()).await;
    let args = verify_api_args(&private.base);
    let (code, _, err) = tokio::task::spawn_blocking(move || run_owned(&args)).await.expect("runs");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("401") && err.contains("--api-token"), "{err}");
    // --api excludes --index/--store, and one of the two is needed.
    let (code, _, err) =
        check(&["verify", "--seed", "1", "--count", "1", "--api", "http://x", "--index", "sqlite::memory:"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = check(&["verify", "--seed", "1", "--count", "1"]);
    assert!(code == 2 && err.contains("--index") && err.contains("--store"), "{err}");
}

fn run_owned(args: &[String]) -> (i32, Vec<u8>, String) {
    check(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn demo_archives_a_stream_end_to_end_and_verifies_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    let run = || check(&["demo", "--dir", dir.to_str().expect("utf-8"), "--count", "150"]);
    let (code, out, err) = run();
    let text = String::from_utf8_lossy(&out);
    assert_eq!(code, 0, "{text}{err}");
    assert!(text.contains("archived exactly once, byte for byte"), "{text}");
    assert!(text.contains("inspect ") && dir.join("index.db").exists(), "{text}");
    // A second demo replaces the first one's directory.
    let (code, _, err) = run();
    assert_eq!(code, 0, "{err}");
    // ...but never a directory it did not make.
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir_all(&foreign).expect("dir");
    std::fs::write(foreign.join("precious.txt"), "keep me").expect("file");
    let (code, _, err) = check(&["demo", "--dir", foreign.to_str().expect("utf-8")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("was not made by mockhop demo"), "{err}");
    assert!(foreign.join("precious.txt").exists());
}
