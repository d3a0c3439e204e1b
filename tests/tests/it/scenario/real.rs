//! Real-backend mode: a scenario's stream produced into tansu and archived
//! into s3s-fs + PostgreSQL through the same fault layers (a crash drops the
//! pipeline task and its Kafka consumer; a new consumer joins the group),
//! then compared with the same stream archived in memory.
//!
//! Both runs use the same topic prefix (the broker is shared) and the
//! stream as Kafka carries it (`produce::as_produced`). Their archives must
//! agree on every row column and every object byte, except the row `id`
//! (the database's serial: real consumers interleave partitions in another
//! order) and `bucket`. Scenarios that move partitions between consumers
//! are memory-only: a real group assigns partitions itself.

use super::drive::{Backends, Broker, prefixed_stream, run_on};
use super::spec::{self, Scenario};
use super::{Checked, dump, failure_with, invariants};
use crate::support::{self, service};
use archiver::config::TopicSelection;
use archiver::index::{self, Index};
use archiver::ops::metrics::Metrics;
use archiver::source::kafka::{KafkaSource, KafkaSourceOptions};
use archiver::source::memory::MemoryLog;
use archiver::source::selector::ConfiguredSelector;
use archiver::source::{KafkaConnection, MessageSource, SourceError};
use archiver::store::{MemoryStore, ObjectStore};
use futures::future::BoxFuture;
use hop_archiver_tests::schedule::Fault;
use mockhop::expect::ArchiveRules;
use mockhop::{Delivery, produce};
use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// Short, so that a crashed consumer's partitions move on quickly.
const SESSION_TIMEOUT_MS: u64 = 6_000;
/// A real run that takes longer than this hangs.
const WATCHDOG: Duration = Duration::from_secs(90);

/// The consumer group of one real run.
struct KafkaBroker {
    connection: KafkaConnection,
    group_id: String,
    topics: Vec<String>,
}

impl Broker for KafkaBroker {
    fn consumer(&self, _member: u32) -> BoxFuture<'static, Result<Box<dyn MessageSource>, SourceError>> {
        let config = self.connection.client_config();
        let options = KafkaSourceOptions {
            group_id: self.group_id.clone(),
            session_timeout_ms: SESSION_TIMEOUT_MS,
            refresh_interval_ms: 1_000,
            until_eos: true,
        };
        let selector = Arc::new(ConfiguredSelector { selection: TopicSelection::Explicit(self.topics.clone()) });
        Box::pin(async move {
            let source = KafkaSource::connect(config, options, selector, Arc::new(Metrics::new())).await?;
            Ok(Box::new(source) as Box<dyn MessageSource>)
        })
    }

    fn memory_log(&self) -> Option<&MemoryLog> {
        None
    }

    fn assign(&self, _topic: &str, _partition: i32, _member: u32) {}
}

/// The partitions `deliveries` land in.
fn partitions_of(deliveries: &[Delivery], rules: &ArchiveRules, partitions: u32) -> Vec<(String, i32)> {
    let set: BTreeSet<(String, i32)> = deliveries
        .iter()
        .filter(|d| !rules.is_vetoed(&d.message.topic))
        .map(|d| (d.message.topic.clone(), d.partition(partitions)))
        .collect();
    set.into_iter().collect()
}

async fn checked(scenario: &Scenario, deliveries: &[Delivery], backends: Backends) -> Checked {
    let outcome = run_on(scenario, deliveries, scenario.schedule(scenario.seed), backends).await;
    let archive = dump::read(outcome.index.as_ref(), outcome.store.as_ref()).await;
    let violations = invariants::check(&scenario.invariants, &outcome, &archive).await;
    Checked { outcome, archive, violations }
}

/// The stream archived in memory, on a paused runtime.
fn in_memory(scenario: &Scenario, deliveries: &[Delivery], prefix: &str) -> Checked {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().expect("a runtime");
    runtime.block_on(async {
        let rules = ArchiveRules::defaults(prefix);
        let (log, _) =
            super::drive::fill_log(deliveries, &rules, scenario.stream.partitions, mockhop::Delivery::partition);
        let backends = Backends {
            partitions: log.partitions(),
            broker: Arc::new(log),
            store: Arc::new(MemoryStore::new()),
            index: Arc::new(index::MemoryIndex::new()),
            topic_prefix: prefix.to_owned(),
            watchdog: super::drive::WATCHDOG,
            partition_of: mockhop::Delivery::partition,
        };
        checked(scenario, deliveries, backends).await
    })
}

/// The stream produced into tansu and archived into s3s-fs + PostgreSQL.
fn on_real_services(scenario: &Scenario, deliveries: &[Delivery], prefix: &str) -> Checked {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let connection = KafkaConnection::plaintext(service("ARCHIVER_TEST_KAFKA"));
        let partitions = i32::try_from(scenario.stream.partitions).unwrap_or(1);
        produce::create_topics(&connection, deliveries, partitions).await.expect("topics created");
        produce::produce(&connection, deliveries, partitions, |_| {}).await.expect("stream produced");
        let rules = ArchiveRules::defaults(prefix);
        let store =
            support::s3_store(&prefix.trim_end_matches('-').to_lowercase(), &service("ARCHIVER_TEST_S3_SECRET_KEY"))
                .await;
        store.create_bucket_if_missing().await.expect("a fresh bucket");
        let index_url = support::fresh_database("scenario").await;
        let index: Arc<dyn Index> = index::open(&index_url).await.expect("a fresh database");
        let topics: BTreeSet<String> =
            deliveries.iter().map(|d| d.message.topic.clone()).filter(|t| !rules.is_vetoed(t)).collect();
        let broker =
            KafkaBroker { connection, group_id: format!("{prefix}archiver"), topics: topics.into_iter().collect() };
        let backends = Backends {
            partitions: partitions_of(deliveries, &rules, scenario.stream.partitions),
            broker: Arc::new(broker),
            store: Arc::new(store) as Arc<dyn ObjectStore>,
            index,
            topic_prefix: prefix.to_owned(),
            watchdog: WATCHDOG,
            partition_of: mockhop::Delivery::partition,
        };
        let outcome = checked(scenario, deliveries, backends).await;
        drop_database(&index_url).await;
        outcome
    })
}

/// Removes a database made by `support::fresh_database` (connections and all).
async fn drop_database(url: &str) {
    let name = url.rsplit('/').next().and_then(|tail| tail.split('?').next()).unwrap_or_default();
    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    support::admin_exec(&service("ARCHIVER_TEST_PG_URL"), sql).await;
}

/// Rows without `id` and `bucket`, and the objects: what both runs share.
fn comparable(checked: &Checked) -> (Vec<Json>, Vec<Json>) {
    let (mut rows, objects) = checked.archive.view();
    for row in &mut rows {
        if let Some(row) = row.as_object_mut() {
            row.remove("id");
            row.remove("bucket");
        }
    }
    (rows, objects)
}

/// The first entry where two lists differ, with the fields that differ.
fn first_difference(what: &str, memory: &[Json], real: &[Json]) -> Option<String> {
    let n = memory.len().max(real.len());
    let i = (0..n).find(|&i| memory.get(i) != real.get(i))?;
    let show = |v: Option<&Json>| v.map_or("(none)".to_owned(), |v| v.to_string().chars().take(300).collect());
    let (m, r) = (memory.get(i), real.get(i));
    let fields = match (m.and_then(Json::as_object), r.and_then(Json::as_object)) {
        (Some(m), Some(r)) => m
            .keys()
            .chain(r.keys())
            .filter(|k| m.get(*k) != r.get(*k))
            .map(|k| format!("\n    {k}: memory {}, real {}", show(m.get(k)), show(r.get(k))))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<String>(),
        _ => format!("\n    memory: {}\n    real:   {}", show(m), show(r)),
    };
    let key = m.or(r).and_then(|v| v.get("key")).map_or(String::new(), |k| format!(" ({k})"));
    Some(format!("{what} #{i}{key}:{fields}"))
}

/// How to run one real-backend scenario again.
fn reproduce(name: &str) -> String {
    format!(
        "scripts/services.sh start; set -a; . .services/env; set +a; \
         cargo nextest run -p hop-archiver-tests -E 'test(=scenario::real::{})'",
        name.replace('-', "_")
    )
}

fn real_scenario_test(name: &str) {
    let scenario = spec::load(name).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !scenario.faults.iter().any(|f| matches!(f, Fault::Rebalance { .. })),
        "{name}: rebalances are memory-only (a real group assigns partitions itself)"
    );
    let prefix = format!("scn-{}-{}-", name, &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let deliveries = produce::as_produced(&prefixed_stream(&scenario, scenario.seed, &prefix));
    let memory = in_memory(&scenario, &deliveries, &prefix);
    let seed = scenario.seed;
    let again = reproduce(name);
    assert!(memory.violations.is_empty(), "{}", failure_with(&scenario, seed, &memory, &memory.violations, &again));
    let real = on_real_services(&scenario, &deliveries, &prefix);
    assert!(real.violations.is_empty(), "{}", failure_with(&scenario, seed, &real, &real.violations, &again));
    let ((memory_rows, memory_objects), (real_rows, real_objects)) = (comparable(&memory), comparable(&real));
    let difference = first_difference("row", &memory_rows, &real_rows)
        .or_else(|| first_difference("object", &memory_objects, &real_objects));
    if let Some(difference) = difference {
        let problem = format!("the real backends' archive differs from memory's; first difference: {difference}");
        panic!("{}", failure_with(&scenario, seed, &real, &[problem], &again));
    }
}

#[test]
fn duplicates() {
    real_scenario_test("duplicates");
}

#[test]
fn crash_after_object_write() {
    real_scenario_test("crash-after-object-write");
}

#[test]
fn index_outage() {
    real_scenario_test("index-outage");
}
