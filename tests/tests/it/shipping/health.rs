//! `archiver health`, the image's health check, as a container engine runs
//! it: the real binary, an environment of `ARCHIVER_*` variables only, exit
//! 0 healthy and 1 not.

use crate::support;
use archiver::ops::liveness::spawn_liveness;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// `archiver health ARGS` with `env` as its whole environment: the exit
/// code and the line it printed.
async fn check(env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let out = tokio::process::Command::new(support::binary("archiver"))
        .arg("health")
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .await
        .expect("archiver health runs");
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(line.lines().count(), 1, "one line expected: {line:?}");
    (out.status.code().expect("an exit code"), line)
}

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis()
}

/// A liveness file, as `archiver run` writes them, stamped `age_ms` ago.
fn stamp(path: &Path, age_ms: u128) {
    std::fs::write(path, format!("{}\n", now_ms() - age_ms)).expect("write the liveness file");
}

#[tokio::test]
async fn health_accepts_the_liveness_file_run_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("alive");
    let writer = spawn_liveness(file.clone(), Duration::from_millis(20), || true, std::future::pending());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !file.exists() {
        assert!(Instant::now() < deadline, "the liveness file was never written");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let shown = file.to_str().expect("UTF-8 path");
    let (code, line) = check(&[("ARCHIVER_LIVENESS_FILE", shown)], &[]).await;
    assert_eq!((code, line.starts_with("healthy: the liveness file")), (0, true), "{line}");
    writer.abort();
}

#[tokio::test]
async fn health_refuses_a_stale_missing_or_garbled_liveness_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("alive");
    let shown = file.to_str().expect("UTF-8 path");
    let env = [("ARCHIVER_LIVENESS_FILE", shown), ("ARCHIVER_LIVENESS_MAX_AGE_MS", "20000")];
    for (age_ms, healthy) in [(0, true), (10_000, true), (60_000, false)] {
        stamp(&file, age_ms);
        let (code, line) = check(&env, &[]).await;
        assert_eq!(code == 0, healthy, "a file {age_ms} ms old: {line}");
        if !healthy {
            assert!(line.starts_with("unhealthy: ") && line.contains("more than 20000 ms"), "{line}");
        }
    }
    // Without a configured maximum: three liveness intervals.
    stamp(&file, 4_000);
    let interval = [("ARCHIVER_LIVENESS_FILE", shown), ("ARCHIVER_LIVENESS_INTERVAL_MS", "1000")];
    assert_eq!(check(&interval, &[]).await.0, 1, "4 s is more than 3 × 1 s");
    std::fs::write(&file, "yesterday\n").expect("write");
    let (code, line) = check(&env, &[]).await;
    assert_eq!(code, 1, "{line}");
    assert!(line.contains("holds no timestamp"), "{line}");
    std::fs::remove_file(&file).expect("remove");
    let (code, line) = check(&env, &[]).await;
    assert_eq!(code, 1, "{line}");
    assert!(line.contains("cannot read the liveness file"), "{line}");
}

/// Settings that do not load are unhealthy (1), never the 2 that container
/// engines reserve.
#[tokio::test]
async fn health_is_1_for_unusable_settings() {
    let env = [("ARCHIVER_LIVENESS_FILE", "/tmp/x"), ("ARCHIVER_LIVENESS_INTERVAL_MS", "0")];
    let (code, line) = check(&env, &[]).await;
    assert_eq!(code, 1, "{line}");
    assert!(line.contains("observability.liveness_interval_ms"), "{line}");
}

#[tokio::test]
async fn health_asks_serve_where_it_listens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut serve, addr) = support::spawn_serve(dir.path(), "127.0.0.1:0");
    let listen = [("ARCHIVER_LISTEN_ADDR", addr.as_str())];
    let (code, line) = check(&listen, &[]).await;
    assert_eq!(code, 0, "{line}");
    assert_eq!(line, format!("healthy: http://{addr}/health_check answered 200"));
    serve.kill().expect("kill archiver serve");
    serve.wait().expect("reap archiver serve");
    let (code, line) = check(&listen, &[]).await;
    assert_eq!(code, 1, "{line}");
    assert!(line.starts_with(&format!("unhealthy: http://{addr}/health_check: ")), "{line}");
}

#[tokio::test]
async fn health_refuses_an_api_that_fails_or_is_slow() {
    let server = MockServer::start().await;
    Mock::given(path("/failing")).respond_with(ResponseTemplate::new(503)).mount(&server).await;
    let slow = ResponseTemplate::new(200).set_delay(Duration::from_secs(5));
    Mock::given(path("/slow")).respond_with(slow).mount(&server).await;
    let failing = format!("{}/failing", server.uri());
    let (code, line) = check(&[], &["--url", &failing]).await;
    assert_eq!((code, line.contains("answered 503")), (1, true), "{line}");
    let started = Instant::now();
    let (code, line) = check(&[], &["--url", &format!("{}/slow", server.uri()), "--timeout-ms", "300"]).await;
    assert_eq!(code, 1, "{line}");
    assert!(started.elapsed() < Duration::from_secs(4), "the timeout did not bound the check: {line}");
}
