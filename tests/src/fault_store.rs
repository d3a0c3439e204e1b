//! An [`ObjectStore`] wrapper that injects the schedule's store faults and
//! crashes, one call at a time in sequencer order.

use crate::schedule::{StoreFailure, StoreOp};
use crate::world::Process;
use archiver::store::{ListPage, ObjectMeta, ObjectStore, PutOutcome, StoreError};
use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;

/// How long an injected timeout keeps the caller waiting (simulated time).
pub const TIMEOUT_MS: u64 = 2_000;

#[derive(Debug)]
pub struct FaultStore {
    inner: Arc<dyn ObjectStore>,
    process: Process,
}

impl FaultStore {
    pub fn new(inner: Arc<dyn ObjectStore>, process: Process) -> FaultStore {
        FaultStore { inner, process }
    }

    /// Numbers this call (the caller holds its turn, so numbers follow the
    /// sequencer's order); returns the failure the schedule holds for it.
    async fn enter(&self, op: &'static str, key: &str) -> Option<StoreFailure> {
        self.process.alive().await;
        let world = &self.process.world;
        let (put, any) = world.count(|c| {
            c.store_calls += 1;
            if op == "put" {
                c.puts += 1;
            }
            (c.puts, c.store_calls)
        });
        let failure = match op {
            "put" => world.schedule.store_failure(StoreOp::Put, put),
            _ => None,
        }
        .or_else(|| world.schedule.store_failure(StoreOp::Any, any));
        if let Some(failure) = failure {
            world.fired(format!("store {op} {key} (call #{any}, put #{put}): {}", failure.message()));
        }
        failure
    }

    /// Fails as `failure` does (after a timeout's wait). Called without a
    /// turn, so a timeout holds up no other call.
    async fn fail<T>(&self, failure: StoreFailure, op: &'static str, key: &str) -> Result<T, StoreError> {
        if matches!(failure, StoreFailure::Timeout | StoreFailure::TimeoutAfterWrite) {
            tokio::time::sleep(Duration::from_millis(TIMEOUT_MS)).await;
        }
        self.process.alive().await;
        Err(StoreError::Unavailable { op, key: key.to_owned(), message: failure.message().to_owned() })
    }
}

#[async_trait]
impl ObjectStore for FaultStore {
    async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<PutOutcome, StoreError> {
        let turn = self.process.world.sequencer.turn().await;
        let failure = self.enter("put", key).await;
        if let Some(failure) = failure.filter(|f| *f != StoreFailure::TimeoutAfterWrite) {
            drop(turn);
            return self.fail(failure, "put", key).await;
        }
        let outcome = self.inner.put_if_absent(key, bytes).await?;
        if outcome == PutOutcome::Created {
            let created = self.process.world.count(|c| {
                c.objects_created += 1;
                c.objects_created
            });
            if self.process.world.schedule.crash_after_object_write(created) {
                self.process.crash(format!("crash after object write #{created} ({key})")).await;
            }
        }
        drop(turn);
        match failure {
            Some(failure) => self.fail(failure, "put", key).await,
            None => Ok(outcome),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        let turn = self.process.world.sequencer.turn().await;
        let Some(failure) = self.enter("get", key).await else { return self.inner.get(key).await };
        drop(turn);
        self.fail(failure, "get", key).await
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        let turn = self.process.world.sequencer.turn().await;
        let Some(failure) = self.enter("head", key).await else { return self.inner.head(key).await };
        drop(turn);
        self.fail(failure, "head", key).await
    }

    async fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<ListPage, StoreError> {
        let turn = self.process.world.sequencer.turn().await;
        let Some(failure) = self.enter("list", prefix).await else {
            return self.inner.list(prefix, after, limit).await;
        };
        drop(turn);
        self.fail(failure, "list", prefix).await
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let turn = self.process.world.sequencer.turn().await;
        let Some(failure) = self.enter("delete", key).await else { return self.inner.delete(key).await };
        drop(turn);
        self.fail(failure, "delete", key).await
    }

    fn bucket(&self) -> &str {
        self.inner.bucket()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{Fault, FaultSchedule};
    use crate::world::World;
    use archiver::store::MemoryStore;

    fn store(faults: Vec<Fault>) -> (FaultStore, Arc<MemoryStore>, Process) {
        let inner = Arc::new(MemoryStore::new());
        let process = Process::start(&World::new(FaultSchedule(faults)));
        (FaultStore::new(inner.clone(), process.clone()), inner, process)
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_after_the_write_fails_but_leaves_the_object() {
        let fault = Fault::StoreError { from: 1, to: 1, error: StoreFailure::TimeoutAfterWrite, op: StoreOp::Put };
        let (store, inner, _) = store(vec![fault]);
        let first = store.put_if_absent("t/a.bson", Bytes::from_static(b"x")).await;
        assert!(matches!(first, Err(StoreError::Unavailable { .. })), "{first:?}");
        assert!(inner.get("t/a.bson").await.expect("get").is_some(), "the write happened");
        let again = store.put_if_absent("t/a.bson", Bytes::from_static(b"x")).await.expect("put #2 succeeds");
        assert_eq!(again, PutOutcome::AlreadyExists);
    }

    #[tokio::test(start_paused = true)]
    async fn errors_cover_exactly_their_window() {
        let fault = Fault::StoreError { from: 2, to: 3, error: StoreFailure::SlowDown, op: StoreOp::Put };
        let (store, _, _) = store(vec![fault]);
        let mut outcomes = Vec::new();
        for n in 0..4 {
            outcomes.push(store.put_if_absent(&format!("t/{n}.bson"), Bytes::from_static(b"x")).await.is_ok());
        }
        assert_eq!(outcomes, [true, false, false, true]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_crash_stops_the_process_for_good() {
        let (store, inner, process) = store(vec![Fault::CrashAfterObjectWrite { at: 1 }]);
        let put = tokio::time::timeout(Duration::from_secs(60), store.put_if_absent("t/a.bson", Bytes::new()));
        assert!(put.await.is_err(), "the crashing call never returns");
        assert!(process.is_dead());
        assert!(inner.get("t/a.bson").await.expect("get").is_some(), "the write before the crash is durable");
        let later = tokio::time::timeout(Duration::from_secs(60), store.get("t/a.bson"));
        assert!(later.await.is_err(), "a dead process makes no more calls");
    }
}
