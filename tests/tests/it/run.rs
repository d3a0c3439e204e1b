//! `archiver run` against a real Kafka broker (tansu) with a stream from
//! mockhop, checked with `mockhop verify`: every distinct message exactly
//! once, across stops, restarts and a second instance in the group.

use crate::support::{self, service};
use archiver::config::{
    BackendsArgs, KafkaArgs, Membership, MetricsAddr, ObservabilityArgs, PipelineArgs, RunArgs, StopArgs, TopicsArgs,
    load_from,
};
use archiver::ops::run::run;
use archiver::pipeline::RunSummary;
use archiver::source::KafkaConnection;
use mockhop::expect::{ArchiveRules, Expectation, expect};
use mockhop::{Delivery, StreamOptions, produce};
use std::collections::BTreeMap;
use std::time::Duration;

/// Short, so a killed member's partitions move on quickly (tansu's group
/// join also needs it well below librdkafka's 45 s default).
const SESSION_TIMEOUT_MS: u64 = 6_000;

/// Partitions of each topic a fixture produces.
pub(crate) const PARTITIONS: i32 = 3;

/// A stream produced into its own topics (a fresh prefix per test).
pub(crate) struct Fixture {
    pub(crate) brokers: String,
    pub(crate) prefix: String,
    pub(crate) deliveries: Vec<Delivery>,
    pub(crate) dir: tempfile::TempDir,
}

impl Fixture {
    pub(crate) async fn produced(name: &str, seed: u64, count: usize) -> Fixture {
        Fixture::produced_into(&service("ARCHIVER_TEST_KAFKA"), name, seed, count).await
    }

    async fn produced_into(brokers: &str, name: &str, seed: u64, count: usize) -> Fixture {
        Fixture::produced_from(brokers, name, |prefix| {
            let options = StreamOptions { seed, count, profile: "default".into(), topic_prefix: prefix.to_owned() };
            mockhop::generate::generate(&options).expect("generates")
        })
        .await
    }

    /// The stream `make` builds for the topic prefix it is given, produced
    /// into its own topics.
    pub(crate) async fn produced_from(brokers: &str, name: &str, make: impl FnOnce(&str) -> Vec<Delivery>) -> Fixture {
        let prefix = format!("{name}-{}-", std::process::id());
        let deliveries = make(&prefix);
        let connection = KafkaConnection::plaintext(brokers);
        produce::create_topics(&connection, &deliveries, PARTITIONS).await.expect("topics");
        produce::produce(&connection, &deliveries, PARTITIONS, |_| {}).await.expect("produced");
        Fixture { brokers: brokers.to_owned(), prefix, deliveries, dir: tempfile::tempdir().expect("tempdir") }
    }

    fn args(&self, group: &str) -> RunArgs {
        RunArgs {
            kafka: KafkaArgs {
                kafka_brokers: Some(self.brokers.clone()),
                kafka_group_id: Some(format!("{}{group}", self.prefix)),
                kafka_session_timeout_ms: Some(SESSION_TIMEOUT_MS),
                ..KafkaArgs::default()
            },
            topics: TopicsArgs {
                topics_veto: Some(vec![format!("{}sys.heartbeat", self.prefix)]),
                topics_refresh_interval_ms: Some(1000),
                ..TopicsArgs::default()
            },
            backends: BackendsArgs {
                index_url: Some(format!("sqlite://{}", self.dir.path().join("index.db").display())),
                store_url: Some(format!("file://{}", self.dir.path().join("objects").display())),
            },
            observability: ObservabilityArgs { metrics_addr: Some(MetricsAddr(None)), ..ObservabilityArgs::default() },
            stop: StopArgs { until_eos: Some(true), ..StopArgs::default() },
            pipeline: PipelineArgs { retry_initial_backoff_ms: Some(10), ..PipelineArgs::default() },
            ..RunArgs::default()
        }
    }

    /// Runs the archiver; `adjust` changes the arguments.
    async fn run(&self, group: &str, adjust: impl FnOnce(&mut RunArgs)) -> RunSummary {
        let mut args = self.args(group);
        adjust(&mut args);
        let mut config = load_from(&args, &BTreeMap::new()).expect("config loads");
        // Only this test's topics: other tests share the broker.
        config.topics.selection = archiver::config::TopicSelection::Explicit { names: self.topics(), veto: Vec::new() };
        let (summary, _) = run(&config, std::future::pending()).await.expect("runs");
        summary
    }

    pub(crate) fn topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self.deliveries.iter().map(|d| d.message.topic.clone()).collect();
        topics.sort();
        topics.dedup();
        topics.retain(|t| !t.ends_with("sys.heartbeat"));
        topics
    }

    /// Deliveries the archiver consumes (heartbeats are vetoed).
    pub(crate) fn consumed(&self) -> u64 {
        self.deliveries.iter().filter(|d| !d.message.topic.ends_with("sys.heartbeat")).count() as u64
    }

    pub(crate) fn expectation(&self) -> Expectation {
        let sent = produce::as_produced(&self.deliveries);
        expect(&sent, &ArchiveRules::defaults(&self.prefix))
            .expect("no collisions")
            .in_partitions(PARTITIONS.unsigned_abs())
    }

    async fn check(&self) {
        let index = archiver::index::open(&format!("sqlite://{}", self.dir.path().join("index.db").display()))
            .await
            .expect("index");
        let store = archiver::store::open(&format!("file://{}", self.dir.path().join("objects").display()))
            .await
            .expect("store");
        let expected = self.expectation();
        let report = mockhop::verify::verify(&expected, index.as_ref(), store.as_ref()).await.expect("verifies");
        assert_eq!(report.discrepancies, vec![], "the archive differs from the stream");
        let rows: i64 = index.topic_stats().await.expect("stats").iter().map(|s| s.count).sum();
        assert_eq!(rows, expected.messages.len() as i64, "one row per distinct message");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_produced_stream_is_archived_exactly_once() {
    let f = Fixture::produced("run-once", 31, 250).await;
    let summary = f.run("g", |_| {}).await;
    assert_eq!(summary.taken, f.consumed(), "each message read once");
    f.check().await;
    let expected = f.expectation();
    assert_eq!(summary.archived, expected.messages.len() as u64);
    assert_eq!(summary.duplicates, expected.duplicates);
    assert_eq!(summary.skipped_test, expected.skipped_test);
    // The group's offsets were committed: a restart has nothing to do.
    let again = f.run("g", |_| {}).await;
    assert_eq!(again.taken, 0, "everything was committed");
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_and_restarting_loses_nothing() {
    let f = Fixture::produced("run-stops", 32, 250).await;
    let mut taken = 0;
    for max in [40, 7, 60] {
        taken += f.run("g", |a| a.stop.max_messages = Some(max)).await.taken;
    }
    let rest = f.run("g", |_| {}).await;
    assert!(taken + rest.taken >= f.consumed(), "every message was read at least once");
    f.check().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shutdown_signal_drains_and_commits() {
    let f = Fixture::produced("run-signal", 33, 200).await;
    let mut args = f.args("g");
    args.stop.until_eos = Some(false);
    let mut config = load_from(&args, &BTreeMap::new()).expect("config loads");
    config.topics.selection = archiver::config::TopicSelection::Explicit { names: f.topics(), veto: Vec::new() };
    // Without --until-eos the archiver runs until told to stop.
    let (summary, _) = run(&config, tokio::time::sleep(Duration::from_secs(12))).await.expect("runs");
    assert!(summary.taken > 0, "it archived before the signal");
    let rest = f.run("g", |_| {}).await;
    assert!(rest.taken < summary.taken, "the drained work was committed ({} then {})", summary.taken, rest.taken);
    f.check().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_in_one_group_share_the_work() {
    let f = Fixture::produced("run-pair", 34, 300).await;
    let (a, b) = tokio::join!(f.run("g", |_| {}), f.run("g", |_| {}));
    assert!(a.taken + b.taken >= f.consumed(), "together they read the whole stream");
    f.check().await;
}

/// The store and index URLs of a fresh PostgreSQL database and S3 bucket.
pub(crate) async fn real_backends() -> (String, String, archiver::store::S3Store) {
    let index = support::fresh_database("run").await;
    let bucket = format!("run-{}", uuid::Uuid::new_v4().simple());
    let endpoint = service("ARCHIVER_TEST_S3_ENDPOINT");
    let s3 = archiver::store::S3Store::new(archiver::store::S3Config {
        bucket: bucket.clone(),
        endpoint: Some(endpoint.clone()),
        region: "us-east-1".into(),
        path_style: true,
        credentials: Some((service("ARCHIVER_TEST_S3_ACCESS_KEY"), service("ARCHIVER_TEST_S3_SECRET_KEY"))),
        timeouts: archiver::store::S3Timeouts::default(),
    })
    .await;
    s3.create_bucket_if_missing().await.expect("bucket");
    (index, format!("s3://{bucket}?endpoint={endpoint}&region=us-east-1"), s3)
}

/// `archiver run` as a process, with S3 credentials in its environment.
pub(crate) fn archiver_process(f: &Fixture, index: &str, store: &str) -> tokio::process::Command {
    let mut cmd = archiver_following(f, index, store);
    cmd.arg("--until-eos");
    cmd
}

/// `archiver run` on the fixture's topics that keeps following them.
fn archiver_following(f: &Fixture, index: &str, store: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(support::binary("archiver"));
    cmd.args(["run", "--kafka-brokers", &f.brokers, "--kafka-session-timeout-ms", "6000"])
        .args(["--kafka-group-id", &format!("{}g", f.prefix), "--topics", &f.topics().join(",")])
        .args(["--index", index, "--store", store, "--metrics-addr", "none"])
        .env("AWS_ACCESS_KEY_ID", service("ARCHIVER_TEST_S3_ACCESS_KEY"))
        .env("AWS_SECRET_ACCESS_KEY", service("ARCHIVER_TEST_S3_SECRET_KEY"))
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    cmd
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_mid_stream_on_postgres_and_s3_loses_nothing() {
    let f = Fixture::produced("run-kill", 35, 300).await;
    let (index_url, store_url, s3) = real_backends().await;
    // SIGKILL at fixed, varied moments: before the group join, mid-stream, late.
    let index = archiver::index::open(&index_url).await.expect("index");
    // SIGKILL once the archive holds at least this many rows: right after
    // start-up, early in the stream and later in it.
    for rows_at_kill in [0, 20, 120] {
        let mut child = archiver_process(&f, &index_url, &store_url).spawn().expect("archiver starts");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while total_rows(index.as_ref()).await < rows_at_kill && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = child.start_kill();
        let _ = child.wait().await;
        // The killed member holds its partitions until its session times out.
        tokio::time::sleep(Duration::from_millis(SESSION_TIMEOUT_MS + 1_000)).await;
    }
    let last = archiver_process(&f, &index_url, &store_url).env("RUST_LOG", "info").output().await.expect("runs");
    let log = String::from_utf8_lossy(&last.stderr);
    assert!(last.status.success(), "the final run finishes: {}\n{log}", last.status);
    let expected = f.expectation();
    let report = mockhop::verify::verify(&expected, index.as_ref(), &s3).await.expect("verifies");
    assert_eq!(report.discrepancies, vec![], "the archive differs from the stream; last run:\n{log}");
    assert_eq!(total_rows(index.as_ref()).await, expected.messages.len() as i64, "one row per distinct message");
}

pub(crate) async fn total_rows(index: &dyn archiver::index::Index) -> i64 {
    index.topic_stats().await.expect("stats").iter().map(|s| s.count).sum()
}

/// A private s3s-fs with a bucket, which a test may stop and start again.
struct PrivateS3 {
    _process: S3Server,
    port: u16,
    data: std::path::PathBuf,
}

impl PrivateS3 {
    const BUCKET: &str = "private";

    async fn start(f: &Fixture) -> (PrivateS3, archiver::store::S3Store) {
        let data = f.dir.path().join("s3");
        std::fs::create_dir_all(&data).expect("s3 dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
        let process = start_s3s(port, &data);
        wait_for_port(port).await;
        let s3 = archiver::store::S3Store::new(archiver::store::S3Config {
            bucket: Self::BUCKET.into(),
            endpoint: Some(format!("http://127.0.0.1:{port}")),
            region: "us-east-1".into(),
            path_style: true,
            credentials: Some(("outage".into(), "outage-secret-key".into())),
            timeouts: archiver::store::S3Timeouts::default(),
        })
        .await;
        s3.create_bucket_if_missing().await.expect("bucket");
        (PrivateS3 { _process: process, port, data }, s3)
    }

    fn store_url(&self) -> String {
        format!("s3://{}?endpoint=http://127.0.0.1:{}&region=us-east-1", Self::BUCKET, self.port)
    }

    /// `command` with this server's credentials, slow to retry and with
    /// little in flight, so that an outage catches work mid-way.
    fn archiver(&self, mut command: tokio::process::Command) -> tokio::process::Command {
        command
            .args(["--in-flight-max", "2", "--batch-rows-max", "5", "--retry-max-backoff-ms", "500"])
            .env("AWS_ACCESS_KEY_ID", "outage")
            .env("AWS_SECRET_ACCESS_KEY", "outage-secret-key");
        command
    }
}

/// A private S3 server process, stopped when dropped (also when a test fails).
struct S3Server(std::process::Child);

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A private s3s-fs server on `port` over `dir`, so a test can stop it.
fn start_s3s(port: u16, dir: &std::path::Path) -> S3Server {
    let child = std::process::Command::new(support::s3s_fs_binary())
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", "outage"])
        .args(["--secret-key", "outage-secret-key"])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("s3s-fs starts");
    S3Server(child)
}

async fn wait_for_port(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on port {port}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_s3_outage_mid_run_pauses_archiving_and_loses_nothing() {
    let f = Fixture::produced("run-s3-outage", 36, 250).await;
    let (server, s3) = PrivateS3::start(&f).await;
    let index_url = format!("sqlite://{}", f.dir.path().join("outage.db").display());
    let mut archiver = server.archiver(archiver_process(&f, &index_url, &server.store_url())).spawn().expect("starts");
    let index = archiver::index::open(&index_url).await.expect("index");
    while total_rows(index.as_ref()).await < 5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (port, data) = (server.port, server.data.clone());
    drop(server);
    let rows_when_stopped = total_rows(index.as_ref()).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rows_during_outage = total_rows(index.as_ref()).await;
    let _server = start_s3s(port, &data);
    wait_for_port(port).await;
    let status =
        tokio::time::timeout(Duration::from_secs(120), archiver.wait()).await.expect("finishes").expect("waits");
    assert!(status.success(), "archiver exit: {status}");
    // At most the rows whose objects were written before the stop land during it.
    assert!(rows_during_outage <= rows_when_stopped + 7, "{rows_when_stopped} then {rows_during_outage}");
    let expected = f.expectation();
    let report = mockhop::verify::verify(&expected, index.as_ref(), &s3).await.expect("verifies");
    assert_eq!(report.discrepancies, vec![], "the archive differs from the stream");
    assert_eq!(total_rows(index.as_ref()).await, expected.messages.len() as i64);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_topic_created_while_running_is_archived_without_a_restart() {
    check_a_topic_created_while_running("run-new-topic", Membership::Group).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_standalone_archiver_takes_up_a_topic_created_while_running() {
    check_a_topic_created_while_running("run-new-topic-alone", Membership::Standalone).await;
}

/// Standalone runs take every partition without joining the group, yet
/// commit under its id: runs in either mode go on where the last stopped.
#[tokio::test(flavor = "multi_thread")]
async fn standalone_and_group_runs_resume_from_each_others_offsets() {
    let f = Fixture::produced("run-alone", 39, 250).await;
    let standalone = |a: &mut RunArgs| a.kafka.kafka_membership = Some(Membership::Standalone);
    let first = f
        .run("g", |a| {
            standalone(a);
            a.stop.max_messages = Some(40);
        })
        .await;
    assert_eq!(first.taken, 40);
    let rest = f.run("g", |_| {}).await;
    assert_eq!(rest.taken, f.consumed() - 40, "the group went on from the standalone run's commits");
    let again = f.run("g", standalone).await;
    assert_eq!(again.taken, 0, "the standalone run went on from the group's commits");
    f.check().await;
}

async fn check_a_topic_created_while_running(name: &str, membership: Membership) {
    let f = Fixture::produced(name, 37, 120).await;
    let late = format!("{}late.topic", f.prefix);
    let mut args = f.args("g");
    args.stop.until_eos = Some(false);
    args.kafka.kafka_membership = Some(membership);
    let mut config = load_from(&args, &BTreeMap::new()).expect("config loads");
    // The late topic is wanted from the start but does not exist yet: that is not an error.
    let mut topics = f.topics();
    topics.push(late.clone());
    config.topics.selection = archiver::config::TopicSelection::Explicit { names: topics, veto: Vec::new() };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let index = archiver::index::open(&f.args("g").backends.index_url.expect("index url")).await.expect("index");
    let late_rows = || async {
        index.topic_stats().await.expect("stats").iter().filter(|s| s.topic == late).map(|s| s.count).sum::<i64>()
    };
    let create_late_topic = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let options = StreamOptions { seed: 38, count: 30, profile: "realistic".into(), topic_prefix: String::new() };
        let late_deliveries: Vec<Delivery> = mockhop::generate::generate(&options)
            .expect("generates")
            .into_iter()
            .map(|mut d| {
                d.message.topic = late.clone();
                d
            })
            .collect();
        let connection = KafkaConnection::plaintext(service("ARCHIVER_TEST_KAFKA"));
        produce::create_topics(&connection, &late_deliveries, 1).await.expect("late topic");
        produce::produce(&connection, &late_deliveries, 1, |_| {}).await.expect("produced");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while late_rows().await == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let _ = stop_tx.send(());
    };
    let (archived, ()) = tokio::join!(run(&config, async move { drop(stop_rx.await) }), create_late_topic);
    archived.expect("runs");
    assert!(late_rows().await > 0, "messages of the topic created mid-run were archived");
}

/// Issue 11, point 16: a wrong secret or an endpoint that is not S3 had `run --until-eos` retry forever (657 ERROR lines a
/// minute) while its liveness file stayed fresh; it must fail at start,
/// with the cause, like a wrong database or broker does.
#[tokio::test(flavor = "multi_thread")]
async fn regression_a_store_that_refuses_the_archiver_fails_at_start() {
    let f = Fixture::produced("run-bad-store", 39, 20).await;
    let (index_url, store_url, _s3) = real_backends().await;
    let not_s3 = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("listens");
    let not_s3_url = format!("s3://archive?endpoint=http://{}&region=us-east-1", not_s3.local_addr().expect("addr"));
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt as _;
        while let Ok((mut conn, _)) = not_s3.accept().await {
            let page = "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 13\r\n\r\n<html></html>";
            let _ = conn.write_all(page.as_bytes()).await;
        }
    });
    for (case, store, secret, cause) in [
        ("wrong secret", store_url.as_str(), "not-the-secret", "credentials"),
        ("not an S3 endpoint", &not_s3_url, &service("ARCHIVER_TEST_S3_SECRET_KEY"), "unavailable"),
    ] {
        let run = archiver_process(&f, &index_url, store)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .stderr(std::process::Stdio::piped())
            .output();
        let out = tokio::time::timeout(Duration::from_secs(120), run)
            .await
            .unwrap_or_else(|_| panic!("{case}: still running after 120 s"))
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{case}: {stderr}");
        assert!(stderr.contains("cannot use the object store") && stderr.contains(cause), "{case}: {stderr}");
    }
    let index = archiver::index::open(&index_url).await.expect("index");
    assert_eq!(total_rows(index.as_ref()).await, 0, "nothing was archived or committed");
}

/// The age of the liveness file at `path`, from the time it holds.
fn liveness_age(path: &std::path::Path) -> Duration {
    let written: u128 = std::fs::read_to_string(path).ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis();
    Duration::from_millis(u64::try_from(now.saturating_sub(written)).unwrap_or(u64::MAX))
}

/// Issue 11, points 15 and 16: with S3 down the process stayed up 637 s
/// after SIGTERM, and its liveness file stayed fresh while nothing could be
/// archived. The file must go stale, and SIGTERM must end the process within
/// the drain time plus the final commit's bound.
#[tokio::test(flavor = "multi_thread")]
async fn regression_with_s3_down_liveness_goes_stale_and_sigterm_ends_the_run_in_time() {
    let f = Fixture::produced("run-s3-down-term", 40, 200).await;
    let (server, _) = PrivateS3::start(&f).await;
    let index_url = format!("sqlite://{}", f.dir.path().join("down.db").display());
    let liveness = f.dir.path().join("alive");
    let mut archiver = server
        .archiver(archiver_following(&f, &index_url, &server.store_url()))
        .args(["--liveness-file", &liveness.display().to_string(), "--liveness-interval-ms", "200"])
        .spawn()
        .expect("archiver starts");
    let index = archiver::index::open(&index_url).await.expect("index");
    while total_rows(index.as_ref()).await < 5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(liveness_age(&liveness) < Duration::from_secs(2), "fresh while archiving");
    drop(server);
    // Six intervals without progress, then no more refreshes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while liveness_age(&liveness) < Duration::from_secs(3) {
        assert!(tokio::time::Instant::now() < deadline, "the liveness file stayed fresh while S3 was down");
        assert!(archiver.try_wait().expect("polls").is_none(), "the archiver exited during the outage");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    check_sigterm_ends_it_in_time(&mut archiver).await;
}

/// Sends SIGTERM to `archiver`, which cannot finish its work: it must end
/// normally after draining for the drain time, within that plus the final
/// commit's bound (and a margin for a loaded machine).
async fn check_sigterm_ends_it_in_time(archiver: &mut tokio::process::Child) {
    let drain = Duration::from_millis(archiver::ops::run::DRAIN_TIMEOUT_MS);
    let took = sigterm_and_wait(archiver).await;
    assert!(took >= drain, "it gave up after {took:?}, before draining for {drain:?}");
}

/// Sends SIGTERM to `archiver`, requires a normal exit within the drain
/// time plus the final commit's bound (and a margin), returns how long it took.
async fn sigterm_and_wait(archiver: &mut tokio::process::Child) -> Duration {
    let pid = archiver.id().expect("running").to_string();
    let signalled = std::time::Instant::now();
    let term = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
    assert!(term.success(), "SIGTERM sent");
    let bound =
        Duration::from_millis(archiver::ops::run::DRAIN_TIMEOUT_MS + archiver::pipeline::CLOSE_TIMEOUT_MS + 7_000);
    let status = tokio::time::timeout(bound, archiver.wait())
        .await
        .unwrap_or_else(|_| panic!("still running {bound:?} after SIGTERM"))
        .expect("waits");
    assert!(status.success(), "a drained shutdown is a normal end: {status}");
    signalled.elapsed()
}

/// Waits until `index` holds `rows` rows.
async fn wait_for_rows(index: &dyn archiver::index::Index, rows: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while total_rows(index).await < rows {
        assert!(tokio::time::Instant::now() < deadline, "fewer than {rows} rows after 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Issue 11, point 15: with PostgreSQL down, SIGTERM waited until it came
/// back (the final index flush retried without end).
#[tokio::test(flavor = "multi_thread")]
async fn regression_sigterm_ends_the_run_in_time_while_postgres_is_down() {
    let f = Fixture::produced("run-pg-down-term", 41, 200).await;
    let postgres = tokio::task::spawn_blocking(|| support::PrivatePostgres::start("")).await.expect("starts");
    let store_url = format!("file://{}", f.dir.path().join("objects").display());
    let mut archiver = archiver_following(&f, &postgres.url(), &store_url)
        .args(["--in-flight-max", "2", "--batch-rows-max", "5", "--retry-max-backoff-ms", "500"])
        .spawn()
        .expect("archiver starts");
    wait_for_rows(archiver::index::open(&postgres.url()).await.expect("index").as_ref(), 5).await;
    let postgres = tokio::task::spawn_blocking(move || {
        postgres.stop_immediately();
        postgres
    })
    .await
    .expect("stops");
    check_sigterm_ends_it_in_time(&mut archiver).await;
    drop(postgres);
}

/// Issue 11, point 15: with the broker gone, neither the final commit nor
/// closing the consumer may hold the process.
#[tokio::test(flavor = "multi_thread")]
async fn regression_sigterm_ends_the_run_in_time_while_the_broker_is_down() {
    let mut kafka = support::PrivateKafka::start().await;
    let f = Fixture::produced_into(&kafka.brokers, "run-broker-down-term", 42, 200).await;
    let index_url = format!("sqlite://{}", f.dir.path().join("index.db").display());
    let store_url = format!("file://{}", f.dir.path().join("objects").display());
    let mut archiver = archiver_following(&f, &index_url, &store_url)
        .args(["--in-flight-max", "2", "--batch-rows-max", "5"])
        .spawn()
        .expect("archiver starts");
    wait_for_rows(archiver::index::open(&index_url).await.expect("index").as_ref(), 5).await;
    kafka.kill();
    // Messages already fetched may still be archived, so it need not take the
    // whole drain time; the bound holds either way.
    sigterm_and_wait(&mut archiver).await;
}

/// `archiver run` on the fixture's topics in consumer group `group`,
/// writing small batches so that a kill finds writes in flight; every
/// topic's text is indexed, so a kill also finds text entries in flight.
fn archiver_in_group(f: &Fixture, group: &str, index: &str, store: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(support::binary("archiver"));
    cmd.args(["run", "--until-eos", "--kafka-brokers", &f.brokers, "--kafka-session-timeout-ms", "6000"])
        .args(["--kafka-group-id", &format!("{}{group}", f.prefix), "--topics", &f.topics().join(",")])
        .args(["--index", index, "--store", store, "--metrics-addr", "none"])
        .args(["--batch-rows-max", "7", "--in-flight-max", "8", "--retry-max-backoff-ms", "500"])
        .args(["--text-topics", "*"])
        .env("AWS_ACCESS_KEY_ID", service("ARCHIVER_TEST_S3_ACCESS_KEY"))
        .env("AWS_SECRET_ACCESS_KEY", service("ARCHIVER_TEST_S3_SECRET_KEY"))
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    cmd
}

/// What a full count of `messages` says per topic, read with the summed
/// deltas in one snapshot (REPEATABLE READ), so the two agree even while
/// archivers write: `(full count, statistics as kept)`.
async fn counted_and_kept(url: &str) -> (Vec<archiver::index::TopicStats>, Vec<archiver::index::TopicStats>) {
    use sqlx::{Connection as _, Row as _};
    let full = "SELECT topic, count(*) AS count, COALESCE(sum(size), 0)::bigint AS size_bytes, \
        min(\"timestamp\") AS earliest_ms, max(\"timestamp\") AS latest_ms, count(claimed_uuid) AS conflicts, \
        count(*) FILTER (WHERE retracted) AS retracted FROM messages GROUP BY topic ORDER BY topic COLLATE \"C\"";
    let kept = "SELECT topic, sum(messages)::bigint AS count, sum(size_bytes)::bigint AS size_bytes, \
        min(earliest_ms) AS earliest_ms, max(latest_ms) AS latest_ms, sum(conflicts)::bigint AS conflicts, \
        sum(retracted)::bigint AS retracted FROM topic_counts GROUP BY topic ORDER BY topic COLLATE \"C\"";
    let mut conn = sqlx::PgConnection::connect(url).await.expect("raw pg");
    let mut tx = conn.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ").await.expect("snapshot");
    let mut read = async |sql: &'static str| -> Vec<archiver::index::TopicStats> {
        let rows = sqlx::query(sql).fetch_all(&mut *tx).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.iter()
            .map(|r| archiver::index::TopicStats {
                topic: r.get("topic"),
                count: r.get("count"),
                size_bytes: r.get("size_bytes"),
                earliest_ms: r.get("earliest_ms"),
                latest_ms: r.get("latest_ms"),
                conflicts: r.get("conflicts"),
                retracted: r.get("retracted"),
            })
            .collect()
    };
    let (full, kept) = (read(full).await, read(kept).await);
    tx.commit().await.expect("end of snapshot");
    (full, kept)
}

/// Rows without their text entry, and text entries without their row.
async fn unpaired_text_entries(url: &str) -> (i64, i64) {
    let pool = sqlx::PgPool::connect(url).await.expect("raw pg");
    let count = async |sql: &'static str| -> i64 {
        sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
    };
    let rows = count(
        "SELECT count(*) FROM messages m WHERE text_fully_indexed IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM message_ts t WHERE t.uuid = m.uuid)",
    )
    .await;
    let entries =
        count("SELECT count(*) FROM message_ts t WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.uuid = t.uuid)")
            .await;
    (rows, entries)
}

/// Issue 14: per-topic statistics that stay exact under concurrent
/// archivers, crashes and retractions. Two archivers in different consumer
/// groups archive the same stream into one PostgreSQL + S3 archive (every
/// message is raced for), each SIGKILLed and restarted in turn, while a
/// third client retracts and unretracts messages; after every kill, in one
/// snapshot, and at the end, the statistics equal a full count. Issue 16:
/// every topic's text is indexed, and after every kill no row lacks its
/// text entry and no entry its row.
#[tokio::test(flavor = "multi_thread")]
async fn a_kill_storm_leaves_the_topic_statistics_exact() {
    let f = Fixture::produced("run-storm", 43, 400).await;
    let (index_url, store_url, s3) = real_backends().await;
    let index = archiver::index::open(&index_url).await.expect("index");
    let expected = f.expectation();
    let messages = expected.messages.len() as i64;
    let groups = ["a", "b"];
    let spawn = |group: &str| archiver_in_group(&f, group, &index_url, &store_url).spawn().expect("archiver starts");
    let mut children = [spawn(groups[0]), spawn(groups[1])];
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let retractor = {
        // A pool of its own, as `archiver serve` would have.
        let index = archiver::index::open(&index_url).await.expect("the retractor's index");
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut toggles = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let page = index.list(&archiver::index::ListQuery::every_row(vec![], 50)).await.expect("list");
                for (i, e) in page.entries.iter().enumerate() {
                    let flag = (i as u32 + toggles).is_multiple_of(3);
                    index.set_retracted(e.row.uuid, flag).await.expect("set_retracted");
                }
                toggles += 1;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            toggles
        })
    };
    let mut kills_mid_write = 0;
    for round in 0..6 {
        let before = total_rows(index.as_ref()).await;
        let target = (before + messages / 8).min(messages - 1);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while total_rows(index.as_ref()).await < target && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let victim = round % 2;
        let _ = children[victim].start_kill();
        let _ = children[victim].wait().await;
        if total_rows(index.as_ref()).await < messages {
            kills_mid_write += 1;
        }
        let (full, kept) = counted_and_kept(&index_url).await;
        assert_eq!(kept, full, "after kill {round}: the statistics differ from a full count");
        assert_eq!(
            unpaired_text_entries(&index_url).await,
            (0, 0),
            "after kill {round}: rows and text entries unpaired"
        );
        children[victim] = spawn(groups[victim]);
    }
    for (child, group) in children.iter_mut().zip(groups) {
        let status = tokio::time::timeout(Duration::from_secs(90), child.wait())
            .await
            .unwrap_or_else(|_| panic!("group {group}'s archiver still runs after 90 s"))
            .expect("waits");
        assert!(status.success(), "group {group}'s last run: {status}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let toggles = retractor.await.expect("the retractor");
    assert!(kills_mid_write >= 3, "only {kills_mid_write} kills landed before the stream was archived");
    assert!(toggles > 0, "no retraction ran during the storm");

    let report = mockhop::verify::verify(&expected, index.as_ref(), &s3).await.expect("verifies");
    assert_eq!(report.discrepancies, vec![], "the archive differs from the stream");
    let (full, kept) = counted_and_kept(&index_url).await;
    assert_eq!(kept, full, "at the end: the statistics differ from a full count");
    assert_eq!(index.topic_stats().await.expect("stats"), full, "Index::topic_stats");
    assert_eq!(full.iter().map(|s| s.count).sum::<i64>(), messages, "one row per distinct message");
    assert!(full.iter().map(|s| s.retracted).sum::<i64>() > 0, "some messages are retracted");
    assert_eq!(unpaired_text_entries(&index_url).await, (0, 0), "at the end: rows and text entries unpaired");
    let untexted = index.rows_without_text(&f.topics(), 0, false, 1000).await.expect("rows");
    assert_eq!(untexted, vec![], "every archived row has its text entry");

    // `archiver status` says the same. (Its `--lag` is tested on
    // librdkafka's mock cluster: tansu answers ListOffsets with stale high
    // watermarks.)
    let (code, out, err) = crate::status::status(&["--json", "--index-url", &index_url]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(crate::status::window(&doc, "all"), full, "archiver status --json");
    assert_eq!(doc["totals"]["all"], crate::status::totals(&full), "archiver status's totals");
}
