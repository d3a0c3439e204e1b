//! `ops::{metrics, server, liveness, logging}`: what `archiver run` tells operators.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use archiver::ops::liveness::spawn_liveness;
use archiver::ops::server::serve_metrics;
use archiver::telemetry::logging::{self, LogFormat};
use archiver::telemetry::metrics::{LATENCY_BUCKETS, Metrics, TopicTotals};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// The samples of a rendering, `name{labels}` → value; comments must be HELP/TYPE.
fn samples(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') {
            assert!(line.starts_with("# HELP ") || line.starts_with("# TYPE "), "odd comment: {line}");
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let value = value.parse().unwrap_or_else(|e| panic!("value of {line}: {e}"));
        assert!(out.insert(series.to_owned(), value).is_none(), "repeated series {series}");
    }
    out
}

fn value(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    *samples.get(series).unwrap_or_else(|| panic!("{series} missing from {samples:#?}"))
}

#[test]
fn counters_render_with_their_labels_and_values() {
    let m = Metrics::new();
    m.archived("alerts.a", 100);
    m.archived("alerts.a", 50);
    m.duplicate("alerts.a");
    m.conflict("alerts.b");
    m.skipped_test("alerts.b");
    m.healed();
    m.retry("store");
    m.retry("store");
    m.retry("index");
    m.set_in_flight(7);
    m.set_lag("alerts.a", 0, 40);
    m.set_lag("alerts.a", 1, 2);
    m.set_lag("alerts.a", 1, 3);
    let text = m.render_prometheus();
    let s = samples(&text);
    for (series, expected) in [
        (r#"archiver_messages_archived_total{topic="alerts.a"}"#, 2.0),
        (r#"archiver_messages_archived_total{topic="alerts.b"}"#, 0.0),
        (r#"archiver_archived_bytes_total{topic="alerts.a"}"#, 150.0),
        (r#"archiver_duplicates_total{topic="alerts.a"}"#, 1.0),
        (r#"archiver_conflicts_total{topic="alerts.b"}"#, 1.0),
        (r#"archiver_skipped_test_total{topic="alerts.b"}"#, 1.0),
        ("archiver_healed_total", 1.0),
        (r#"archiver_retries_total{what="store"}"#, 2.0),
        (r#"archiver_retries_total{what="index"}"#, 1.0),
        ("archiver_in_flight", 7.0),
        (r#"archiver_consumer_lag{topic="alerts.a",partition="0"}"#, 40.0),
        (r#"archiver_consumer_lag{topic="alerts.a",partition="1"}"#, 3.0),
    ] {
        assert_eq!(value(&s, series), expected, "{series}");
    }
    for (name, kind) in [
        ("archiver_messages_archived_total", "counter"),
        ("archiver_duplicates_total", "counter"),
        ("archiver_conflicts_total", "counter"),
        ("archiver_skipped_test_total", "counter"),
        ("archiver_archived_bytes_total", "counter"),
        ("archiver_healed_total", "counter"),
        ("archiver_retries_total", "counter"),
        ("archiver_object_write_seconds", "histogram"),
        ("archiver_index_batch_seconds", "histogram"),
        ("archiver_in_flight", "gauge"),
        ("archiver_consumer_lag", "gauge"),
    ] {
        assert!(text.lines().any(|l| l == format!("# TYPE {name} {kind}")), "no TYPE {kind} for {name}");
        assert!(text.contains(&format!("# HELP {name} ")), "no HELP for {name}");
    }
    assert!(text.ends_with('\n'));
    let totals = m.topic_totals();
    assert_eq!(
        totals["alerts.a"],
        TopicTotals { archived: 2, duplicates: 1, size_bytes: 150, ..TopicTotals::default() }
    );
    assert_eq!(m.healed_total(), 1);
}

#[test]
fn removed_lag_is_no_longer_exported() {
    let m = Metrics::new();
    m.set_lag("t", 0, 5);
    m.set_lag("t", 1, 6);
    m.remove_lag("t", 0);
    let s = samples(&m.render_prometheus());
    assert!(!s.contains_key(r#"archiver_consumer_lag{topic="t",partition="0"}"#));
    assert_eq!(value(&s, r#"archiver_consumer_lag{topic="t",partition="1"}"#), 6.0);
}

#[test]
fn histogram_buckets_are_cumulative_and_count_matches() {
    let m = Metrics::new();
    for seconds in [0.0005, 0.003, 0.003, 0.2, 45.0, f64::NAN, -1.0] {
        m.object_write_seconds(seconds);
    }
    m.index_batch_seconds(0.02);
    let s = samples(&m.render_prometheus());
    let bucket = |le: &str| value(&s, &format!(r#"archiver_object_write_seconds_bucket{{le="{le}"}}"#));
    let mut previous = 0.0;
    for le in LATENCY_BUCKETS {
        let count = bucket(&le.to_string());
        assert!(count >= previous, "bucket le={le} ({count}) below the one before ({previous})");
        previous = count;
    }
    // NaN and negative durations count as zero.
    assert_eq!(bucket("0.001"), 3.0);
    assert_eq!(bucket("0.005"), 5.0);
    assert_eq!(bucket("0.25"), 6.0);
    assert_eq!(bucket("30"), 6.0);
    assert_eq!(bucket("+Inf"), 7.0);
    assert_eq!(value(&s, "archiver_object_write_seconds_count"), 7.0);
    let sum = value(&s, "archiver_object_write_seconds_sum");
    assert!((sum - 45.2065).abs() < 1e-6, "sum {sum}");
    assert_eq!(value(&s, r#"archiver_index_batch_seconds_bucket{le="0.01"}"#), 0.0);
    assert_eq!(value(&s, r#"archiver_index_batch_seconds_bucket{le="0.025"}"#), 1.0);
    assert_eq!(value(&s, "archiver_index_batch_seconds_count"), 1.0);
}

#[test]
fn label_values_are_escaped() {
    let m = Metrics::new();
    m.archived("we\"ird\\topic\nname", 1);
    m.set_lag("q\"", 3, 1);
    let text = m.render_prometheus();
    assert!(text.contains(r#"archiver_messages_archived_total{topic="we\"ird\\topic\nname"} 1"#), "{text}");
    assert!(text.contains(r#"archiver_consumer_lag{topic="q\"",partition="3"} 1"#), "{text}");
    assert!(text.lines().all(|l| l.starts_with('#') || l.starts_with("archiver_")), "a raw newline leaked");
}

#[test]
fn progress_line_has_totals_and_the_rate_since_the_previous_line() {
    let m = Metrics::new();
    for _ in 0..100 {
        m.archived("a", 123_000);
    }
    m.duplicate("a");
    m.conflict("b");
    m.skipped_test("b");
    m.skipped_test("b");
    m.set_in_flight(8);
    m.set_lag("a", 0, 30);
    m.set_lag("b", 0, 10);
    m.set_lag("b", 1, -1); // unknown: not added
    assert_eq!(
        m.progress_line(Duration::from_secs(2)),
        "archived 100 (50.0/s, 12.3 MB), duplicates 1, conflicts 1, skipped _test 2, in flight 8, lag 40"
    );
    for _ in 0..5 {
        m.archived("b", 0);
    }
    let second = m.progress_line(Duration::from_millis(500));
    assert!(second.starts_with("archived 105 (10.0/s, 12.3 MB),"), "{second}");
    assert!(m.progress_line(Duration::ZERO).starts_with("archived 105 (0.0/s,"));
}

/// A bare HTTP/1.1 GET: status, lower-cased head, body.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("sends");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("reads");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no head: {response:?}"));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("status: {head}"));
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[tokio::test]
async fn server_answers_metrics_and_healthz_and_stops_on_shutdown() {
    let metrics = Arc::new(Metrics::new());
    metrics.archived("alerts", 42);
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let (addr, handle) =
        serve_metrics("127.0.0.1:0".parse().expect("addr"), Arc::clone(&metrics) as _, shutdown).await.expect("binds");
    assert_ne!(addr.port(), 0, "the bound port is returned");

    let (status, head, body) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/plain; version=0.0.4"), "{head}");
    assert_eq!(body, metrics.render_prometheus());
    assert!(body.contains(r#"archiver_messages_archived_total{topic="alerts"} 1"#));

    let (status, _, body) = http_get(addr, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    assert_eq!(http_get(addr, "/nothing").await.0, 404);

    stop.send(()).expect("server still listening");
    tokio::time::timeout(Duration::from_secs(1), handle).await.expect("stops promptly").expect("no panic");
    assert!(TcpStream::connect(addr).await.is_err(), "the port is closed after shutdown");
}

#[tokio::test]
async fn serving_an_address_in_use_fails_at_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = taken.local_addr().expect("addr");
    let result = serve_metrics(addr, Arc::new(Metrics::new()), std::future::pending()).await;
    assert!(result.is_err());
}

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis()
}

/// The timestamp in the liveness file, once it exists.
async fn read_stamp(path: &Path) -> u128 {
    for _ in 0..100 {
        if let Ok(text) = tokio::fs::read_to_string(path).await {
            assert!(text.ends_with('\n'), "{text:?}");
            return text.trim_end().parse().unwrap_or_else(|e| panic!("{text:?}: {e}"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{} never written", path.display());
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .expect("lists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn liveness_file_is_rewritten_on_the_timer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("alive");
    let (stop, stopped) = oneshot::channel::<()>();
    let before = now_ms();
    let handle = spawn_liveness(path.clone(), Duration::from_millis(20), || true, async move {
        let _ = stopped.await;
    });
    let first = read_stamp(&path).await;
    assert!(first >= before && first <= now_ms(), "{before} <= {first} <= now");
    // A 20 ms timer rewrites it many times a second; a loaded machine may
    // delay a rewrite, so wait for one rather than for a fixed time.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut second = read_stamp(&path).await;
    while second <= first && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        second = read_stamp(&path).await;
    }
    assert!(second > first, "not refreshed within 5 s: {first} then {second}");

    stop.send(()).expect("still running");
    tokio::time::timeout(Duration::from_secs(1), handle).await.expect("stops").expect("no panic");
    let last = read_stamp(&path).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(read_stamp(&path).await, last, "written after shutdown");
    assert_eq!(dir_entries(dir.path()), ["alive"], "temporary files left behind");
}

#[tokio::test]
async fn liveness_survives_write_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("not-yet");
    let path = missing.join("alive");
    let handle = spawn_liveness(path.clone(), Duration::from_millis(10), || true, std::future::pending());
    tokio::time::sleep(Duration::from_millis(40)).await;
    assert!(!handle.is_finished(), "gave up after a failed write");
    std::fs::create_dir(&missing).expect("mkdir");
    let stamp = read_stamp(&path).await;
    assert!(stamp > 0);
    handle.abort();
    assert_eq!(dir_entries(&missing), ["alive"]);
}

#[test]
fn log_format_reads_from_config_and_flags() {
    use clap::ValueEnum as _;
    assert_eq!(serde_json::from_str::<LogFormat>(r#""json""#).expect("json"), LogFormat::Json);
    assert_eq!(serde_json::from_str::<LogFormat>(r#""text""#).expect("text"), LogFormat::Text);
    assert!(serde_json::from_str::<LogFormat>(r#""Json""#).is_err());
    assert_eq!(serde_json::to_string(&LogFormat::Json).expect("serializes"), r#""json""#);
    assert_eq!(LogFormat::from_str("json", false), Ok(LogFormat::Json));
    assert_eq!(LogFormat::from_str("text", false), Ok(LogFormat::Text));
    assert_eq!(LogFormat::default(), LogFormat::Text);
}

#[test]
fn logging_init_twice_is_harmless() {
    logging::init(LogFormat::Json, "info,librdkafka=warn");
    logging::init(LogFormat::Text, "not a [valid filter");
}
