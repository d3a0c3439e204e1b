//! The consuming loop: take messages from the source while fewer than
//! `in_flight_max` are being placed, batch their index rows, and commit each
//! partition's offset once everything before it is durable.

use super::backoff::Backoff;
use super::claims::Claims;
use super::offsets::OffsetTracker;
use super::place::{Context, Kind, Placed, Refused, place_again, place_with_retry};
use super::settle::PlaceError;
use crate::index::{IndexError, IndexRow};
use crate::source::{Delivered, MessageSource, SourceError};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use uuid::Uuid;

/// How long the final synchronous commit may take.
pub const CLOSE_TIMEOUT_MS: u64 = 3_000;

/// Tuning and stopping rules for one run.
#[derive(Debug, Clone)]
pub struct RunLimits {
    /// Messages being placed at once; bounds memory and store concurrency.
    pub in_flight_max: usize,
    /// Index rows written in one transaction at most.
    pub batch_rows_max: usize,
    /// Longest a row waits for its batch to fill.
    pub batch_wait_ms: u64,
    /// Stop after taking this many messages from the source.
    pub max_messages: Option<u64>,
    /// After the shutdown signal, how long in-flight work may take to
    /// finish, whatever the backends do; what is not durable by then is
    /// simply not committed (and is redelivered later). The final commit
    /// takes at most [`CLOSE_TIMEOUT_MS`] more.
    pub drain_timeout_ms: u64,
}

/// Totals of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub taken: u64,
    pub archived: u64,
    pub conflicts: u64,
    pub duplicates: u64,
    pub healed: u64,
    pub skipped_test: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Refused(#[from] Refused),
    /// A bug: the message it was placing is neither archived nor committed,
    /// and a restart delivers it again.
    #[error("a placing task panicked: {0}")]
    Panicked(String),
}

/// Runs until the source is finished, `max_messages` are taken, or
/// `shutdown` resolves; then drains in-flight work, writes the last batch
/// and commits.
pub async fn run(
    ctx: Arc<Context>,
    limits: &RunLimits,
    source: &mut dyn MessageSource,
    shutdown: impl Future<Output = ()>,
) -> Result<RunSummary, RunError> {
    let mut state = Loop::new(ctx, limits);
    if let Err(e) = drive(&mut state, limits, source, shutdown).await {
        // Let the insert in flight finish rather than cut it off midway,
        // which can leave a pooled connection unusable: its rows become
        // durable, its offsets stay uncommitted (redelivered). Bounded like
        // a drain, for an index that is down too.
        if let Some(flushing) = state.flushing.take() {
            let _ = tokio::time::timeout(Duration::from_millis(limits.drain_timeout_ms), flushing).await;
        }
        return Err(e);
    }
    // Bounded: a broker that is down must not hold the process after the
    // drain (its commits are only lost, which means redelivery).
    match tokio::time::timeout(Duration::from_millis(CLOSE_TIMEOUT_MS), source.close()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "final offset commit failed; the last messages will be delivered again")
        }
        Err(_) => tracing::warn!("final offset commit timed out; the last messages will be delivered again"),
    }
    Ok(state.summary)
}

/// The loop of [`run`], up to the final commit.
async fn drive(
    state: &mut Loop,
    limits: &RunLimits,
    source: &mut dyn MessageSource,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    tokio::pin!(shutdown);
    let mut source_backoff = Backoff::new(state.ctx.retry_initial_backoff_ms, state.ctx.retry_max_backoff_ms);
    // After a transient source error, when to ask again: a branch of the
    // loop rather than a sleep in it, so a shutdown is seen meanwhile.
    let mut source_paused_until: Option<tokio::time::Instant> = None;
    let mut taking = true;
    // Set by the shutdown signal: from then on the run ends by this time,
    // whatever the backends do; what is not durable by then is not committed.
    let mut drain_deadline: Option<tokio::time::Instant> = None;
    // Flushing a batch can start new work (a message placed again), so the
    // loop runs until nothing is in flight and nothing waits to be indexed.
    while taking || !state.tasks.is_empty() || !state.batch.is_empty() || state.flushing.is_some() {
        let in_flight = state.tasks.len() + state.claims.waiting();
        // A full batch waiting for the insert in flight stops intake: rows
        // pending stay below `batch_rows_max` + `in_flight_max`.
        let room = taking
            && source_paused_until.is_none()
            && in_flight < limits.in_flight_max
            && state.batch.len() < limits.batch_rows_max;
        // Once nothing more can join the batch, waiting for it to fill only
        // delays the end of the run.
        let deadline =
            if taking || !state.tasks.is_empty() { state.batch_deadline() } else { tokio::time::Instant::now() };
        let batch_due = !state.batch.is_empty() && state.flushing.is_none();
        tokio::select! {
            biased;
            () = &mut shutdown, if drain_deadline.is_none() => {
                tracing::info!(in_flight, "shutting down: draining in-flight work");
                taking = false;
                drain_deadline = Some(tokio::time::Instant::now() + Duration::from_millis(limits.drain_timeout_ms));
            }
            () = sleep_until_some(drain_deadline) => {
                state.abandon(source).await?;
                break;
            }
            Some(done) = state.tasks.join_next(), if !state.tasks.is_empty() => {
                // Abandoned tasks are never joined: only a panic gets here. Its
                // message would hold back its partition's commits for good.
                let placed = done.map_err(|e| RunError::Panicked(e.to_string()))?;
                state.placed(placed?, source).await?;
            }
            flushed = inserted(&mut state.flushing), if state.flushing.is_some() => {
                state.flushing = None;
                // Only a permanent error ends a batch insert: a refusal.
                let flushed = flushed.map_err(|e| Refused(PlaceError::Index(e)))?;
                state.flushed(flushed, source).await?;
            }
            () = tokio::time::sleep_until(deadline), if batch_due => state.start_flush(),
            () = sleep_until_some(source_paused_until) => source_paused_until = None,
            next = source.next(), if room => match next {
                Ok(Some(delivered)) => {
                    source_backoff = Backoff::new(state.ctx.retry_initial_backoff_ms, state.ctx.retry_max_backoff_ms);
                    state.dispatch(delivered);
                    taking = limits.max_messages.is_none_or(|max| state.summary.taken < max);
                }
                Ok(None) => taking = false,
                Err(e) if e.is_transient() => {
                    state.ctx.metrics.retry("source");
                    tracing::warn!(error = %e, "message source unavailable; retrying");
                    source_paused_until = Some(tokio::time::Instant::now() + source_backoff.next_delay());
                }
                Err(e) => return Err(e.into()),
            },
        }
    }
    Ok(())
}

/// Resolves at `deadline`; never when there is none.
async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

struct Loop {
    ctx: Arc<Context>,
    limits: RunLimits,
    tasks: JoinSet<Result<Placed, Refused>>,
    offsets: OffsetTracker,
    batch: Vec<(Placed, IndexRow)>,
    /// Timers on tokio's clock, so a paused test clock drives them too.
    batch_started: tokio::time::Instant,
    /// The one batch being inserted, if any. Inserting while the loop goes
    /// on taking and placing messages keeps the store busy during the
    /// database round trips. A future polled by the loop rather than a
    /// spawned task, so that dropping the run (a crash) cancels it too.
    flushing: Option<BoxFuture<'static, Result<Flushed, IndexError>>>,
    /// Messages held back while an earlier one with their `_id` is placed.
    claims: Claims,
    summary: RunSummary,
}

impl Loop {
    fn new(ctx: Arc<Context>, limits: &RunLimits) -> Loop {
        Loop {
            ctx,
            limits: limits.clone(),
            tasks: JoinSet::new(),
            offsets: OffsetTracker::default(),
            batch: Vec::new(),
            batch_started: tokio::time::Instant::now(),
            flushing: None,
            claims: Claims::default(),
            summary: RunSummary::default(),
        }
    }

    fn dispatch(&mut self, delivered: Delivered) {
        self.summary.taken += 1;
        self.ctx.metrics.message_taken();
        self.offsets.dispatched(&delivered.message.topic, delivered.partition, delivered.offset);
        if let Some(delivered) = self.claims.admit(delivered) {
            self.spawn_place(delivered);
        }
    }

    fn spawn_place(&mut self, delivered: Delivered) {
        let ctx = Arc::clone(&self.ctx);
        self.tasks.spawn(async move { place_with_retry(&ctx, delivered).await });
        self.ctx.metrics.set_in_flight(self.tasks.len());
    }

    fn batch_deadline(&self) -> tokio::time::Instant {
        self.batch_started + Duration::from_millis(self.limits.batch_wait_ms)
    }

    /// The drain deadline has passed: abandons what is still being placed
    /// or inserted (it stays uncommitted and is delivered again later) and
    /// commits what is durable.
    async fn abandon(&mut self, source: &mut dyn MessageSource) -> Result<(), RunError> {
        let unfinished = self.tasks.len() + self.claims.waiting() + self.batch.len();
        tracing::warn!(unfinished, "drain timeout: leaving unfinished messages uncommitted");
        self.tasks.abort_all();
        // An insert in flight runs detached: dropping it cannot leave a
        // connection mid-transaction, and its offsets stay uncommitted.
        self.flushing = None;
        self.batch.clear();
        self.commit(source).await
    }

    async fn placed(&mut self, mut placed: Placed, source: &mut dyn MessageSource) -> Result<(), RunError> {
        self.ctx.metrics.set_in_flight(self.tasks.len());
        match placed.row.take() {
            Some(row) => {
                if self.batch.is_empty() {
                    self.batch_started = tokio::time::Instant::now();
                }
                self.batch.push((placed, row));
                if self.batch.len() >= self.limits.batch_rows_max && self.flushing.is_none() {
                    self.start_flush();
                }
            }
            None => {
                self.count(&placed, false);
                self.complete(&placed);
                self.commit(source).await?;
            }
        }
        Ok(())
    }

    /// Starts inserting the batch's rows (retrying until they are durable);
    /// [`Loop::flushed`] takes the outcome.
    fn start_flush(&mut self) {
        let mut batch = std::mem::take(&mut self.batch);
        // A message stored and a concurrent redelivery of it can share a
        // batch; the stored one goes first so its row is the one kept and the
        // redelivery counts as a duplicate, not as a healed row.
        batch.sort_by_key(|(placed, _)| placed.kind == Kind::Duplicate);
        self.flushing = Some(Box::pin(insert(Arc::clone(&self.ctx), batch)));
    }

    /// Marks the offsets of durable rows done and commits what became
    /// contiguous; sends refused rows' messages round again.
    async fn flushed(&mut self, flushed: Flushed, source: &mut dyn MessageSource) -> Result<(), RunError> {
        let Flushed { batch, new, holders } = flushed;
        assert_eq!(batch.len(), new.len(), "the index answers one outcome per row of a batch");
        for ((mut placed, row), is_new) in batch.into_iter().zip(new) {
            if !is_new {
                if !holders.get(&row.uuid).is_some_and(|h| h.fingerprint == row.fingerprint && h.key == row.key) {
                    // Its UUID is held by another message, or under another
                    // object key (even when our placement said "duplicate":
                    // the object may be ours, left by a crash before its row
                    // was refused and removed). The offset stays pending
                    // until the message is placed again.
                    let ctx = Arc::clone(&self.ctx);
                    self.tasks.spawn(async move { place_again(&ctx, placed.delivered, row).await });
                    continue;
                }
                // The row already there is this very message at this key.
                placed.kind = Kind::Duplicate;
            }
            self.count(&placed, is_new);
            if placed.kind != Kind::Duplicate || is_new {
                self.ctx.metrics.archived(&placed.delivered.message.topic, u64::try_from(row.size).unwrap_or(0));
            }
            self.complete(&placed);
        }
        if self.batch.len() >= self.limits.batch_rows_max {
            self.start_flush();
        }
        self.commit(source).await
    }

    fn complete(&mut self, placed: &Placed) {
        let d = &placed.delivered;
        self.offsets.completed(&d.message.topic, d.partition, d.offset);
        self.ctx.metrics.message_done();
        if let Some(next) = self.claims.release(d) {
            self.spawn_place(next);
        }
    }

    fn count(&mut self, placed: &Placed, row_was_new: bool) {
        let m = &self.ctx.metrics;
        let s = &mut self.summary;
        let topic = &placed.delivered.message.topic;
        match placed.kind {
            Kind::Archived => s.archived += 1,
            Kind::Conflict => {
                s.archived += 1;
                s.conflicts += 1;
                m.conflict(topic);
            }
            Kind::Duplicate => {
                s.duplicates += 1;
                m.duplicate(topic);
                if row_was_new {
                    s.healed += 1;
                    m.healed();
                }
            }
            Kind::SkippedTest => {
                s.skipped_test += 1;
                m.skipped_test(topic);
            }
        }
    }

    async fn commit(&mut self, source: &mut dyn MessageSource) -> Result<(), RunError> {
        let positions = self.offsets.committable();
        if positions.is_empty() {
            return Ok(());
        }
        match source.commit(&positions).await {
            Ok(()) => Ok(()),
            // A lost commit only means redelivery, which identity absorbs.
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, "offset commit failed; later commits will cover it");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// A batch whose rows are durable: per row, whether it was new, and the rows
/// holding the UUIDs of those that were not.
struct Flushed {
    batch: Vec<(Placed, IndexRow)>,
    new: Vec<bool>,
    holders: HashMap<Uuid, IndexRow>,
}

/// The outcome of the insert in flight; pending while there is none.
async fn inserted(
    flushing: &mut Option<BoxFuture<'static, Result<Flushed, IndexError>>>,
) -> Result<Flushed, IndexError> {
    match flushing {
        Some(flushing) => flushing.await,
        None => std::future::pending().await,
    }
}

/// Inserts `batch`'s rows, retrying until the index takes them or refuses
/// them for good.
async fn insert(ctx: Arc<Context>, batch: Vec<(Placed, IndexRow)>) -> Result<Flushed, IndexError> {
    let rows: Vec<IndexRow> = batch.iter().map(|(_, row)| row.clone()).collect();
    let started = Instant::now();
    let new = retry_index(&ctx, "index batch", || ctx.index.insert_batch(&rows)).await?;
    // Retries included: this is how long the batch's offsets waited.
    ctx.metrics.index_batch_seconds(started.elapsed().as_secs_f64());
    let refused: Vec<Uuid> = rows.iter().zip(&new).filter(|(_, is_new)| !**is_new).map(|(r, _)| r.uuid).collect();
    let holders = if refused.is_empty() {
        HashMap::new()
    } else {
        let entries = retry_index(&ctx, "index lookup", || ctx.index.get_many(&refused)).await?;
        entries.into_iter().map(|e| (e.row.uuid, e.row)).collect()
    };
    Ok(Flushed { batch, new, holders })
}

/// Runs `call` until it succeeds, backing off between transient failures;
/// a permanent one (permissions, a rejected statement) is returned.
async fn retry_index<T, F>(ctx: &Context, what: &str, call: impl Fn() -> F) -> Result<T, IndexError>
where
    F: Future<Output = Result<T, IndexError>>,
{
    let mut backoff = Backoff::new(ctx.retry_initial_backoff_ms, ctx.retry_max_backoff_ms);
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(e) if !e.is_transient() => return Err(e),
            Err(e) => {
                ctx.metrics.retry("index");
                tracing::warn!(error = %e, "{what} failed; retrying");
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
}
