//! `archiver run` against a real Kafka broker (tansu) with a stream from
//! mockhop, checked with `mockhop verify`: every distinct message exactly
//! once, across stops, restarts and a second instance in the group.

use crate::support::service;
use archiver::config::{MetricsAddr, RunArgs, load_from};
use archiver::ops::run::run;
use archiver::pipeline::RunSummary;
use archiver::source::KafkaConnection;
use mockhop::expect::{ArchiveRules, Expectation, expect};
use mockhop::{Delivery, StreamOptions, produce};
use std::collections::BTreeMap;
use std::time::Duration;

/// A stream produced into its own topics (a fresh prefix per test).
struct Fixture {
    prefix: String,
    deliveries: Vec<Delivery>,
    dir: tempfile::TempDir,
}

impl Fixture {
    async fn produced(name: &str, seed: u64, count: usize) -> Fixture {
        let prefix = format!("{name}-{}-", std::process::id());
        let options = StreamOptions { seed, count, profile: "default".into(), topic_prefix: prefix.clone() };
        let deliveries = mockhop::generate::generate(&options).expect("generates");
        let connection = KafkaConnection::plaintext(service("ARCHIVER_TEST_KAFKA"));
        produce::create_topics(&connection, &deliveries, 3).await.expect("topics");
        produce::produce(&connection, &deliveries, 3, |_| {}).await.expect("produced");
        Fixture { prefix, deliveries, dir: tempfile::tempdir().expect("tempdir") }
    }

    fn args(&self, group: &str) -> RunArgs {
        RunArgs {
            kafka_brokers: Some(service("ARCHIVER_TEST_KAFKA")),
            kafka_group_id: Some(format!("{}{group}", self.prefix)),
            kafka_session_timeout_ms: Some(6000),
            topics_veto: Some(vec![format!("{}sys.heartbeat", self.prefix)]),
            topics_refresh_interval_ms: Some(1000),
            index_url: Some(format!("sqlite://{}", self.dir.path().join("index.db").display())),
            store_url: Some(format!("file://{}", self.dir.path().join("objects").display())),
            metrics_addr: Some(MetricsAddr(None)),
            until_eos: Some(true),
            retry_initial_backoff_ms: Some(10),
            ..RunArgs::default()
        }
    }

    /// Runs the archiver; `adjust` changes the arguments.
    async fn run(&self, group: &str, adjust: impl FnOnce(&mut RunArgs)) -> RunSummary {
        let mut args = self.args(group);
        adjust(&mut args);
        let mut config = load_from(&args, &BTreeMap::new()).expect("config loads");
        // Only this test's topics: other tests share the broker.
        config.topics.selection = archiver::config::TopicSelection::Explicit(self.topics());
        let (summary, _) = run(&config, std::future::pending()).await.expect("runs");
        summary
    }

    fn topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self.deliveries.iter().map(|d| d.message.topic.clone()).collect();
        topics.sort();
        topics.dedup();
        topics.retain(|t| !t.ends_with("sys.heartbeat"));
        topics
    }

    /// Deliveries the archiver consumes (heartbeats are vetoed).
    fn consumed(&self) -> u64 {
        self.deliveries.iter().filter(|d| !d.message.topic.ends_with("sys.heartbeat")).count() as u64
    }

    fn expectation(&self) -> Expectation {
        let sent = produce::as_produced(&self.deliveries);
        expect(&sent, &ArchiveRules::defaults(&self.prefix)).expect("no collisions")
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
        taken += f.run("g", |a| a.max_messages = Some(max)).await.taken;
    }
    let rest = f.run("g", |_| {}).await;
    assert!(taken + rest.taken >= f.consumed(), "every message was read at least once");
    f.check().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shutdown_signal_drains_and_commits() {
    let f = Fixture::produced("run-signal", 33, 200).await;
    let mut args = f.args("g");
    args.until_eos = Some(false);
    let mut config = load_from(&args, &BTreeMap::new()).expect("config loads");
    config.topics.selection = archiver::config::TopicSelection::Explicit(f.topics());
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
