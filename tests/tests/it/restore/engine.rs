//! `restore::Engine` driven as `ops::restore` drives it — an `IndexWalk`
//! over the index's lanes, resumed strictly after the job's `done` — over an
//! archive the real ingest loop wrote (SQLite file + filesystem store),
//! sending into a `MemorySink` (or a `JsonlSink`) that fails and delays on
//! demand, with a job file in the test's directory.

use super::fixture::{Archive, Spec};
use archiver::index::Index;
use archiver::restore::engine::OnMissing;
use archiver::restore::progress::{Progress, RestoreMetrics};
use archiver::restore::sink::{JsonlSink, MemorySink, Outgoing, Sink, SinkError, TargetTopic};
use archiver::restore::walk::{IndexWalk, Walk};
use archiver::restore::{Engine, EngineLimits, JobFile, JobState, Position, Rename, RestoreError, Selection, Summary};
use archiver::store::{FsStore, ObjectStore};
use async_trait::async_trait;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// An archive, its backends opened as a restore opens them, and the
/// selection (everything) in walk order.
struct Setup {
    archive: Archive,
    index: Arc<dyn Index>,
    store: Arc<dyn ObjectStore>,
    selection: Selection,
    id_max: Option<i64>,
    /// Every selected message's position and UUID, in walk order.
    order: Vec<(Position, Uuid)>,
}

impl Setup {
    async fn new() -> Setup {
        let archive = Archive::build(Spec::standard()).await;
        let index = archive.open_index().await;
        let store: Arc<dyn ObjectStore> = Arc::new(FsStore::create(archive.objects()).await.expect("fs store"));
        let selection = Selection { include_uploads: true, ..Selection::default() };
        let id_max = index.id_max().await.expect("id_max");
        let mut setup = Setup { archive, index, store, selection, id_max, order: Vec::new() };
        let mut walk = setup.walk(None, 7).await;
        while let Some(page) = walk.next_page().await.expect("page") {
            setup.order.extend(page.into_iter().map(|item| (item.position, item.uuid)));
        }
        assert_eq!(setup.order.len(), setup.archive.rows().await.len(), "the walk covers every row");
        setup
    }

    /// The walk `ops::restore` builds: the index's lanes for the
    /// selection, strictly after `resume`.
    async fn walk(&self, resume: Option<&Position>, page_rows: u32) -> Box<dyn Walk> {
        let stats = self.index.topic_stats().await.expect("topic stats");
        let topics = self.selection.resolve_topics(stats.iter().map(|t| t.topic.as_str())).expect("topics");
        let filter = self.selection.row_filter(&topics, self.id_max);
        let lanes = self.index.lanes(&filter).await.expect("lanes");
        Box::new(IndexWalk::new(Arc::clone(&self.index), filter, lanes, resume, page_rows))
    }

    fn job(&self, name: &str) -> JobFile {
        JobFile::new(&self.archive.path("jobs"), name).expect("job file")
    }

    /// One run of the engine, resuming `job`'s saved state (or a new one).
    async fn run(
        &self,
        sink: &dyn Sink,
        job: Option<&JobFile>,
        in_flight: usize,
        page_rows: u32,
    ) -> Result<Summary, RestoreError> {
        let state = job
            .and_then(|j| j.load().expect("job loads"))
            .unwrap_or_else(|| JobState::new("engine test".into(), self.id_max));
        let walk = self.walk(state.done.as_ref(), page_rows).await;
        let progress = Progress::new(None, Duration::from_secs(3600), Arc::new(RestoreMetrics::default()), true);
        let engine = Engine {
            store: Arc::clone(&self.store),
            sink,
            rename: Arc::new(Rename::default()),
            limits: EngineLimits {
                in_flight_messages_max: in_flight,
                in_flight_bytes_max: 64 << 20,
                fetch_concurrency: 8,
                rate_max: None,
                checkpoint_interval_ms: 200,
                drain_timeout_ms: 1_000,
            },
            on_missing: OnMissing::Stop,
            job: job.cloned(),
            progress: &progress,
        };
        engine.run(walk, state, std::future::pending()).await
    }

    fn index_of(&self, position: &Position) -> usize {
        self.order.iter().position(|(p, _)| p == position).expect("a walked position")
    }
}

fn uuids(sink: &MemorySink) -> Vec<Uuid> {
    sink.sent().iter().map(|s| s.message.uuid).collect()
}

/// Rule: a send failing at message N stops the job with that error, its
/// checkpoint covering exactly the messages before N; run again, the job
/// sends from N on, so every message goes out, those sent past the
/// checkpoint twice — at most `in_flight` of them, and (with one-row
/// pages, so that the sent mark is exact) exactly as many as the summary's
/// re-sent count; with larger pages the count is an upper bound.
async fn check_failure_then_resume(fail_at: usize, in_flight: usize, page_rows: u32) {
    let setup = Setup::new().await;
    let job = setup.job("resume");
    // Acknowledgements held back so that messages past N are in flight
    // when N fails, however fast or slow the machine.
    let failing = Gated::new(MemorySink::default().fail_send(fail_at), setup.order.len());
    let error = setup.run(&failing, Some(&job), in_flight, page_rows).await.expect_err("the Nth send fails");
    let failing = &failing.inner;
    assert!(
        matches!(&error, RestoreError::Sink(SinkError::Refused { uuid, .. }) if *uuid == setup.order[fail_at].1),
        "{error}"
    );
    let saved: JobState = job.load().expect("loads").expect("a job file after the failure");
    assert!(!saved.finished);
    let done = saved.done.as_ref().expect("messages before N were checkpointed");
    assert_eq!(setup.index_of(done), fail_at - 1, "the checkpoint ends right before N");
    let first = uuids(failing);
    let walked: Vec<Uuid> = setup.order.iter().map(|(_, u)| *u).collect();
    assert_eq!(first, walked[..first.len()], "sent in walk order");
    assert!(first.len() > fail_at + 1, "messages after N were in flight (the test needs some)");

    let again = MemorySink::default().ack_after(Duration::from_millis(2));
    let summary = setup.run(&again, Some(&job), in_flight, page_rows).await.expect("the resumed job finishes");
    let second = uuids(&again);
    assert_eq!(second, walked[fail_at..], "the resumed run sends from N on, in order");
    let mut times: BTreeMap<Uuid, usize> = BTreeMap::new();
    for uuid in first.iter().chain(&second) {
        *times.entry(*uuid).or_default() += 1;
    }
    assert_eq!(times.len(), walked.len(), "every message sent");
    assert!(times.values().all(|n| *n <= 2));
    let resent = times.values().filter(|n| **n == 2).count();
    assert!(resent <= in_flight, "{resent} sent twice, more than the {in_flight} in flight");
    let total = summary.total();
    if page_rows == 1 {
        assert_eq!(total.resent, resent as u64, "the summary counts exactly the messages sent twice");
    } else {
        // The sent mark moves a page at a time: the count may include the
        // rest of the page the interrupted run was sending.
        assert!(total.resent >= resent as u64, "the summary counts at least the messages sent twice");
        assert!(total.resent <= (in_flight + page_rows as usize) as u64, "{} counted re-sent", total.resent);
    }
    assert_eq!(total.messages, walked.len() as u64, "counts of both runs together: every message once");
    assert!(job.load::<JobState>().expect("loads").expect("job").finished);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_send_stops_at_n_and_the_rerun_sends_the_rest_resent_counted_exactly() {
    check_failure_then_resume(60, 8, 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_send_with_large_pages_resends_at_most_in_flight() {
    check_failure_then_resume(45, 16, 50).await;
}

/// Rule: a finished job run again sends nothing and says it had finished,
/// with the counts it finished with.
#[tokio::test(flavor = "multi_thread")]
async fn a_finished_job_run_again_sends_nothing() {
    let setup = Setup::new().await;
    let job = setup.job("done");
    let first = MemorySink::default();
    let summary = setup.run(&first, Some(&job), 32, 100).await.expect("finishes");
    assert_eq!(first.sent().len(), setup.order.len());
    assert!(!summary.already_finished);
    let again = MemorySink::default();
    let rerun = setup.run(&again, Some(&job), 32, 100).await.expect("runs");
    assert!(rerun.already_finished);
    assert!(again.sent().is_empty(), "a finished job sent {} messages", again.sent().len());
    assert_eq!(rerun.topics, summary.topics);
}

/// A check of the sink's positions after each send, run at each flush.
type FlushCheck = Box<dyn Fn(&[Option<u64>]) + Send + Sync>;

/// Holds each acknowledgement back until [`Gated::LAG`] later messages
/// were sent (or the walk's `total`), so that messages are in flight
/// whatever the machine's speed; can refuse one send without passing it
/// on, records the inner sink's position after each send, and runs a check
/// at each flush (when the job file holds the previous checkpoint).
struct Gated<S> {
    inner: S,
    sends: tokio::sync::watch::Sender<usize>,
    total: usize,
    refuse: Option<usize>,
    positions: Arc<Mutex<Vec<Option<u64>>>>,
    on_flush: Option<FlushCheck>,
}

impl<S: Sink> Gated<S> {
    const LAG: usize = 4;

    fn new(inner: S, total: usize) -> Gated<S> {
        let (sends, _) = tokio::sync::watch::channel(0);
        Gated { inner, sends, total, refuse: None, positions: Arc::default(), on_flush: None }
    }
}

#[async_trait]
impl<S: Sink> Sink for Gated<S> {
    async fn prepare(&mut self, topics: &[TargetTopic]) -> Result<(), SinkError> {
        self.inner.prepare(topics).await
    }

    fn send(&self, message: Outgoing) -> BoxFuture<'static, Result<(), SinkError>> {
        let index = *self.sends.borrow();
        let ack = if self.refuse == Some(index) {
            let refused = SinkError::Refused { uuid: message.uuid, topic: message.topic, reason: "injected".into() };
            futures::future::ready(Err(refused)).boxed()
        } else {
            self.inner.send(message)
        };
        self.positions.lock().expect("lock").push(self.inner.position());
        self.sends.send_replace(index + 1);
        let mut sends = self.sends.subscribe();
        let until = (index + Self::LAG + 1).min(self.total);
        async move {
            let _ = sends.wait_for(|n| *n >= until).await;
            ack.await
        }
        .boxed()
    }

    async fn flush(&self) -> Result<(), SinkError> {
        if let Some(check) = &self.on_flush {
            check(&self.positions.lock().expect("lock"));
        }
        self.inner.flush().await
    }

    fn position(&self) -> Option<u64> {
        self.inner.position()
    }
}

/// Rule (regression: a checkpoint recorded the file's length including
/// lines sent after its `done` — written, not yet acknowledged — so a
/// resumed export kept those lines and wrote them again): every saved
/// checkpoint's file length is exactly the end of its `done` message's
/// line, and an export that stopped with messages in flight and was
/// resumed is byte for byte the uninterrupted export.
#[tokio::test(flavor = "multi_thread")]
async fn regression_a_resumed_file_export_writes_no_line_twice() {
    let setup = Setup::new().await;
    let whole = setup.archive.path("whole.jsonl");
    let plain = JsonlSink::create(whole.to_str().expect("utf-8")).expect("create");
    setup.run(&plain, None, 16, 50).await.expect("uninterrupted export");

    let path = setup.archive.path("resumed.jsonl");
    let path = path.to_str().expect("utf-8");
    let job = setup.job("file");
    let fail_at = 70;
    let violations = Arc::new(Mutex::new(Vec::new()));
    let mut first = Gated::new(JsonlSink::create(path).expect("create"), setup.order.len());
    first.refuse = Some(fail_at);
    let (checked_job, seen, order) = (job.clone(), Arc::clone(&violations), setup.order.clone());
    first.on_flush = Some(Box::new(move |positions: &[Option<u64>]| {
        let Some(state): Option<JobState> = checked_job.load().expect("job loads") else { return };
        let Some(done) = state.done else { return };
        let index = order.iter().position(|(p, _)| *p == done).expect("a walked position");
        if state.sink_position != positions[index] {
            seen.lock().expect("lock").push(format!(
                "done = message {index} (file ends at {:?}) but the checkpoint says {:?}",
                positions[index], state.sink_position
            ));
        }
    }));
    setup.run(&first, Some(&job), 16, 50).await.expect_err("send N is refused");
    let saved: JobState = job.load().expect("loads").expect("job");
    let done = setup.index_of(saved.done.as_ref().expect("done"));
    assert_eq!(done, fail_at - 1);
    let written = first.positions.lock().expect("lock").clone();
    assert!(written.len() > fail_at + 1, "lines past N were written");
    assert_eq!(saved.sink_position, written[done], "the final checkpoint's length ends at done's line");
    assert_eq!(*violations.lock().expect("lock"), Vec::<String>::new());

    let resumed = JsonlSink::resume(path, saved.sink_position.expect("a file position")).expect("resume");
    setup.run(&resumed, Some(&job), 16, 50).await.expect("the resumed export finishes");
    drop(resumed);
    same_lines(std::path::Path::new(path), &whole);
}

/// Asserts two exports are the same lines, naming the first difference.
fn same_lines(got: &std::path::Path, want: &std::path::Path) {
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let (got, want) = (read(got), read(want));
    let (got_lines, want_lines): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    let cut = |l: &str| l.chars().take(120).collect::<String>();
    if let Some(n) = (0..got_lines.len().max(want_lines.len())).find(|n| got_lines.get(*n) != want_lines.get(*n)) {
        panic!(
            "line {n} of {} differs (expected {} lines):\n got  {:?}\n want {:?}",
            got_lines.len(),
            want_lines.len(),
            got_lines.get(n).map(|l| cut(l)),
            want_lines.get(n).map(|l| cut(l))
        );
    }
    assert!(got == want, "same lines, different bytes (a torn or missing final newline?)");
}

/// A sink that, at each send, records how many messages are sent and not
/// yet acknowledged (from `MemorySink`'s flags) and sent and not yet
/// checkpointed (from the job file on disk).
struct Watched {
    inner: MemorySink,
    job: Option<JobFile>,
    positions: HashMap<Position, usize>,
    worst: Mutex<(usize, usize)>,
}

#[async_trait]
impl Sink for Watched {
    async fn prepare(&mut self, topics: &[TargetTopic]) -> Result<(), SinkError> {
        self.inner.prepare(topics).await
    }

    fn send(&self, message: Outgoing) -> BoxFuture<'static, Result<(), SinkError>> {
        let ack = self.inner.send(message);
        let sent = self.inner.sent();
        let unacknowledged = sent.iter().filter(|s| !s.acknowledged).count();
        let checkpointed = self
            .job
            .as_ref()
            .and_then(|job| job.load().expect("job loads"))
            .and_then(|state: JobState| state.done)
            .map_or(0, |done| self.positions[&done] + 1);
        let unsaved = if self.job.is_some() { sent.len() - checkpointed } else { 0 };
        let mut worst = self.worst.lock().expect("lock");
        *worst = (worst.0.max(unacknowledged), worst.1.max(unsaved));
        ack
    }

    async fn flush(&self) -> Result<(), SinkError> {
        self.inner.flush().await
    }
}

/// Rule: with `in_flight_messages_max` = 4, at no send are more than 4
/// messages unacknowledged, nor (with a job) more than 4 sent and not
/// checkpointed — and the bound is reached, so the check is not idle.
#[tokio::test(flavor = "multi_thread")]
async fn in_flight_window_bounds_unacknowledged_and_uncheckpointed_messages() {
    let setup = Setup::new().await;
    let positions: HashMap<Position, usize> =
        setup.order.iter().enumerate().map(|(i, (p, _))| (p.clone(), i)).collect();
    for job in [Some(setup.job("window")), None] {
        let sink = Watched {
            inner: MemorySink::default().ack_after(Duration::from_millis(20)),
            job: job.clone(),
            positions: positions.clone(),
            worst: Mutex::new((0, 0)),
        };
        setup.run(&sink, job.as_ref(), 4, 25).await.expect("finishes");
        assert_eq!(sink.inner.sent().len(), setup.order.len());
        let (unacknowledged, unsaved) = *sink.worst.lock().expect("lock");
        assert_eq!(unacknowledged, 4, "unacknowledged at most 4, and the window filled (job: {})", job.is_some());
        if job.is_some() {
            assert_eq!(unsaved, 4, "sent and not checkpointed at most 4, and reached");
        }
    }
}
