//! Runs a scenario: builds the stream with mockhop, puts it in a memory
//! log (or a real broker, see `real.rs`), and drives the real
//! `archiver::pipeline::run` through the fault layers, restarting it after
//! every simulated crash.

use super::spec::Scenario;
use archiver::index::{Index, MemoryIndex};
use archiver::pipeline::{Context, RunError, RunLimits, RunSummary, run};
use archiver::record::Message;
use archiver::source::memory::MemoryLog;
use archiver::source::{MessageSource, SourceError};
use archiver::store::{MemoryStore, ObjectStore};
use archiver::telemetry::metrics::Metrics;
use futures::future::BoxFuture;
use hop_archiver_tests::fault_index::FaultIndex;
use hop_archiver_tests::fault_source::{CommitAudit, FaultSource};
use hop_archiver_tests::fault_store::FaultStore;
use hop_archiver_tests::schedule::FaultSchedule;
use hop_archiver_tests::world::{Process, World};
use mockhop::StreamOptions;
use mockhop::expect::{ArchiveRules, Expectation, expect};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Retry backoff the pipeline is given: every delay stays below the
/// sequencer's quantum, so jitter cannot reorder calls.
const RETRY_INITIAL_BACKOFF_MS: u64 = 2;
const RETRY_MAX_BACKOFF_MS: u64 = 5;
const _: () = assert!(RETRY_MAX_BACKOFF_MS < hop_archiver_tests::world::QUANTUM_MS);

/// How many times consumers are started again after stopping with work left.
const RESUMES_MAX: u32 = 8;

/// A memory run that does not finish within this much simulated time hangs.
pub const WATCHDOG: Duration = Duration::from_secs(24 * 3_600);

/// Opens a consumer for a group member; the broker side of a run.
pub trait Broker: Send + Sync {
    fn consumer(&self, member: u32) -> BoxFuture<'static, Result<Box<dyn MessageSource>, SourceError>>;
    /// The memory log, when the broker is one (for `all-committed`).
    fn memory_log(&self) -> Option<&MemoryLog>;
    /// Splits partitions between members (see [`MemoryLog::assign`]).
    fn assign(&self, topic: &str, partition: i32, member: u32);
}

impl Broker for MemoryLog {
    fn consumer(&self, member: u32) -> BoxFuture<'static, Result<Box<dyn MessageSource>, SourceError>> {
        let source: Box<dyn MessageSource> = Box::new(self.member(member));
        Box::pin(async move { Ok(source) })
    }

    fn memory_log(&self) -> Option<&MemoryLog> {
        Some(self)
    }

    fn assign(&self, topic: &str, partition: i32, member: u32) {
        MemoryLog::assign(self, topic, partition, member);
    }
}

/// Where a run reads from and writes to.
pub struct Backends {
    pub broker: Arc<dyn Broker>,
    /// The broker's partitions, sorted (what `rebalance` indexes).
    pub partitions: Vec<(String, i32)>,
    pub store: Arc<dyn ObjectStore>,
    pub index: Arc<dyn Index>,
    /// Topic names' prefix (real brokers are shared between runs).
    pub topic_prefix: String,
    /// Longest a run may take before it counts as hung.
    pub watchdog: Duration,
    /// Which partition a delivery is in (see [`mockhop::Delivery::partition`]).
    pub partition_of: PartitionOf,
}

/// Which partition of `partitions` a delivery goes to.
pub type PartitionOf = fn(&mockhop::Delivery, u32) -> i32;

/// Everything a finished scenario run leaves behind.
pub struct Outcome {
    pub expected: Expectation,
    pub store: Arc<dyn ObjectStore>,
    pub index: Arc<dyn Index>,
    pub broker: Arc<dyn Broker>,
    pub schedule: FaultSchedule,
    pub world: Arc<World>,
    pub audit: Arc<CommitAudit>,
    pub history: Vec<String>,
    pub totals: RunSummary,
    pub hung: bool,
}

/// The deliveries of the scenario's stream for `seed`.
pub fn stream(scenario: &Scenario, seed: u64) -> Vec<mockhop::Delivery> {
    prefixed_stream(scenario, seed, "")
}

/// The stream with `topic_prefix` on every topic name.
pub fn prefixed_stream(scenario: &Scenario, seed: u64, topic_prefix: &str) -> Vec<mockhop::Delivery> {
    let options = StreamOptions {
        seed,
        count: scenario.stream.count,
        profile: scenario.stream.profile.clone(),
        topic_prefix: topic_prefix.to_owned(),
    };
    let deliveries = mockhop::generate::generate(&options).unwrap_or_else(|e| panic!("{}: {e}", scenario.name));
    let topics = &scenario.stream.topics;
    let wanted = |topic: &str| topics.is_empty() || topics.iter().any(|t| topic.strip_prefix(topic_prefix) == Some(t));
    deliveries.into_iter().filter(|d| wanted(&d.message.topic)).collect()
}

/// Runs `scenario`'s stream for `seed` under `schedule`, in memory. Needs a
/// paused, single-threaded runtime (`#[tokio::test(start_paused = true)]`).
pub async fn run_scenario(scenario: &Scenario, seed: u64, schedule: FaultSchedule) -> Outcome {
    run_scenario_with(scenario, seed, schedule, Arc::new(MemoryStore::new()), Arc::new(MemoryIndex::new())).await
}

/// [`run_scenario`] on another store and index, whose calls must take no
/// simulated time (see `disk.rs`).
pub async fn run_scenario_with(
    scenario: &Scenario,
    seed: u64,
    schedule: FaultSchedule,
    store: Arc<dyn ObjectStore>,
    index: Arc<dyn Index>,
) -> Outcome {
    let deliveries = stream(scenario, seed);
    let (log, _) =
        fill_log(&deliveries, &ArchiveRules::defaults(""), scenario.stream.partitions, mockhop::Delivery::partition);
    let backends = Backends {
        partitions: log.partitions(),
        broker: Arc::new(log),
        store,
        index,
        topic_prefix: String::new(),
        watchdog: WATCHDOG,
        partition_of: mockhop::Delivery::partition,
    };
    run_on(scenario, &deliveries, schedule, backends).await
}

/// Runs `deliveries` (already in the broker) under `schedule` on `backends`.
pub async fn run_on(
    scenario: &Scenario,
    deliveries: &[mockhop::Delivery],
    schedule: FaultSchedule,
    backends: Backends,
) -> Outcome {
    let rules = ArchiveRules::defaults(&backends.topic_prefix);
    let expected = expect(deliveries, &rules)
        .unwrap_or_else(|e| panic!("{}: {e}", scenario.name))
        .in_partitions(scenario.stream.partitions);
    let (_, by_partition) = fill_log(deliveries, &rules, scenario.stream.partitions, backends.partition_of);
    let audit = Arc::new(CommitAudit::new(by_partition, backends.index.clone(), backends.store.clone(), false));
    let world = World::new(schedule.clone());
    let watchdog = backends.watchdog;
    let mut driver = Driver::new(scenario, &backends, &world, &audit);
    let hung = tokio::time::timeout(watchdog, driver.drive()).await.is_err();
    let (history, totals) = (driver.history, driver.totals);
    let Backends { broker, store, index, .. } = backends;
    Outcome { expected, store, index, broker, schedule, world, audit, history, totals, hung }
}

/// The broker's log of `deliveries` (each in the partition `partition_of`
/// gives), and the same messages by partition for the commit audit. Vetoed
/// topics (heartbeats) are left out: the consumer never subscribes to them.
pub fn fill_log(
    deliveries: &[mockhop::Delivery],
    rules: &ArchiveRules,
    partitions: u32,
    partition_of: PartitionOf,
) -> (MemoryLog, BTreeMap<(String, i32), Vec<Message>>) {
    let log = MemoryLog::new();
    let mut by_partition: BTreeMap<(String, i32), Vec<Message>> = BTreeMap::new();
    for d in deliveries.iter().filter(|d| !rules.is_vetoed(&d.message.topic)) {
        let partition = partition_of(d, partitions);
        log.append(partition, d.message.clone());
        by_partition.entry((d.message.topic.clone(), partition)).or_default().push(d.message.clone());
    }
    (log, by_partition)
}

/// Starts processes and consumers, applies rebalances, restarts after crashes.
struct Driver {
    broker: Arc<dyn Broker>,
    public_topics: Vec<String>,
    world: Arc<World>,
    audit: Arc<CommitAudit>,
    store: Arc<dyn ObjectStore>,
    index: Arc<dyn Index>,
    limits: RunLimits,
    /// Which consumer owns each partition (indexes into the sorted list).
    owners: Vec<u32>,
    partitions: Vec<(String, i32)>,
    /// What happened, in order: starts, crashes, finished runs.
    history: Vec<String>,
    totals: RunSummary,
    /// Consumers started again because they stopped with work left.
    resumed: u32,
}

/// After this many deliveries, these partitions move to that consumer.
type Rebalance = (u64, Vec<usize>, u32);
type RunResult = Result<Result<RunSummary, RunError>, tokio::task::JoinError>;
type Running = Vec<(u32, JoinHandle<Result<RunSummary, RunError>>)>;

enum Event {
    Crashed,
    Rebalance,
    Finished(usize, RunResult),
}

impl Driver {
    fn new(scenario: &Scenario, backends: &Backends, world: &Arc<World>, audit: &Arc<CommitAudit>) -> Driver {
        let partitions = backends.partitions.clone();
        for (topic, partition) in &partitions {
            backends.broker.assign(topic, *partition, 0);
        }
        Driver {
            broker: Arc::clone(&backends.broker),
            public_topics: vec![format!("{}gcn.*", backends.topic_prefix)],
            world: Arc::clone(world),
            audit: Arc::clone(audit),
            store: Arc::clone(&backends.store),
            index: Arc::clone(&backends.index),
            limits: RunLimits {
                in_flight_max: scenario.pipeline.in_flight_max,
                batch_rows_max: scenario.pipeline.batch_rows_max,
                batch_wait_ms: 5,
                max_messages: None,
                drain_timeout_ms: 5_000,
            },
            owners: vec![0; partitions.len()],
            partitions,
            history: Vec::new(),
            totals: RunSummary::default(),
            resumed: 0,
        }
    }

    async fn drive(&mut self) {
        if self.partitions.is_empty() {
            return;
        }
        let mut rebalances: VecDeque<_> = self.world.schedule.rebalances().into();
        for incarnation in 1.. {
            let process = Process::start(&self.world);
            if !self.live(&process, incarnation, &mut rebalances).await {
                return;
            }
        }
    }

    /// Runs one process: its consumers, and the rebalances that come due.
    /// Returns whether it crashed (false: every consumer finished).
    async fn live(&mut self, process: &Process, incarnation: u32, rebalances: &mut VecDeque<Rebalance>) -> bool {
        let mut running: Running = Vec::new();
        let members: std::collections::BTreeSet<u32> = self.owners.iter().copied().collect();
        for member in members {
            self.spawn(process, member, incarnation, &mut running);
        }
        loop {
            match self.next_event(process, rebalances.front().map(|r| r.0), &mut running).await {
                Event::Crashed => {
                    self.bury(running, incarnation).await;
                    return true;
                }
                Event::Rebalance => {
                    if let Some(rebalance) = rebalances.pop_front() {
                        self.rebalance(rebalance, process, incarnation, &mut running);
                    }
                }
                Event::Finished(i, result) => {
                    let (member, _) = running.remove(i);
                    self.finished(member, incarnation, result);
                    if self.resumes(member) {
                        self.spawn(process, member, incarnation, &mut running);
                    }
                }
            }
            if running.is_empty() {
                match rebalances.pop_front() {
                    Some(rebalance) => self.rebalance(rebalance, process, incarnation, &mut running),
                    None => return false,
                }
            }
        }
    }

    /// Waits for a crash, the next rebalance point or a consumer's end.
    async fn next_event(&self, process: &Process, rebalance_at: Option<u64>, running: &mut Running) -> Event {
        if running.is_empty() {
            return Event::Rebalance;
        }
        let world = Arc::clone(&self.world);
        tokio::select! {
            biased;
            () = process.crashed() => Event::Crashed,
            () = world.delivered(rebalance_at.unwrap_or(0)), if rebalance_at.is_some() => Event::Rebalance,
            (result, i, _) = futures::future::select_all(running.iter_mut().map(|(_, h)| h)) => Event::Finished(i, result),
        }
    }

    fn spawn(&mut self, process: &Process, member: u32, incarnation: u32, running: &mut Running) {
        self.history.push(format!("process {incarnation}: consumer {member} starts"));
        let ctx = Arc::new(Context {
            store: Arc::new(FaultStore::new(Arc::clone(&self.store), process.clone())),
            index: Arc::new(FaultIndex::new(Arc::clone(&self.index), process.clone())),
            metrics: Arc::new(Metrics::new()),
            archive_test_messages: false,
            public_topics: self.public_topics.clone(),
            // Off: the snapshots pin objects without `text_fully_indexed`.
            text: Default::default(),
            retry_initial_backoff_ms: RETRY_INITIAL_BACKOFF_MS,
            retry_max_backoff_ms: RETRY_MAX_BACKOFF_MS,
            key_locks: Default::default(),
        });
        let (consumer, process, audit) = (self.broker.consumer(member), process.clone(), self.audit.clone());
        let limits = self.limits.clone();
        let handle = tokio::spawn(async move {
            let mut source = FaultSource::new(consumer.await?, process, audit);
            run(ctx, &limits, &mut source, std::future::pending()).await
        });
        running.push((member, handle));
    }

    /// Drops every consumer of a crashed process: in-flight work is lost,
    /// the store, index and committed offsets survive.
    async fn bury(&mut self, running: Running, incarnation: u32) {
        for (_, handle) in &running {
            handle.abort();
        }
        for (_, handle) in running {
            // Cancelled (or, rarely, finished just before): either way gone.
            let _ = handle.await;
        }
        let why = self.world.fired_events().last().cloned().unwrap_or_default();
        self.history.push(format!("process {incarnation}: died ({why})"));
    }

    fn rebalance(
        &mut self,
        (at, partitions, to): Rebalance,
        process: &Process,
        incarnation: u32,
        running: &mut Running,
    ) {
        let mut moved = Vec::new();
        for i in partitions {
            if let Some((topic, partition)) = self.partitions.get(i) {
                self.broker.assign(topic, *partition, to);
                self.owners[i] = to;
                moved.push(format!("{topic}/{partition}"));
            }
        }
        self.world.fired(format!("after delivery #{at}: {} move to consumer {to}", moved.join(", ")));
        if !running.iter().any(|(m, _)| *m == to) {
            self.spawn(process, to, incarnation, running);
        }
    }

    /// Whether `member` must go on: a consumer that drained its partitions
    /// but had commits refused by a rebalance (which gave it the same
    /// partition again) still has uncommitted messages. A real group member
    /// would keep polling; bounded, so that a pipeline that never commits
    /// fails `all-committed` instead of looping.
    fn resumes(&mut self, member: u32) -> bool {
        let left = self.partitions.iter().zip(&self.owners).any(|((topic, partition), owner)| {
            let log = self.broker.memory_log();
            *owner == member && log.is_some_and(|l| l.committed(topic, *partition) < l.end_offset(topic, *partition))
        });
        if left && self.resumed < RESUMES_MAX {
            self.resumed += 1;
            self.history.push(format!("consumer {member} stopped with uncommitted partitions; it goes on"));
            return true;
        }
        false
    }

    fn finished(&mut self, member: u32, incarnation: u32, result: RunResult) {
        let what = match result {
            Ok(Ok(summary)) => {
                let t = &mut self.totals;
                t.taken += summary.taken;
                t.archived += summary.archived;
                t.conflicts += summary.conflicts;
                t.duplicates += summary.duplicates;
                t.healed += summary.healed;
                t.skipped_test += summary.skipped_test;
                format!("finished, took {}", summary.taken)
            }
            Ok(Err(e)) => format!("failed: {e}"),
            Err(e) => format!("panicked: {e}"),
        };
        self.history.push(format!("process {incarnation}: consumer {member} {what}"));
    }
}
