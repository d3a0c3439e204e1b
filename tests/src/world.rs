//! What the fault layers share: the schedule, the call counters, the
//! sequencer, and the simulated process they belong to.

use crate::schedule::FaultSchedule;
use crate::sequencer::Sequencer;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{Notify, watch};

/// Quantum of the sequencer: above the longest backoff the runner configures
/// (`retry_max_backoff_ms`), so no backoff reorders calls.
pub const QUANTUM_MS: u64 = 10;

/// Calls counted over the whole scenario, restarts included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub puts: u64,
    pub store_calls: u64,
    pub objects_created: u64,
    pub index_calls: u64,
    pub index_inserts: u64,
    pub index_batches_committed: u64,
    pub deliveries: u64,
    pub commits: u64,
}

/// One scenario's shared fault state.
#[derive(Debug)]
pub struct World {
    pub schedule: FaultSchedule,
    pub sequencer: Sequencer,
    counters: Mutex<Counters>,
    /// Faults that fired, in order, for failure messages and snapshots.
    fired: Mutex<Vec<String>>,
    deliveries: watch::Sender<u64>,
    /// One-shot faults that already fired.
    spent: Mutex<std::collections::BTreeSet<String>>,
}

impl World {
    pub fn new(schedule: FaultSchedule) -> Arc<World> {
        Arc::new(World {
            schedule,
            sequencer: Sequencer::new(QUANTUM_MS),
            counters: Mutex::new(Counters::default()),
            fired: Mutex::new(Vec::new()),
            deliveries: watch::channel(0).0,
            spent: Mutex::default(),
        })
    }

    /// Updates the counters and returns what `update` returns.
    pub fn count<T>(&self, update: impl FnOnce(&mut Counters) -> T) -> T {
        let out = update(&mut lock(&self.counters));
        let deliveries = lock(&self.counters).deliveries;
        self.deliveries.send_if_modified(|n| std::mem::replace(n, deliveries) != deliveries);
        out
    }

    /// True the first time it is asked about `fault`: for faults whose
    /// trigger a restarted process would meet again.
    pub fn once(&self, fault: String) -> bool {
        lock(&self.spent).insert(fault)
    }

    pub fn counters(&self) -> Counters {
        lock(&self.counters).clone()
    }

    pub fn fired(&self, event: String) {
        lock(&self.fired).push(event);
    }

    pub fn fired_events(&self) -> Vec<String> {
        lock(&self.fired).clone()
    }

    /// Resolves once `n` messages have been delivered in total.
    pub async fn delivered(&self, n: u64) {
        let mut rx = self.deliveries.subscribe();
        // The sender lives as long as `self`, so this cannot fail.
        let _ = rx.wait_for(|d| *d >= n).await;
    }
}

/// The mutex's contents, even if a panicking test thread poisoned it: every
/// critical section here leaves its data consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One simulated process: the fault layers of one incarnation. When it
/// crashes, every call through it hangs forever (a dead process does
/// nothing more) and the runner is told to drop it and start another.
#[derive(Debug, Clone)]
pub struct Process {
    pub world: Arc<World>,
    dead: Arc<AtomicBool>,
    crashed: Arc<Notify>,
}

impl Process {
    pub fn start(world: &Arc<World>) -> Process {
        Process { world: Arc::clone(world), dead: Arc::new(AtomicBool::new(false)), crashed: Arc::new(Notify::new()) }
    }

    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }

    /// Kills the process because of `why`, then never returns.
    pub async fn crash(&self, why: String) -> ! {
        self.world.fired(why);
        self.dead.store(true, Ordering::SeqCst);
        self.crashed.notify_one();
        std::future::pending().await
    }

    /// Hangs forever if the process is dead.
    pub async fn alive(&self) {
        if self.is_dead() {
            std::future::pending::<()>().await;
        }
    }

    /// Resolves when the process has crashed.
    pub async fn crashed(&self) {
        self.crashed.notified().await;
    }
}
