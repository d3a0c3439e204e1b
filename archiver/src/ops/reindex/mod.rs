//! `archiver reindex`: the index rebuilt, or filled in, from the object
//! store alone — after the database was lost, or to adopt a bucket written
//! by another archiver (upstream's Python archiver included).
//!
//! The walk: the store's topics (one listing request each,
//! `store::topics`), then each topic's keys in the store's order, a page
//! at a time. Keys of both layouts are objects (`parse_object_key`); any
//! other key is counted and left alone. Objects are read
//! `--fetch-concurrency` at a time, in order, and each becomes the row
//! ingest would have written (`adopt.rs`); rows go to the index in batches
//! of `--batch-rows`, and an existing row is never changed: the same
//! UUID, key and fingerprint count as already indexed, anything else is
//! reported. Nothing in the store is moved, rewritten or deleted.
//!
//! **Duplicates** (one message stored twice under two UUIDs: upstream gave
//! messages without `_id` a random UUID per delivery) are both indexed and
//! reported. They are detected within each day directory of a topic
//! (`<topic>/Y/M/D/`, the hours of upstream's layout included), which
//! holds every copy of a message: identical messages have identical Kafka
//! timestamps, so the same UTC day. Not detected: copies under the two
//! key layouts (different day directories), copies of a message without a
//! Kafka timestamp that this archiver keyed by two ingest days, and copies
//! beyond the first [`DAY_FINGERPRINTS_MAX`] objects of one day.
//!
//! **Resumable** (`--job NAME`): after each batch the last key done is
//! saved atomically (keys are walked in the store's order, so every key up
//! to it is done), with the counts and notes so far. A resumed job reads
//! the objects of the interrupted day up to that key again — without
//! counting them — so that its duplicates are still found. A kill -9 at
//! any moment redoes at most one batch, whose rows are then already
//! indexed; nothing is inserted twice (the index's unique UUID).

mod adopt;
mod report;

pub use adopt::{Adopted, Adoption, adopt};
pub use report::{Counts, JobState, Note, NoteKind, Report, render_json, render_text};

use crate::config::ToolConfig;
use crate::identity::{ParsedKey, parse_object_key};
use crate::index::{Index, IndexError, IndexRow};
use crate::ops::backends::{self, BackendError};
use crate::ops::common::{self, NoStateDir, NoTopicMatches, Progress, retrying};
use crate::pipeline::now_ms;
use crate::restore::{JobFile, JobFileError};
use crate::store::{self, ObjectMeta, ObjectStore, StoreError};
use crate::telemetry::redact::mask_password;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Keys per listing request.
const LIST_PAGE: usize = 1000;
/// Fingerprints of one day directory kept to find duplicates (about
/// 100 bytes each); later objects of a larger day are not compared.
pub const DAY_FINGERPRINTS_MAX: usize = 1_000_000;

/// What to reindex and how: flags of `archiver reindex`, never in the file.
#[derive(Debug, Clone, clap::Args)]
pub struct ReindexArgs {
    /// Topics to reindex: names or `*` globs, repeated or comma-separated [default: every topic].
    #[arg(long = "topic", short = 't', value_name = "PATTERN", value_delimiter = ',', help_heading = "Reindex")]
    pub topics: Vec<String>,
    /// Read and compare everything, insert nothing: report what would be inserted.
    #[arg(long, help_heading = "Reindex")]
    pub dry_run: bool,
    /// Name of a resumable job: progress is checkpointed, and the same command resumes it.
    #[arg(long, value_name = "NAME", help_heading = "Reindex")]
    pub job: Option<String>,
    /// Directory of job files [default: $XDG_STATE_HOME/hop-archiver/reindex, else ~/.local/state/hop-archiver/reindex].
    #[arg(long, value_name = "DIR", help_heading = "Reindex")]
    pub state_dir: Option<PathBuf>,
    /// Objects read from the store at once.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=256), help_heading = "Reindex")]
    pub fetch_concurrency: u16,
    /// Rows per index batch, and per checkpoint.
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..=1000), help_heading = "Reindex")]
    pub batch_rows: u16,
    /// Stop after this many keys (the same command with the same --job goes on).
    #[arg(long, value_name = "N", help_heading = "Reindex")]
    pub max_objects: Option<u64>,
    /// How often a progress line is logged when stderr is not a terminal.
    #[arg(long, value_name = "MS", default_value_t = 10_000, help_heading = "Reindex")]
    pub progress_interval_ms: u64,
    /// Print the summary as JSON.
    #[arg(long, help_heading = "Reindex")]
    pub json: bool,
}

/// Why a reindex stopped. Every variant says what to fix or to do next.
#[derive(Debug, thiserror::Error)]
pub enum ReindexError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Job(#[from] JobFileError),
    #[error(transparent)]
    Topic(#[from] NoTopicMatches),
    #[error(transparent)]
    StateDir(#[from] NoStateDir),
    #[error("{flag}: {reason}")]
    Flag { flag: String, reason: String },
    #[error("interrupted after {objects} keys; {next}")]
    Interrupted { objects: u64, next: &'static str },
}

impl ReindexArgs {
    fn check(&self) -> Result<(), ReindexError> {
        if self.dry_run && self.job.is_some() {
            return Err(ReindexError::Flag {
                flag: "--dry-run".into(),
                reason: "a dry run changes nothing, so it has no job to resume: leave out --job".into(),
            });
        }
        Ok(())
    }

    fn patterns(&self) -> Vec<String> {
        common::patterns(&self.topics)
    }

    /// `--state-dir`, else `$XDG_STATE_HOME/hop-archiver/reindex`, else
    /// `$HOME/.local/state/hop-archiver/reindex`.
    fn state_dir(&self) -> Result<PathBuf, ReindexError> {
        Ok(common::state_dir(self.state_dir.as_ref(), "reindex")?)
    }
}

/// Runs the reindex `args` describes on `config`'s backends; stops at a
/// batch boundary (checkpointed) once `shutdown` resolves.
pub async fn reindex(
    config: &ToolConfig,
    args: &ReindexArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Report, ReindexError> {
    args.check()?;
    let started = Instant::now();
    let urls = &config.backends;
    let job = args.job.as_deref().map(|name| Ok::<_, ReindexError>(JobFile::new(&args.state_dir()?, name)?));
    let job = job.transpose()?;
    let patterns = args.patterns();
    let selection = format!(
        "store={} index={} topics={patterns:?}",
        mask_password(&urls.store_url),
        mask_password(&urls.index_url)
    );
    let state = match job.as_ref().map(load_state).transpose()?.flatten() {
        Some(state) if state.selection != selection => {
            let path = job.as_ref().map(|j| j.path().display().to_string()).unwrap_or_default();
            return Err(JobFileError {
                path,
                reason: format!(
                    "this job was started with other backends or topics ({}); use another --job name",
                    state.selection
                ),
            }
            .into());
        }
        Some(state) => state,
        None => JobState::new(selection),
    };
    let report = |state, already_finished, stopped_early, objects_this_run| Report {
        state,
        dry_run: args.dry_run,
        already_finished,
        stopped_early,
        objects_this_run,
        seconds: started.elapsed().as_secs_f64(),
    };
    if state.finished {
        return Ok(report(state, true, false, 0));
    }
    let (index, store) = backends::open(urls).await?;
    let store_error = |e| BackendError::store(&urls.store_url, e);
    // Not retried: a wrong endpoint, bucket or secret fails at once, with its cause.
    let all_topics = store::topics(&*store).await.map_err(store_error)?;
    let topics = common::select_topics(&all_topics, &patterns, "store")?;
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            shutdown.await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    let mut walk = Walker {
        index,
        store: Arc::clone(&store),
        urls: urls.clone(),
        adoption: Arc::new(Adoption {
            bucket: store.bucket().to_owned(),
            public_topics: config.public_topics.clone(),
            text: config.text.clone(),
            ingested_at_ms: now_ms(),
        }),
        args: args.clone(),
        job,
        state,
        day: Day::default(),
        progress: Progress::new("reindex", "keys", Duration::from_millis(args.progress_interval_ms)),
        listed: 0,
        stop,
    };
    let ended = walk.run(&topics).await;
    watcher.abort();
    walk.progress.finish();
    let listed = walk.listed;
    match ended? {
        Ended::Finished => Ok(report(walk.state, false, false, listed)),
        Ended::AtMax => Ok(report(walk.state, false, true, listed)),
        Ended::Interrupted => {
            Err(ReindexError::Interrupted { objects: listed, next: common::next_step(walk.job.is_some()) })
        }
    }
}

fn load_state(job: &JobFile) -> Result<Option<JobState>, JobFileError> {
    let Some(state) = job.load::<JobState>()? else { return Ok(None) };
    if state.version != report::VERSION {
        return Err(job.error(format!("version {} (this archiver writes {})", state.version, report::VERSION)));
    }
    Ok(Some(state))
}

enum Ended {
    Finished,
    AtMax,
    Interrupted,
}

/// The fingerprints seen in the day directory being walked.
#[derive(Default)]
struct Day {
    /// `<topic>/Y/M/D/`.
    prefix: String,
    first: HashMap<[u8; 32], (Uuid, String)>,
}

impl Day {
    /// Enters `prefix`'s day (forgetting the last one's fingerprints).
    fn enter(&mut self, prefix: String) {
        if self.prefix != prefix {
            self.prefix = prefix;
            self.first.clear();
        }
    }

    /// The first object of this day holding the same message, if another
    /// did; else remembers this one.
    fn seen(&mut self, row: &IndexRow) -> Option<(Uuid, String)> {
        match self.first.get(&row.fingerprint) {
            Some((uuid, key)) if *uuid != row.uuid => Some((*uuid, key.clone())),
            Some(_) => None,
            None => {
                if self.first.len() < DAY_FINGERPRINTS_MAX {
                    self.first.insert(row.fingerprint, (row.uuid, row.key.clone()));
                }
                None
            }
        }
    }
}

/// What became of one listed key.
enum Read {
    Adopted(Box<Adopted>, u64),
    Unreadable(String, u64),
    Missing,
    /// Not `<topic>/Y/M/D/[H/]<uuid>.bson`: left alone.
    NotAnObject,
}

struct Walker {
    index: Arc<dyn Index>,
    store: Arc<dyn ObjectStore>,
    urls: crate::config::Backends,
    adoption: Arc<Adoption>,
    args: ReindexArgs,
    job: Option<JobFile>,
    state: JobState,
    day: Day,
    progress: Progress,
    /// Keys listed by this run.
    listed: u64,
    stop: Arc<AtomicBool>,
}

impl Walker {
    async fn run(&mut self, topics: &[String]) -> Result<Ended, ReindexError> {
        if let Some(last) = self.state.last_key.clone() {
            self.warm_up(&last).await?;
        }
        for topic in topics {
            let prefix = format!("{topic}/");
            let mut after = match self.state.last_key.clone() {
                Some(last) if last.starts_with(&prefix) => Some(last),
                // Every key of this topic sorts before the last key done.
                Some(last) if prefix < last => continue,
                _ => None,
            };
            loop {
                let page = self.list(&prefix, after.as_deref(), LIST_PAGE).await?;
                let mut objects = page.objects.as_slice();
                while !objects.is_empty() {
                    let room = self.args.max_objects.map_or(u64::MAX, |max| max.saturating_sub(self.listed));
                    if room == 0 {
                        return Ok(Ended::AtMax);
                    }
                    let take = objects.len().min(usize::from(self.args.batch_rows)).min(room as usize);
                    let (batch, rest) = objects.split_at(take);
                    self.batch(topic, batch).await?;
                    objects = rest;
                    if self.stop.load(Ordering::Relaxed) {
                        return Ok(Ended::Interrupted);
                    }
                }
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
        self.state.finished = true;
        self.save()?;
        Ok(Ended::Finished)
    }

    /// Learns the fingerprints of the interrupted day's objects up to the
    /// last key done, so duplicates across the resume point are found.
    async fn warm_up(&mut self, last: &str) -> Result<(), ReindexError> {
        let Some(parsed) = parse_object_key(last) else { return Ok(()) };
        let prefix = format!("{}/{}", parsed.topic, parsed.group);
        self.day.enter(prefix.clone());
        let mut after = None;
        loop {
            let page = self.list(&prefix, after.as_deref(), LIST_PAGE).await?;
            let done: Vec<ObjectMeta> = page.objects.iter().filter(|o| o.key.as_str() <= last).cloned().collect();
            let reached = done.len() < page.objects.len();
            for (_, read) in self.read(&parsed.topic, &done).await? {
                if let Read::Adopted(adopted, _) = read {
                    self.day.seen(&adopted.row);
                }
            }
            match page.next {
                Some(next) if !reached => after = Some(next),
                _ => return Ok(()),
            }
        }
    }

    async fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<store::ListPage, ReindexError> {
        let listed = retrying("list", || self.store.list(prefix, after, limit), StoreError::is_transient).await;
        Ok(listed.map_err(|e| BackendError::store(&self.urls.store_url, e))?)
    }

    /// Reads and adopts `objects` (keys of `topic`), `--fetch-concurrency`
    /// at a time, in order.
    async fn read(&self, topic: &str, objects: &[ObjectMeta]) -> Result<Vec<(String, Read)>, ReindexError> {
        let reads = stream::iter(objects.iter().cloned())
            .map(|object| {
                let parsed = parse_object_key(&object.key).filter(|p| p.topic == topic);
                let (store, adoption) = (Arc::clone(&self.store), Arc::clone(&self.adoption));
                async move {
                    let Some(parsed) = parsed else { return Ok((object.key, Read::NotAnObject)) };
                    let got = retrying("get", || store.get(&object.key), StoreError::is_transient).await?;
                    let read = match got {
                        None => Read::Missing,
                        Some(bytes) => adopt_blocking(adoption, object.key.clone(), parsed, bytes).await,
                    };
                    Ok((object.key, read))
                }
            })
            .buffered(usize::from(self.args.fetch_concurrency))
            .try_collect::<Vec<_>>()
            .await;
        Ok(reads.map_err(|e| BackendError::store(&self.urls.store_url, e))?)
    }

    /// One batch of listed keys of `topic`: read, adopt, compare with the
    /// index, insert what is new, checkpoint.
    async fn batch(&mut self, topic: &str, objects: &[ObjectMeta]) -> Result<(), ReindexError> {
        let reads = self.read(topic, objects).await?;
        let mut counts = Counts::default();
        let mut rows = Vec::with_capacity(reads.len());
        for (key, read) in reads {
            let uuid = parse_object_key(&key).map(|p| p.uuid);
            counts.objects += u64::from(uuid.is_some());
            let (adopted, size) = match read {
                Read::NotAnObject => {
                    counts.ignored_keys += 1;
                    self.state.note(note(NoteKind::IgnoredKey, &key, None, "not <topic>/Y/M/D/[H/]<uuid>.bson"));
                    continue;
                }
                Read::Missing => {
                    counts.missing += 1;
                    self.state.note(note(NoteKind::Missing, &key, uuid, "not indexed"));
                    continue;
                }
                Read::Unreadable(reason, size) => {
                    counts.bytes += size;
                    counts.unreadable += 1;
                    self.state.note(note(NoteKind::Unreadable, &key, uuid, &reason));
                    continue;
                }
                Read::Adopted(adopted, size) => (adopted, size),
            };
            counts.bytes += size;
            let row = &adopted.row;
            counts.legacy += u64::from(adopted.legacy);
            counts.conflicts += u64::from(row.claimed_uuid.is_some());
            if let Some(named) = adopted.uuid_in_object {
                counts.uuid_mismatches += 1;
                let detail = format!("the object says {named}; indexed under the key's UUID");
                self.state.note(note(NoteKind::UuidMismatch, &key, Some(row.uuid), &detail));
            }
            if let Some(named) = &adopted.topic_in_object {
                counts.topic_mismatches += 1;
                let detail = format!("the message says topic {named:?}; indexed under that topic");
                self.state.note(note(NoteKind::TopicMismatch, &key, Some(row.uuid), &detail));
            }
            if let Some(parsed) = parse_object_key(&key) {
                self.day.enter(format!("{topic}/{}", parsed.group));
            }
            if let Some((first, first_key)) = self.day.seen(row) {
                counts.duplicates += 1;
                let detail = format!("the same message as {first} ({first_key}); both indexed");
                self.state.note(note(NoteKind::Duplicate, &key, Some(row.uuid), &detail));
            }
            rows.push(adopted.row);
        }
        self.index_rows(rows, &mut counts).await?;
        self.listed += objects.len() as u64;
        self.state.topics.entry(topic.to_owned()).or_default().add(&counts);
        self.state.last_key = objects.last().map(|o| o.key.clone()).or(self.state.last_key.take());
        self.save()?;
        let state = &self.state;
        self.progress.advance(objects.len() as u64, || {
            let total = state.total();
            let last_key = state.last_key.as_deref().unwrap_or_default();
            format!(
                "{} inserted, {} already indexed, {} duplicates; last key {last_key}",
                total.inserted, total.already_indexed, total.duplicates
            )
        });
        Ok(())
    }

    /// Inserts the rows no row holds yet (a dry run only counts them) and
    /// sorts the others into already indexed and differing.
    async fn index_rows(&mut self, rows: Vec<IndexRow>, counts: &mut Counts) -> Result<(), ReindexError> {
        if rows.is_empty() {
            return Ok(());
        }
        let uuids: Vec<Uuid> = rows.iter().map(|r| r.uuid).collect();
        let mut held: HashMap<Uuid, IndexRow> =
            self.get_many(&uuids).await?.into_iter().map(|e| (e.row.uuid, e.row)).collect();
        let mut pending = Vec::new();
        for row in rows {
            match held.get(&row.uuid) {
                Some(holder) => self.compare(holder, &row, counts),
                None => {
                    held.insert(row.uuid, row.clone());
                    pending.push(row);
                }
            }
        }
        if self.args.dry_run || pending.is_empty() {
            counts.inserted += pending.len() as u64;
            return Ok(());
        }
        let inserted = retrying("insert", || self.index.insert_batch(&pending), IndexError::is_transient).await;
        let inserted = inserted.map_err(|e| BackendError::index(&self.urls.index_url, e))?;
        let refused: Vec<&IndexRow> = pending.iter().zip(&inserted).filter(|(_, new)| !**new).map(|(r, _)| r).collect();
        counts.inserted += (pending.len() - refused.len()) as u64;
        if !refused.is_empty() {
            // Another writer (or an earlier attempt of this insert) was first.
            let uuids: Vec<Uuid> = refused.iter().map(|r| r.uuid).collect();
            let now: HashMap<Uuid, IndexRow> =
                self.get_many(&uuids).await?.into_iter().map(|e| (e.row.uuid, e.row)).collect();
            for row in refused {
                match now.get(&row.uuid) {
                    Some(holder) => self.compare(holder, row, counts),
                    None => {
                        let detail = "the index refused the row and holds none for its UUID";
                        counts.index_differs += 1;
                        self.state.note(note(NoteKind::IndexDiffers, &row.key, Some(row.uuid), detail));
                    }
                }
            }
        }
        Ok(())
    }

    async fn get_many(&self, uuids: &[Uuid]) -> Result<Vec<crate::index::IndexEntry>, ReindexError> {
        let got = retrying("look up", || self.index.get_many(uuids), IndexError::is_transient).await;
        Ok(got.map_err(|e| BackendError::index(&self.urls.index_url, e))?)
    }

    /// A row already holding `row`'s UUID: the same object, or reported.
    fn compare(&mut self, holder: &IndexRow, row: &IndexRow, counts: &mut Counts) {
        if holder.key == row.key && holder.fingerprint == row.fingerprint {
            counts.already_indexed += 1;
            return;
        }
        counts.index_differs += 1;
        let what = if holder.fingerprint == row.fingerprint { "the same message" } else { "another message" };
        let detail = format!("left alone: the index row holds {what} at {}", holder.key);
        self.state.note(note(NoteKind::IndexDiffers, &row.key, Some(row.uuid), &detail));
    }

    fn save(&self) -> Result<(), ReindexError> {
        match &self.job {
            Some(job) => Ok(job.save(&self.state)?),
            None => Ok(()),
        }
    }
}

/// Decodes and adopts an object on the blocking pool (decoding, SHA-256
/// and the media-type sniff are CPU work), so reads overlap with it.
async fn adopt_blocking(adoption: Arc<Adoption>, key: String, parsed: ParsedKey, bytes: Bytes) -> Read {
    let size = bytes.len() as u64;
    let work = tokio::task::spawn_blocking(move || adopt(&adoption, &key, &parsed, &bytes));
    match work.await {
        Ok(Ok(adopted)) => Read::Adopted(Box::new(adopted), size),
        Ok(Err(reason)) => Read::Unreadable(reason, size),
        Err(e) => Read::Unreadable(format!("decoding failed: {e}"), size),
    }
}

fn note(kind: NoteKind, key: &str, uuid: Option<Uuid>, detail: &str) -> Note {
    Note { kind, key: key.to_owned(), uuid, detail: detail.to_owned() }
}
