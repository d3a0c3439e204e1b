//! `archiver reindex-text`: text entries for archived messages that have
//! none — rows written before text indexing, or before their topic was
//! made text-indexed — or, with `--partial`, only a partial one (after the
//! limits were raised). Upstream's `reindex_text.py`.
//!
//! The walk: the rows of the text-indexed topics (`[pipeline] text_topics`,
//! narrowed by `--topic`) that need an entry, by id, a batch at a time
//! (`Index::rows_without_text`); each row's object is read
//! `--fetch-concurrency` at a time, its text extracted as ingest does
//! (`text::extract` over the row's media type), and the batch's entries
//! written with their rows' `text_fully_indexed` in one transaction
//! (`Index::set_texts`). An object that is missing or does not decode is
//! counted and skipped: its row keeps no entry, and `archiver audit` is
//! the tool for it.
//!
//! **Resumable**: the rows selected are those still without an entry, so
//! running the command again goes on where it stopped; with `--job NAME`
//! the last id done and the counts are saved after each batch (a
//! `--partial` run then does not redo what it did). A kill -9 redoes at
//! most one batch, which writes the same entries again.

use crate::config::{Backends, ToolConfig};
use crate::index::{Index, IndexEntry, IndexError, RowText};
use crate::ops::backends::{self, BackendError};
use crate::ops::common::{self, NoStateDir, NoTopicMatches, Progress, retrying};
use crate::record::Record;
use crate::restore::{JobFile, JobFileError};
use crate::store::{ObjectStore, StoreError};
use crate::telemetry::redact::mask_password;
use crate::text::{self, TextLimits};
use futures::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What to reindex and how: flags of `archiver reindex-text`, never in the file.
#[derive(Debug, Clone, clap::Args)]
pub struct ReindexTextArgs {
    /// Topics: names or `*` globs among the text-indexed ones, repeated or comma-separated [default: every text-indexed topic].
    #[arg(long = "topic", short = 't', value_name = "PATTERN", value_delimiter = ',', help_heading = "Reindex text")]
    pub topics: Vec<String>,
    /// Also redo messages indexed partially (`text_fully_indexed` false), e.g. after raising the limits.
    #[arg(long, help_heading = "Reindex text")]
    pub partial: bool,
    /// Name of a resumable job: progress is checkpointed, and the same command resumes it.
    #[arg(long, value_name = "NAME", help_heading = "Reindex text")]
    pub job: Option<String>,
    /// Directory of job files [default: $XDG_STATE_HOME/hop-archiver/reindex-text, else ~/.local/state/hop-archiver/reindex-text].
    #[arg(long, value_name = "DIR", help_heading = "Reindex text")]
    pub state_dir: Option<PathBuf>,
    /// Objects read from the store at once.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256), help_heading = "Reindex text")]
    pub fetch_concurrency: u16,
    /// Rows per batch, and per checkpoint.
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..=1000), help_heading = "Reindex text")]
    pub batch_rows: u16,
    /// How often a progress line is logged when stderr is not a terminal.
    #[arg(long, value_name = "MS", default_value_t = 10_000, help_heading = "Reindex text")]
    pub progress_interval_ms: u64,
    /// Print the summary as JSON.
    #[arg(long, help_heading = "Reindex text")]
    pub json: bool,
}

/// Why `reindex-text` stopped; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ReindexTextError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Job(#[from] JobFileError),
    #[error(transparent)]
    Topic(#[from] NoTopicMatches),
    #[error(transparent)]
    StateDir(#[from] NoStateDir),
    #[error("no topic's text is indexed: set [pipeline] text_topics (or --text-topics, or public topics)")]
    NothingIndexed,
    #[error("interrupted after {rows} rows; {next}")]
    Interrupted { rows: u64, next: &'static str },
}

/// The job file's layout version.
const VERSION: u32 = 1;

/// A job's state, saved after each batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextJob {
    pub version: u32,
    /// Index, topics and mode: a resumed job must be the same job.
    pub selection: String,
    /// Every selected row with an id up to this one is done.
    pub after_id: i64,
    pub finished: bool,
    pub counts: TextCounts,
}

/// What a run (or a job, over its runs) did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextCounts {
    /// Rows given an entry.
    pub indexed: u64,
    /// Of those, entries whose payload was not read in full.
    pub partial: u64,
    /// Rows whose object is missing from the store.
    pub missing_objects: u64,
    /// Rows whose object does not decode.
    pub unreadable_objects: u64,
}

/// The summary of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextReport {
    pub topics: Vec<String>,
    pub counts: TextCounts,
    pub already_finished: bool,
    pub seconds: f64,
}

impl ReindexTextArgs {
    fn state_dir(&self) -> Result<PathBuf, NoStateDir> {
        common::state_dir(self.state_dir.as_ref(), "reindex-text")
    }
}

/// Runs `args` on `config`'s backends; stops at a batch boundary
/// (checkpointed) once `shutdown` resolves.
pub async fn reindex_text(
    config: &ToolConfig,
    args: &ReindexTextArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<TextReport, ReindexTextError> {
    let started = Instant::now();
    if config.text.topics.is_empty() {
        return Err(ReindexTextError::NothingIndexed);
    }
    let (index, store) = backends::open(&config.backends).await?;
    let index_error = |e| BackendError::index(&config.backends.index_url, e);
    let stats =
        retrying("listing topics", || index.topic_stats(), IndexError::is_transient).await.map_err(index_error)?;
    let indexed: Vec<String> =
        stats.into_iter().map(|s| s.topic).filter(|t| config.text.for_topic(t).is_some()).collect();
    let topics = common::select_topics(&indexed, &common::patterns(&args.topics), "text-indexed topics")?;
    let selection =
        format!("index={} topics={topics:?} partial={}", mask_password(&config.backends.index_url), args.partial);
    let job = args.job.as_deref().map(|name| Ok::<_, ReindexTextError>(JobFile::new(&args.state_dir()?, name)?));
    let job = job.transpose()?;
    let loaded = match &job {
        Some(job) => job.load::<TextJob>()?.map(|state| (job, state)),
        None => None,
    };
    let mut state = match loaded {
        Some((job, state)) if state.version != VERSION || state.selection != selection => {
            let reason = format!(
                "this job was started as {} (version {}); use another --job name",
                state.selection, state.version
            );
            return Err(job.error(reason).into());
        }
        Some((_, state)) => state,
        None => TextJob { version: VERSION, selection, after_id: 0, finished: false, counts: TextCounts::default() },
    };
    let report = |state: &TextJob, already_finished| TextReport {
        topics: topics.clone(),
        counts: state.counts.clone(),
        already_finished,
        seconds: started.elapsed().as_secs_f64(),
    };
    if state.finished {
        return Ok(report(&state, true));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            shutdown.await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    let mut progress = Progress::new("reindex-text", "rows", Duration::from_millis(args.progress_interval_ms));
    progress.phase("text", "rows", None, 0);
    let walk = Walk { index, store, urls: &config.backends, limits: config.text.limits, args, topics: &topics };
    let mut rows_this_run = 0;
    let ended = loop {
        if stop.load(Ordering::Relaxed) {
            break Err(ReindexTextError::Interrupted { rows: rows_this_run, next: common::next_step(job.is_some()) });
        }
        let batch = match walk.batch(state.after_id).await {
            Ok(batch) => batch,
            Err(e) => break Err(index_error(e).into()),
        };
        let Some(last) = batch.last().map(|e| e.id) else {
            state.finished = true;
            break Ok(());
        };
        if let Err(e) = walk.index_batch(&batch, &mut state.counts).await {
            break Err(e);
        }
        state.after_id = last;
        rows_this_run += batch.len() as u64;
        if let Some(job) = &job
            && let Err(e) = job.save(&state)
        {
            break Err(e.into());
        }
        progress.advance(batch.len() as u64, || {
            format!("{} indexed, {} partial", state.counts.indexed, state.counts.partial)
        });
    };
    watcher.abort();
    progress.finish();
    if let (Some(job), true) = (&job, state.finished) {
        job.save(&state)?;
    }
    ended.map(|()| report(&state, false))
}

/// The backends and settings a run walks with.
struct Walk<'a> {
    index: Arc<dyn Index>,
    store: Arc<dyn ObjectStore>,
    urls: &'a Backends,
    limits: TextLimits,
    args: &'a ReindexTextArgs,
    topics: &'a [String],
}

/// What one row's object gave.
enum Found {
    Text(RowText),
    Missing,
    Unreadable,
}

impl Walk<'_> {
    /// The next rows needing an entry after `after_id`.
    async fn batch(&self, after_id: i64) -> Result<Vec<IndexEntry>, IndexError> {
        let (topics, partial, limit) = (self.topics, self.args.partial, u32::from(self.args.batch_rows));
        retrying(
            "reading rows",
            || self.index.rows_without_text(topics, after_id, partial, limit),
            IndexError::is_transient,
        )
        .await
    }

    /// Reads the batch's objects, then writes their entries in one transaction.
    async fn index_batch(&self, batch: &[IndexEntry], counts: &mut TextCounts) -> Result<(), ReindexTextError> {
        let found: Vec<Found> = stream::iter(batch.iter().map(|entry| self.text_of(entry)))
            .buffered(usize::from(self.args.fetch_concurrency))
            .try_collect()
            .await?;
        let mut texts = Vec::with_capacity(found.len());
        for found in found {
            match found {
                Found::Text(text) => {
                    counts.partial += u64::from(!text.fully_indexed);
                    texts.push(text);
                }
                Found::Missing => counts.missing_objects += 1,
                Found::Unreadable => counts.unreadable_objects += 1,
            }
        }
        let written = retrying("writing text entries", || self.index.set_texts(&texts), IndexError::is_transient)
            .await
            .map_err(|e| BackendError::index(&self.urls.index_url, e))?;
        counts.indexed += written;
        Ok(())
    }

    /// The text entry of one row, from its object (decoded and read on
    /// the blocking pool), as ingest extracts it.
    async fn text_of(&self, entry: &IndexEntry) -> Result<Found, ReindexTextError> {
        let row = &entry.row;
        let got = retrying("reading an object", || self.store.get(&row.key), StoreError::is_transient).await;
        let Some(bytes) = got.map_err(|e| BackendError::store(&self.urls.store_url, e))? else {
            tracing::warn!(uuid = %row.uuid, key = row.key, "object missing; its text is not indexed");
            return Ok(Found::Missing);
        };
        let (uuid, row_media_type, limits) = (row.uuid, row.media_type.clone(), self.limits);
        let work = tokio::task::spawn_blocking(move || {
            let record = Record::decode(&bytes).map_err(|e| e.to_string())?;
            // The object's own annotation: the row keeps only its first KiB.
            let media_type = record.annotations.as_ref().and_then(|a| a.text("media_type")).map(str::to_owned);
            let extracted = text::extract(&record.message(), &media_type.unwrap_or(row_media_type), &limits);
            Ok::<_, String>(RowText { uuid, text: extracted.text, fully_indexed: extracted.fully_indexed })
        });
        match work.await.map_err(|e| e.to_string()).and_then(|done| done) {
            Ok(text) => Ok(Found::Text(text)),
            Err(error) => {
                tracing::warn!(%uuid, %error, "object does not decode; its text is not indexed");
                Ok(Found::Unreadable)
            }
        }
    }
}

/// The summary as text.
pub fn render_text(report: &TextReport) -> String {
    let c = &report.counts;
    let head = if report.already_finished { "reindex-text: this job had already finished\n" } else { "" };
    format!(
        "{head}reindex-text: {} rows indexed ({} partially), {} objects missing, {} unreadable, in {:.1} s\ntopics: {}\n",
        c.indexed,
        c.partial,
        c.missing_objects,
        c.unreadable_objects,
        report.seconds,
        report.topics.join(", ")
    )
}

/// The summary as JSON.
pub fn render_json(report: &TextReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
