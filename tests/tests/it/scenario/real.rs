//! Real-backend mode: a scenario's stream produced into tansu and archived
//! into s3s-fs + PostgreSQL through the same fault layers (a crash drops the
//! pipeline task and its Kafka consumer; a new consumer joins the group),
//! then compared with the same stream archived in memory.
//!
//! Both runs use the same topic prefix (the broker is shared) and the
//! stream as Kafka carries it (`produce::as_produced`). Their archives must
//! agree on every row column and every object byte, except the columns of
//! [`compare::DELIVERY_PROVENANCE`] (`id`, `bucket`, `partition`,
//! `kafka_offset`); for those, every real row must name a delivery of its
//! own message. Scenarios that move partitions between consumers are
//! memory-only: a real group assigns partitions itself.

use super::drive::{Backends, Broker, prefixed_stream, run_on};
use super::spec::{Backend, Scenario};
use super::{Checked, compare, dump, failure_with, invariants};
use crate::support::{self, service};
use archiver::config::TopicSelection;
use archiver::index::{self, Index};
use archiver::source::kafka::{KafkaSource, KafkaSourceOptions};
use archiver::source::memory::MemoryLog;
use archiver::source::selector::ConfiguredSelector;
use archiver::source::{KafkaConnection, MessageSource, SourceError};
use archiver::store::{MemoryStore, ObjectStore};
use archiver::telemetry::metrics::Metrics;
use futures::future::BoxFuture;
use mockhop::expect::ArchiveRules;
use mockhop::{Delivery, produce};
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
            standalone: false,
        };
        let selector = Arc::new(ConfiguredSelector {
            selection: TopicSelection::Explicit { names: self.topics.clone(), veto: Vec::new() },
        });
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

/// Every real row whose `partition`/`kafka_offset` does not name a
/// delivery of the row's own message (same fingerprint).
fn provenance_problems(real: &Checked, deliveries: &[Delivery], rules: &ArchiveRules, partitions: u32) -> Vec<String> {
    let (_, by_partition) = super::drive::fill_log(deliveries, rules, partitions, mockhop::Delivery::partition);
    let mut out = Vec::new();
    for e in &real.archive.rows {
        let r = &e.row;
        let delivered = r.partition.zip(r.kafka_offset).and_then(|(partition, offset)| {
            let messages = by_partition.get(&(r.topic.clone(), partition))?;
            messages.get(usize::try_from(offset).ok()?)
        });
        let fingerprint = delivered.map(|m| archiver::identity::fingerprint(m).0);
        if fingerprint != Some(r.fingerprint) {
            out.push(format!(
                "row {} ({}) says it came from {}/{:?} offset {:?}, which holds another message",
                e.id, r.uuid, r.topic, r.partition, r.kafka_offset
            ));
        }
    }
    out
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
    let scenario = super::load_for(name, Backend::Real);
    let prefix = format!("scn-{}-{}-", name, &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let deliveries = produce::as_produced(&prefixed_stream(&scenario, scenario.seed, &prefix));
    let memory = in_memory(&scenario, &deliveries, &prefix);
    let seed = scenario.seed;
    let again = reproduce(name);
    assert!(memory.violations.is_empty(), "{}", failure_with(&scenario, seed, &memory, &memory.violations, &again));
    let real = on_real_services(&scenario, &deliveries, &prefix);
    assert!(real.violations.is_empty(), "{}", failure_with(&scenario, seed, &real, &real.violations, &again));
    let rules = ArchiveRules::defaults(&prefix);
    let provenance = provenance_problems(&real, &deliveries, &rules, scenario.stream.partitions);
    assert!(provenance.is_empty(), "{}", failure_with(&scenario, seed, &real, &provenance, &again));
    let ((memory_rows, memory_objects), (real_rows, real_objects)) = (memory.archive.view(), real.archive.view());
    let ignored = compare::DELIVERY_PROVENANCE;
    let difference = compare::first_difference(
        "row",
        &compare::without(&memory_rows, ignored),
        &compare::without(&real_rows, ignored),
        "real",
    )
    .or_else(|| compare::first_difference("object", &memory_objects, &real_objects, "real"));
    if let Some(difference) = difference {
        let problem = format!("the real backends' archive differs from memory's; first difference: {difference}");
        panic!("{}", failure_with(&scenario, seed, &real, &[problem], &again));
    }
}

backend_tests! {
    real_scenario_test;
    duplicates => "duplicates",
    crash_after_object_write => "crash-after-object-write",
    index_outage => "index-outage",
    clean_stream => "clean-stream",
    odd_headers => "odd-headers",
    crash_before_commit => "crash-before-commit",
    old_clients => "old-clients",
    s3_faults => "s3-faults",
}
