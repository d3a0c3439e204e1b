//! The restore loop: items in walk order → objects read (`fetch_concurrency`
//! at once, in order) → paced (`rate_max`) → handed to the sink in order →
//! acknowledgements taken in order, so `done` is always a prefix of the walk.
//!
//! Invariants:
//! - A job's `done` advances only over messages the sink acknowledged (or
//!   skipped under `--on-missing skip`), in walk order.
//! - Messages sent and not yet checkpointed are at most
//!   `in_flight_messages_max`: a window slot is freed only once the
//!   checkpoint covering it is on disk, so a kill -9 re-sends at most that
//!   many. Before a message past the saved `sent_mark` is sent, the mark is
//!   saved (moved at most `MARK_STEP` messages ahead), so a restart knows
//!   which messages the interrupted run may have sent: it counts them as
//!   re-sent. A resumed run records that mark among the job's
//!   `interrupted` marks before it sends anything, so a run killed while
//!   re-sending is counted too: a message gets one re-send per
//!   interrupted run that may have sent it.
//! - A checkpoint's sink position (a file export's length) is where its
//!   `done` message's output ends, never past it: messages sent after it
//!   may be written already, and a resumed export cuts them off.
//! - Bytes handed to the sink and not yet acknowledged are at most
//!   `in_flight_bytes_max` (one message may exceed it alone).

use super::checkpoint::{Counts, JobFile, JobState};
use super::outgoing::outgoing;
use super::progress::Progress;
use super::sink::{Outgoing, Sink};
use super::walk::{Item, Position, Walk};
use super::{Rename, RestoreError};
use crate::pipeline::Backoff;
use crate::store::ObjectStore;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::{self, FuturesOrdered};
use futures::{FutureExt, Stream, StreamExt, TryStreamExt};
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Store reads of one object before a transient error stops the restore.
const FETCH_ATTEMPTS_MAX: u32 = 6;
/// Skipped messages named in the summary (all are counted and logged).
const SKIPPED_NAMED_MAX: usize = 100;

/// What to do when an object is missing or unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnMissing {
    /// Stop, naming the UUID and key.
    Stop,
    /// Record, count and go on.
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EngineLimits {
    pub in_flight_messages_max: usize,
    pub in_flight_bytes_max: usize,
    pub fetch_concurrency: usize,
    /// Messages per second at most.
    pub rate_max: Option<f64>,
    /// Longest time acknowledged messages wait to be checkpointed.
    pub checkpoint_interval_ms: u64,
    /// After a stop signal, how long in-flight messages may take to be acknowledged.
    pub drain_timeout_ms: u64,
}

/// Per target topic counts, as the job file keeps them.
pub type TopicSummary = Counts;

/// How a restore ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Counts of this job, all runs together, by target topic.
    pub topics: BTreeMap<String, TopicSummary>,
    /// Messages skipped in this run: UUID, key, why (the first
    /// `SKIPPED_NAMED_MAX`).
    pub skipped: Vec<(Uuid, String, String)>,
    /// Whether the job had already finished before this run.
    pub already_finished: bool,
}

impl Summary {
    pub fn total(&self) -> Counts {
        self.topics.values().fold(Counts::default(), |mut sum, c| {
            sum.add(c);
            sum
        })
    }
}

/// One item after its object was read.
struct Fetched {
    item: Item,
    outcome: Result<Outgoing, RestoreError>,
}

/// One item's end: acknowledged, refused, or skipped.
struct Done {
    position: Position,
    topic: String,
    size_bytes: usize,
    without_timestamp: bool,
    /// Interrupted runs that may have sent it already.
    resent: u64,
    result: Result<(), RestoreError>,
    skipped: Option<(Uuid, String, String)>,
    /// The sink's output length once this message was written (sends
    /// write in walk order): what a checkpoint with this `done` records.
    sink_position: Option<u64>,
}

pub struct Engine<'a> {
    pub store: Arc<dyn ObjectStore>,
    pub sink: &'a dyn Sink,
    pub rename: Arc<Rename>,
    pub limits: EngineLimits,
    pub on_missing: OnMissing,
    pub job: Option<JobFile>,
    pub progress: &'a Progress,
}

/// The loop's bookkeeping.
struct Books {
    state: JobState,
    acks: FuturesOrdered<BoxFuture<'static, Done>>,
    /// Acknowledged, not yet checkpointed.
    unsaved: usize,
    bytes_in_flight: usize,
    last_save: Instant,
    skipped: Vec<(Uuid, String, String)>,
}

impl Engine<'_> {
    /// Sends everything `walk` yields after `state.done`, until the walk
    /// ends, a message fails, or `shutdown` completes.
    pub async fn run(
        &self,
        walk: Box<dyn Walk>,
        state: JobState,
        shutdown: impl Future<Output = ()>,
    ) -> Result<Summary, RestoreError> {
        if state.finished {
            return Ok(Summary { topics: state.topics, skipped: Vec::new(), already_finished: true });
        }
        let interrupted = state.sent_mark.clone().filter(|mark| state.done.as_ref().is_none_or(|d| mark > d));
        let mut books = Books {
            state,
            acks: FuturesOrdered::new(),
            unsaved: 0,
            bytes_in_flight: 0,
            last_save: Instant::now(),
            skipped: Vec::new(),
        };
        if let Some(mark) = interrupted {
            // On disk before the first copy goes out: if this run is killed
            // too, the next one counts its copies as well.
            books.state.interrupted.push(mark);
            self.save(&mut books).await?;
        }
        let mut fetched = self.fetched(walk);
        let mut pacer = Pacer::new(self.limits.rate_max);
        let mut shutdown = std::pin::pin!(shutdown.fuse());
        let (mut exhausted, mut stopping) = (false, false);
        let mut failure: Option<RestoreError> = None;
        while failure.is_none() && !stopping {
            let room = !exhausted
                && books.acks.len() + books.unsaved < self.limits.in_flight_messages_max
                && books.bytes_in_flight < self.limits.in_flight_bytes_max;
            if !room && books.acks.is_empty() {
                if books.unsaved == 0 {
                    break;
                }
                self.save(&mut books).await?;
                continue;
            }
            tokio::select! {
                biased;
                () = &mut shutdown => stopping = true,
                Some(done) = books.acks.next(), if !books.acks.is_empty() => {
                    failure = self.settle(&mut books, done).err();
                }
                next = pacer.then(fetched.next()), if room => match next {
                    None => exhausted = true,
                    Some(Ok(item)) => failure = self.dispatch(&mut books, item).await.err(),
                    Some(Err(error)) => failure = Some(error),
                },
            }
            self.progress.set_in_flight(books.acks.len() + books.unsaved);
            let window_full = books.acks.len() + books.unsaved >= self.limits.in_flight_messages_max;
            let due = books.last_save.elapsed() >= Duration::from_millis(self.limits.checkpoint_interval_ms);
            if books.unsaved > 0 && (window_full || due) {
                self.save(&mut books).await?;
            }
        }
        if stopping && failure.is_none() {
            self.drain(&mut books).await;
        }
        // After a failure, the failure is what to report, not a flush that
        // fails for the same reason.
        let saved = self.save(&mut books).await;
        if let Some(error) = failure {
            return Err(error);
        }
        saved?;
        if stopping {
            let done = books.state.topics.values().map(|c| c.messages + c.skipped).sum();
            return Err(RestoreError::Interrupted { done });
        }
        books.state.finished = true;
        self.save(&mut books).await?;
        self.progress.finish();
        Ok(Summary { topics: books.state.topics, skipped: books.skipped, already_finished: false })
    }

    /// The walk's items with their objects read, `fetch_concurrency` at a
    /// time, in walk order.
    fn fetched(&self, walk: Box<dyn Walk>) -> Pin<Box<dyn Stream<Item = Result<Fetched, RestoreError>> + Send + '_>> {
        let pages = stream::try_unfold(walk, |mut walk| async move {
            Ok::<_, RestoreError>(walk.next_page().await?.map(|page| (page, walk)))
        });
        let items = pages.map_ok(|page| stream::iter(page.into_iter().map(Ok::<Item, RestoreError>))).try_flatten();
        let store = Arc::clone(&self.store);
        let rename = Arc::clone(&self.rename);
        Box::pin(
            items
                .map(move |item| {
                    let (store, rename) = (Arc::clone(&store), Arc::clone(&rename));
                    async move { fetch(&*store, item?, &rename).await }
                })
                .buffered(self.limits.fetch_concurrency.max(1)),
        )
    }

    /// Hands one item to the sink (or, skipped, straight to the
    /// acknowledgements), after saving a `sent_mark` that covers it.
    async fn dispatch(&self, books: &mut Books, fetched: Fetched) -> Result<(), RestoreError> {
        let Fetched { item, outcome } = fetched;
        if self.job.is_some() && books.state.sent_mark.as_ref().is_none_or(|mark| item.position > *mark) {
            books.state.sent_mark = Some((*item.page_last).clone());
            self.save(books).await?;
        }
        // One copy per interrupted run that may have sent it.
        let resent = books.state.interrupted.iter().filter(|mark| item.position <= **mark).count() as u64;
        let done = |result, skipped, size_bytes, without_timestamp| Done {
            position: item.position.clone(),
            topic: self.rename.target(&item.topic),
            size_bytes,
            without_timestamp,
            resent,
            result,
            skipped,
            sink_position: self.sink.position(),
        };
        match outcome {
            Ok(message) => {
                let size_bytes = message.size_bytes();
                let without_timestamp = message.timestamp_ms.is_none();
                books.bytes_in_flight += size_bytes;
                let ack = self.sink.send(message);
                let pending = done(Ok(()), None, size_bytes, without_timestamp);
                books.acks.push_back(
                    async move { Done { result: ack.await.map_err(RestoreError::from), ..pending } }.boxed(),
                );
            }
            Err(error @ (RestoreError::MissingObject { .. } | RestoreError::UnreadableObject { .. }))
                if self.on_missing == OnMissing::Skip =>
            {
                tracing::warn!(uuid = %item.uuid, key = %item.object_key, %error, "skipped");
                let skipped = Some((item.uuid, item.object_key.clone(), error.to_string()));
                books.acks.push_back(futures::future::ready(done(Ok(()), skipped, 0, false)).boxed());
            }
            Err(error) => return Err(error),
        }
        Ok(())
    }

    /// Books one acknowledgement (in walk order).
    fn settle(&self, books: &mut Books, done: Done) -> Result<(), RestoreError> {
        books.bytes_in_flight = books.bytes_in_flight.saturating_sub(done.size_bytes);
        done.result?;
        let counts = books.state.topics.entry(done.topic.clone()).or_default();
        if let Some(skipped) = done.skipped {
            counts.skipped += 1;
            self.progress.skipped();
            if books.skipped.len() < SKIPPED_NAMED_MAX {
                books.skipped.push(skipped);
            }
        } else {
            counts.messages += 1;
            counts.bytes += done.size_bytes as u64;
            counts.without_timestamp += u64::from(done.without_timestamp);
            counts.resent += done.resent;
            self.progress.sent(&done.topic, done.size_bytes as u64, done.resent);
        }
        books.state.done = Some(done.position);
        // Not the sink's current length: lines of messages sent after this
        // one may be written already, and a resume must not keep them.
        books.state.sink_position = done.sink_position;
        if self.job.is_some() {
            books.unsaved += 1;
        }
        Ok(())
    }

    /// After a stop signal: waits (bounded) for what is in flight.
    async fn drain(&self, books: &mut Books) {
        let deadline = tokio::time::sleep(Duration::from_millis(self.limits.drain_timeout_ms));
        let mut deadline = std::pin::pin!(deadline);
        while !books.acks.is_empty() {
            tokio::select! {
                () = &mut deadline => return,
                Some(done) = books.acks.next() => if self.settle(books, done).is_err() { return },
            }
        }
    }

    /// Makes the sink durable, then the checkpoint. Without a job this
    /// runs only at the end, where the flush is what makes an export's
    /// last lines durable and reports their failure.
    async fn save(&self, books: &mut Books) -> Result<(), RestoreError> {
        self.sink.flush().await?;
        if let Some(job) = &self.job {
            // Marks behind `done` count nothing any more.
            let done = books.state.done.clone();
            books.state.interrupted.retain(|mark| done.as_ref().is_none_or(|d| mark > d));
            job.save(&books.state)?;
        }
        books.unsaved = 0;
        books.last_save = Instant::now();
        Ok(())
    }
}

/// Reads an item's object (retrying transient store errors) and turns it
/// into the message to send; a missing or unreadable object is the
/// item's outcome, not the stream's error.
async fn fetch(store: &dyn ObjectStore, item: Item, rename: &Rename) -> Result<Fetched, RestoreError> {
    let bytes = match item.prefetched.clone() {
        Some(bytes) => Some(bytes),
        None => get_with_retries(store, &item.object_key).await?,
    };
    let outcome = match bytes {
        None => Err(RestoreError::MissingObject { uuid: item.uuid, key: item.object_key.clone() }),
        Some(bytes) => outgoing(&item, &bytes, rename),
    };
    Ok(Fetched { item, outcome })
}

async fn get_with_retries(store: &dyn ObjectStore, key: &str) -> Result<Option<Bytes>, RestoreError> {
    let mut backoff = Backoff::new(100, 5_000);
    let mut attempt = 1;
    loop {
        match store.get(key).await {
            Err(error) if error.is_transient() && attempt < FETCH_ATTEMPTS_MAX => {
                tracing::warn!(%key, %error, attempt, "store read failed; retrying");
                tokio::time::sleep(backoff.next_delay()).await;
                attempt += 1;
            }
            result => return result.map_err(RestoreError::from),
        }
    }
}

/// Spaces sends `1 / rate` apart.
struct Pacer {
    interval: Option<Duration>,
    next: tokio::time::Instant,
}

impl Pacer {
    fn new(rate_max: Option<f64>) -> Pacer {
        let interval = rate_max.filter(|r| *r > 0.0).map(|r| Duration::from_secs_f64(1.0 / r));
        Pacer { interval, next: tokio::time::Instant::now() }
    }

    /// Waits for the next send's turn, then for `then`.
    async fn then<T>(&mut self, then: impl Future<Output = T>) -> T {
        if let Some(interval) = self.interval {
            tokio::time::sleep_until(self.next).await;
            self.next = self.next.max(tokio::time::Instant::now()) + interval;
        }
        then.await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Annotations, Key, Message, Record};
    use crate::restore::progress::RestoreMetrics;
    use crate::restore::sink::{SinkError, TargetTopic};
    use crate::store::MemoryStore;
    use async_trait::async_trait;
    use std::sync::Mutex;

    /// Rule: `--rate-max r` spaces sends at least 1/r apart (on tokio's
    /// paused clock, so the check is exact and takes no real time).
    #[tokio::test(start_paused = true)]
    async fn the_pacer_spaces_sends_by_the_rate() {
        let mut pacer = Pacer::new(Some(20.0));
        let start = tokio::time::Instant::now();
        for _ in 0..11 {
            pacer.then(async {}).await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(500), "11 sends at 20/s take 10 intervals of 50 ms");
        let mut unpaced = Pacer::new(None);
        let start = tokio::time::Instant::now();
        unpaced.then(async {}).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    /// Items in pages of `page` over one lane, each with its object.
    fn pages(count: usize, page: usize) -> Vec<Vec<Item>> {
        let items: Vec<(Position, Bytes)> = (0..count)
            .map(|i| {
                let seq = i64::try_from(i).expect("small");
                let message = Message {
                    topic: "t".into(),
                    timestamp: 1_700_000_000_000 + seq,
                    key: Key::Null,
                    headers: Vec::new(),
                    payload: Some(format!("m{i}").into_bytes()),
                };
                let object = Record::new(&message, Annotations::default()).encode().expect("encodes");
                let uuid = Uuid::from_u128(u128::try_from(i).expect("small") + 1);
                (Position { topic: "t".into(), lane: 0, group: String::new(), seq, uuid }, Bytes::from(object))
            })
            .collect();
        items
            .chunks(page)
            .map(|chunk| {
                let last = Arc::new(chunk.last().expect("non-empty").0.clone());
                chunk
                    .iter()
                    .map(|(position, object)| Item {
                        position: position.clone(),
                        page_last: Arc::clone(&last),
                        uuid: position.uuid,
                        object_key: format!("t/{}.bson", position.uuid),
                        topic: "t".into(),
                        partition: Some(0),
                        offset: Some(position.seq),
                        size_bytes: object.len() as u64,
                        crc32: Some(crc32fast::hash(object)),
                        timestamp_type: None,
                        prefetched: Some(object.clone()),
                    })
                    .collect()
            })
            .collect()
    }

    /// The pages after `done`, as a resumed walk yields them.
    struct PagesWalk(std::vec::IntoIter<Vec<Item>>);

    impl PagesWalk {
        fn after(pages: &[Vec<Item>], done: Option<&Position>) -> Box<dyn Walk> {
            let rest: Vec<Vec<Item>> = pages
                .iter()
                .map(|p| p.iter().filter(|i| done.is_none_or(|d| i.position > *d)).cloned().collect::<Vec<_>>())
                .filter(|p| !p.is_empty())
                .collect();
            Box::new(PagesWalk(rest.into_iter()))
        }
    }

    #[async_trait]
    impl Walk for PagesWalk {
        async fn next_page(&mut self) -> Result<Option<Vec<Item>>, RestoreError> {
            Ok(self.0.next())
        }
    }

    /// Records every send (shared across runs); acknowledges the first
    /// `acked` sends of its run, and never the others.
    struct StallingSink {
        sent: Arc<Mutex<Vec<Uuid>>>,
        acked: usize,
        calls: Mutex<usize>,
    }

    #[async_trait]
    impl Sink for StallingSink {
        async fn prepare(&mut self, _: &[TargetTopic]) -> Result<(), SinkError> {
            Ok(())
        }

        fn send(&self, message: Outgoing) -> BoxFuture<'static, Result<(), SinkError>> {
            self.sent.lock().expect("lock").push(message.uuid);
            let mut calls = self.calls.lock().expect("lock");
            *calls += 1;
            if *calls <= self.acked {
                futures::future::ready(Ok(())).boxed()
            } else {
                futures::future::pending().boxed()
            }
        }

        async fn flush(&self) -> Result<(), SinkError> {
            Ok(())
        }
    }

    /// One run of a job over `pages` that acknowledges only its first
    /// `acked` sends; it is killed (its future dropped) once nothing moves
    /// for a second, or ends.
    async fn run_once(
        pages: &[Vec<Item>],
        job: &JobFile,
        sent: &Arc<Mutex<Vec<Uuid>>>,
        acked: usize,
    ) -> Option<Summary> {
        let state = job.load().expect("loads").unwrap_or_else(|| JobState::new("test".into(), None));
        let walk = PagesWalk::after(pages, state.done.as_ref());
        let sink = StallingSink { sent: Arc::clone(sent), acked, calls: Mutex::new(0) };
        let progress = Progress::new(None, Duration::from_secs(3600), Arc::new(RestoreMetrics::default()), true);
        let engine = Engine {
            store: Arc::new(MemoryStore::new()),
            sink: &sink,
            rename: Arc::new(Rename::default()),
            limits: EngineLimits {
                in_flight_messages_max: 10,
                in_flight_bytes_max: 1 << 20,
                fetch_concurrency: 4,
                rate_max: None,
                checkpoint_interval_ms: 0,
                drain_timeout_ms: 0,
            },
            on_missing: OnMissing::Stop,
            job: Some(job.clone()),
            progress: &progress,
        };
        let run = engine.run(walk, state, std::future::pending());
        tokio::time::timeout(Duration::from_secs(1), run).await.ok().map(|r| r.expect("runs"))
    }

    /// Bug: a run killed while it re-sent what an earlier killed run may
    /// have sent, before a checkpoint covered those messages, left no
    /// trace in the job file: the next run counted them re-sent once,
    /// though they went out three times. The summary's `resent` must count
    /// at least every copy beyond the first.
    #[tokio::test(start_paused = true)]
    async fn regression_resent_counts_every_copy_after_two_kills_in_a_row() {
        let dir = tempfile::tempdir().expect("tempdir");
        let job = JobFile::new(dir.path(), "twice").expect("job");
        let pages = pages(100, 5);
        let sent = Arc::new(Mutex::new(Vec::new()));
        // Killed with a window of messages sent and not acknowledged.
        assert_eq!(run_once(&pages, &job, &sent, 20).await, None);
        // Killed again while it re-sent them, before any acknowledgement.
        assert_eq!(run_once(&pages, &job, &sent, 0).await, None);
        let summary = run_once(&pages, &job, &sent, usize::MAX).await.expect("the third run finishes");
        let sent = sent.lock().expect("lock").clone();
        let distinct: std::collections::BTreeSet<&Uuid> = sent.iter().collect();
        assert_eq!(distinct.len(), 100, "every message sent");
        let copies = (sent.len() - distinct.len()) as u64;
        assert!(copies > 10, "the two kills each sent copies ({copies})");
        let total = summary.total();
        assert_eq!(total.messages, 100);
        assert!(total.resent >= copies, "resent {} < {copies} copies sent twice", total.resent);
    }
}
