//! Deterministic ordering of calls at the seams.
//!
//! The pipeline retries with randomly jittered backoff, so under faults two
//! tasks may reach the store in either order from run to run. The
//! sequencer removes that freedom: simulated time is cut into quanta, every
//! call made during one quantum waits for its end, and the calls then run
//! one at a time ordered by the calling task's id (tasks are numbered in
//! spawn order, so this is the order in which messages were dispatched).
//! Any backoff shorter than a quantum therefore cannot reorder anything.
//! It needs a runtime with paused time, where waiting costs nothing.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Position of a waiting call: quantum, calling task, registration number.
type Slot = (u64, u64, u64);

#[derive(Debug)]
pub struct Sequencer {
    quantum_ms: u64,
    origin: Instant,
    waiting: Mutex<(BTreeSet<Slot>, u64)>,
    turn_over: Notify,
}

/// The right to make one call now; the next caller goes when it is dropped.
#[must_use]
#[derive(Debug)]
pub struct Turn<'a> {
    sequencer: &'a Sequencer,
    slot: Slot,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.sequencer.lock().0.remove(&self.slot);
        self.sequencer.turn_over.notify_waiters();
    }
}

impl Sequencer {
    /// `quantum_ms` must exceed the pipeline's longest backoff delay.
    pub fn new(quantum_ms: u64) -> Sequencer {
        Sequencer {
            quantum_ms: quantum_ms.max(1),
            origin: Instant::now(),
            waiting: Mutex::new((BTreeSet::new(), 0)),
            turn_over: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, (BTreeSet<Slot>, u64)> {
        crate::world::lock(&self.waiting)
    }

    /// Waits for the end of the current quantum, then for this task's turn.
    pub async fn turn(&self) -> Turn<'_> {
        let elapsed_ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        let quantum = elapsed_ms / self.quantum_ms + 1;
        let turn = {
            let mut waiting = self.lock();
            waiting.1 += 1;
            let slot = (quantum, task_number(), waiting.1);
            waiting.0.insert(slot);
            Turn { sequencer: self, slot }
        };
        tokio::time::sleep_until(self.origin + Duration::from_millis(quantum * self.quantum_ms)).await;
        loop {
            let notified = self.turn_over.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.lock().0.first() == Some(&turn.slot) {
                return turn;
            }
            notified.await;
        }
    }
}

/// The calling task's id as a number (ids grow in spawn order); 0 outside
/// a task.
fn task_number() -> u64 {
    tokio::task::try_id().and_then(|id| id.to_string().parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::Sequencer;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// Two tasks calling within one quantum go in spawn order, whichever
    /// arrived first; a call in the next quantum goes after both.
    #[tokio::test(start_paused = true)]
    async fn calls_of_one_quantum_go_in_spawn_order() {
        let sequencer = Arc::new(Sequencer::new(10));
        let order = Arc::new(Mutex::new(Vec::new()));
        let task = |name: &'static str, delay_ms: u64| {
            let (sequencer, order) = (Arc::clone(&sequencer), Arc::clone(&order));
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                let _turn = sequencer.turn().await;
                order.lock().expect("order").push(name);
            })
        };
        let late = task("spawned first, arrives at 4 ms", 4);
        let early = task("spawned second, arrives at 1 ms", 1);
        let next = task("spawned third, arrives in the next quantum", 12);
        for handle in [late, early, next] {
            handle.await.expect("task");
        }
        let order = order.lock().expect("order").clone();
        assert_eq!(
            order,
            [
                "spawned first, arrives at 4 ms",
                "spawned second, arrives at 1 ms",
                "spawned third, arrives in the next quantum"
            ]
        );
    }
}
