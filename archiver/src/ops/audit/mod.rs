//! `archiver audit` and `archiver repair`: is the archive whole, and
//! healing what is safe to heal.
//!
//! An audit runs up to three phases, each a walk in a fixed order that a
//! job (`--job`) resumes after the last item done:
//!
//! 1. **index → store** (`walks::IndexWalk`): the selected rows, keyset-paged
//!    in `(timestamp, id)` order; each row's object is read
//!    (`--concurrency` at a time, in order) and checked: present, the row's
//!    size, the row's CRC-32, decodable, and the fingerprint recomputed
//!    from the message equal to the row's. `--sample N` checks about N
//!    rows, chosen by a hash of the UUID and `--seed` (so a resumed job
//!    samples the same rows).
//! 2. **store → index** (`walks::StoreWalk`): the primary's keys of the
//!    selected topics, a listing page at a time, looked up in the index
//!    by UUID (`get_many`): an object no row references — none holds its
//!    UUID, or the row holding it names another key — is an orphan, unless
//!    it was written less than `--grace-ms` ago (a write in flight).
//! 3. **primary ↔ replica** (`walks::ReplicaWalk`, with `--replica`): both
//!    listings merge-joined by key: a key missing from the replica (older
//!    than the grace period), in the replica only, of another size, or —
//!    read from both, sampled like the rows — of other bytes.
//!
//! `archiver repair` runs the same audit and hands each finding, as it is
//! found, to `repair.rs`: only what is safe, a dry run unless `--apply`.
//!
//! Everything is bounded: objects in memory ≤ `--concurrency` (two per key
//! when comparing with the replica), one index page and one listing page
//! per store, findings and actions kept ≤ 10 000 each (all are counted
//! and logged). Transient errors are retried (6 attempts with backoff);
//! the first requests to each backend are not, so a wrong endpoint,
//! secret or bucket fails at once with its cause.

mod finding;
mod repair;
mod report;
mod walks;

pub use finding::{Action, ActionKind, Finding, FindingKind};
pub use report::{AuditState, Counts, FINDINGS_KEPT_MAX, Mode, Phase, Rates, Report, render_json, render_text};

use crate::config::{ConfigError, ToolConfig, durable_store_url};
use crate::index::{Index, ListQuery};
use crate::ops::backends::{self, BackendError};
use crate::ops::common::{self, NoStateDir, NoTopicMatches, Progress};
use crate::ops::reindex::Adoption;
use crate::pipeline::now_ms;
use crate::restore::selection::{SelectionError, parse_time};
use crate::restore::{JobFile, JobFileError};
use crate::store::{self, ObjectStore};
use crate::telemetry::redact::mask_password;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, stream};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A job's state is saved at least this often while it runs (and at the
/// end of each phase): a kill -9 redoes at most about this much work.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// What to audit and how: flags of `archiver audit` and `archiver repair`.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    /// Topics: names or `*` globs, repeated or comma-separated [default: every topic].
    #[arg(long = "topic", short = 't', value_name = "PATTERN", value_delimiter = ',', help_heading = "Audit")]
    pub topics: Vec<String>,
    /// Start of the time window (inclusive): ms since the epoch or RFC 3339. Store keys by their day.
    #[arg(long, value_name = "TIME", help_heading = "Audit")]
    pub start: Option<String>,
    /// End of the time window (exclusive): ms since the epoch or RFC 3339.
    #[arg(long, value_name = "TIME", help_heading = "Audit")]
    pub end: Option<String>,
    /// Read and check about N rows' objects (and compare about the same share of replica objects) instead of all.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), help_heading = "Audit")]
    pub sample: Option<u64>,
    /// Seed of --sample's choice: the same seed samples the same rows.
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = "Audit")]
    pub seed: u64,
    /// A replica of the store (s3://… or file:///…), compared key by key with the primary.
    #[arg(long, value_name = "URL", help_heading = "Audit")]
    pub replica: Option<String>,
    /// Objects written less than this long ago are not orphans or unreplicated yet (writes in flight).
    #[arg(long, value_name = "MS", default_value_t = 3_600_000, help_heading = "Audit")]
    pub grace_ms: u64,
    /// Objects read at once.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=1024), help_heading = "Audit")]
    pub concurrency: u16,
    /// Name of a resumable job: progress is checkpointed, and the same command resumes it.
    #[arg(long, value_name = "NAME", help_heading = "Audit")]
    pub job: Option<String>,
    /// Directory of job files [default: $XDG_STATE_HOME/hop-archiver/<audit|repair>, else ~/.local/state/…].
    #[arg(long, value_name = "DIR", help_heading = "Audit")]
    pub state_dir: Option<PathBuf>,
    /// Stop after this many rows and keys (the same command with the same --job goes on).
    #[arg(long, value_name = "N", help_heading = "Audit")]
    pub max_objects: Option<u64>,
    /// How often a progress line is logged when stderr is not a terminal.
    #[arg(long, value_name = "MS", default_value_t = 10_000, help_heading = "Audit")]
    pub progress_interval_ms: u64,
    /// Print the report as JSON.
    #[arg(long, help_heading = "Audit")]
    pub json: bool,
}

/// What `archiver repair` may do beyond an audit.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct RepairArgs {
    /// Act: insert missing rows, restore missing objects from --replica (and delete orphans with --delete-orphans). Without it, a dry run.
    #[arg(long, help_heading = "Repair")]
    pub apply: bool,
    /// Delete orphan objects that cannot be indexed, once older than --grace-ms (checked again right before).
    #[arg(long, help_heading = "Repair")]
    pub delete_orphans: bool,
}

/// Why an audit stopped without a report. Every variant says what to fix
/// or to do next.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Job(#[from] JobFileError),
    #[error(transparent)]
    Topic(#[from] NoTopicMatches),
    #[error(transparent)]
    StateDir(#[from] NoStateDir),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{flag}: {reason}")]
    Flag { flag: String, reason: String },
    #[error("interrupted after {items} rows and keys; {next}")]
    Interrupted { items: u64, next: &'static str },
}

/// The window and sample every walk applies.
#[derive(Debug, Clone, Copy)]
struct Window {
    start_ms: Option<i64>,
    end_ms: Option<i64>,
}

const MS_PER_DAY: i64 = 86_400_000;

impl Window {
    /// Whether the day starting at `day_start_ms` (a key's day) overlaps the window.
    fn holds_day(&self, day_start_ms: i64) -> bool {
        self.start_ms.is_none_or(|s| day_start_ms.saturating_add(MS_PER_DAY) > s)
            && self.end_ms.is_none_or(|e| day_start_ms < e)
    }

    fn is_whole(&self) -> bool {
        self.start_ms.is_none() && self.end_ms.is_none()
    }
}

/// `--sample`: a row (or key) is checked when a hash of its UUID and the
/// seed falls below the threshold.
#[derive(Debug, Clone, Copy)]
struct Sample {
    seed: u64,
    threshold: u64,
}

impl Sample {
    /// The threshold that picks about `wanted` of `total` rows, `None` when
    /// that is all of them.
    fn threshold(wanted: u64, total: u64) -> Option<u64> {
        (wanted < total).then(|| ((wanted as f64 / total as f64) * u64::MAX as f64) as u64)
    }

    fn picks(&self, uuid: Uuid) -> bool {
        let (high, low) = uuid.as_u64_pair();
        mix(high ^ mix(low ^ self.seed)) < self.threshold
    }

    /// A key whose name holds no UUID is picked by a hash of the key.
    fn picks_key(&self, key: &str) -> bool {
        match crate::identity::parse_object_key(key) {
            Some(parsed) => self.picks(parsed.uuid),
            None => {
                let hash = key
                    .bytes()
                    .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
                mix(hash ^ self.seed) < self.threshold
            }
        }
    }
}

/// SplitMix64's finalizer: every input bit flips about half the output bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What the walks share.
struct Context {
    index: Arc<dyn Index>,
    store: Arc<dyn ObjectStore>,
    replica: Option<Arc<dyn ObjectStore>>,
    urls: crate::config::Backends,
    replica_url: Option<String>,
    window: Window,
    sample: Option<Sample>,
    grace_ms: i64,
}

impl Context {
    fn store_error(&self, e: store::StoreError) -> AuditError {
        BackendError::store(&self.urls.store_url, e).into()
    }

    fn replica_error(&self, e: store::StoreError) -> AuditError {
        BackendError::replica(self.replica_url.as_deref().unwrap_or_default(), e).into()
    }

    fn index_error(&self, e: crate::index::IndexError) -> AuditError {
        BackendError::index(&self.urls.index_url, e).into()
    }

    /// Whether an object written at `modified_ms` is still within the grace
    /// period (an unknown time is not).
    fn is_young(&self, modified_ms: Option<i64>) -> bool {
        modified_ms.is_some_and(|m| now_ms().saturating_sub(m) < self.grace_ms)
    }
}

/// One row or key looked at: where the walk stands after it, what to add
/// to the counts, and what is wrong with it.
struct Checked {
    phase: Phase,
    counts: Counts,
    finding: Option<Finding>,
}

/// The work on one row or key (reading its objects), run
/// `--concurrency` at a time; results are taken in walk order.
type Work = BoxFuture<'static, Result<Checked, AuditError>>;

/// A phase's walk: the next row or key's work, `None` at its end.
#[async_trait::async_trait]
trait Walk: Send {
    async fn next(&mut self) -> Result<Option<Work>, AuditError>;
}

/// Runs the audit (or repair) `args` describe on `config`'s backends; stops
/// (checkpointed) once `shutdown` resolves.
pub async fn audit(
    config: &ToolConfig,
    args: &AuditArgs,
    mode: Mode,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Report, AuditError> {
    let started = Instant::now();
    let urls = &config.backends;
    let window = Window {
        start_ms: args.start.as_deref().map(|t| parse_time(t).map_err(|e| time_flag("--start", e))).transpose()?,
        end_ms: args.end.as_deref().map(|t| parse_time(t).map_err(|e| time_flag("--end", e))).transpose()?,
    };
    if let (Some(start), Some(end)) = (window.start_ms, window.end_ms)
        && start >= end
    {
        return Err(AuditError::Flag {
            flag: "--start/--end".into(),
            reason: "an empty window: start must be before end".into(),
        });
    }
    let replica_url = args.replica.clone().map(|url| durable_store_url("--replica", url)).transpose()?;
    if replica_url.as_deref() == Some(urls.store_url.as_str()) {
        return Err(AuditError::Flag { flag: "--replica".into(), reason: "names the primary store itself".into() });
    }
    if let Mode::Repair { delete_orphans: true, .. } = mode
        && args.grace_ms == 0
    {
        return Err(AuditError::Flag {
            flag: "--delete-orphans".into(),
            reason: "with --grace-ms 0 it could delete objects whose rows are being written: give a grace period"
                .into(),
        });
    }
    let tool = match mode {
        Mode::Audit => "audit",
        Mode::Repair { .. } => "repair",
    };
    let job = args
        .job
        .as_deref()
        .map(|name| Ok::<_, AuditError>(JobFile::new(&common::state_dir(args.state_dir.as_ref(), tool)?, name)?));
    let job = job.transpose()?;
    let patterns = common::patterns(&args.topics);
    let selection = format!(
        "{tool} {mode:?} store={} index={} replica={:?} topics={patterns:?} start={:?} end={:?} sample={:?} seed={}",
        mask_password(&urls.store_url),
        mask_password(&urls.index_url),
        replica_url.as_deref().map(mask_password),
        window.start_ms,
        window.end_ms,
        args.sample,
        args.seed,
    );
    let saved = job.as_ref().map(load_state).transpose()?.flatten();
    if let Some(state) = &saved
        && state.selection != selection
    {
        let path = job.as_ref().map(|j| j.path().display().to_string()).unwrap_or_default();
        return Err(JobFileError {
            path,
            reason: format!("this job was started as another command ({}); use another --job name", state.selection),
        }
        .into());
    }
    let report = |state, already_finished, stopped_early, items_this_run, rates| Report {
        state,
        mode,
        replica: replica_url.is_some(),
        already_finished,
        stopped_early,
        items_this_run,
        seconds: started.elapsed().as_secs_f64(),
        rates,
    };
    if let Some(state) = saved.as_ref().filter(|s| s.finished) {
        return Ok(report(state.clone(), true, false, 0, Rates::default()));
    }

    let (index, store) = backends::open(urls).await?;
    let replica = match &replica_url {
        Some(url) => Some(store::open(url).await.map_err(|e| BackendError::replica(url, e))?),
        None => None,
    };
    let selected = select(&index, &store, replica.as_ref(), urls, replica_url.as_deref(), &patterns, window).await?;
    let state = match saved {
        Some(state) => state,
        None => {
            let rows_total = match &selected.index_query {
                Some(query) => index.count(query).await.map_err(|e| BackendError::index(&urls.index_url, e))?,
                None => 0,
            };
            let threshold = args.sample.and_then(|wanted| Sample::threshold(wanted, rows_total));
            AuditState::new(selection, rows_total, threshold)
        }
    };
    let context = Arc::new(Context {
        index: Arc::clone(&index),
        store: Arc::clone(&store),
        replica: replica.clone(),
        urls: urls.clone(),
        replica_url: replica_url.clone(),
        window,
        sample: state.sample_threshold.map(|threshold| Sample { seed: args.seed, threshold }),
        grace_ms: i64::try_from(args.grace_ms).unwrap_or(i64::MAX),
    });
    let repairer = match mode {
        Mode::Audit => None,
        Mode::Repair { apply, delete_orphans } => Some(repair::Repairer {
            context: Arc::clone(&context),
            apply,
            delete_orphans,
            adoption: Adoption {
                bucket: store.bucket().to_owned(),
                public_topics: config.public_topics.clone(),
                text: config.text.clone(),
                ingested_at_ms: now_ms(),
            },
        }),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            shutdown.await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    let mut run = Run {
        context,
        repairer,
        args: args.clone(),
        job,
        state,
        progress: Progress::new(tool, "items", Duration::from_millis(args.progress_interval_ms)),
        items: 0,
        rates: Rates::default(),
        last_save: Instant::now(),
        stop,
        index_query: selected.index_query,
        store_topics: selected.store_topics,
        replica_topics: selected.replica_topics,
    };
    let ended = run.phases().await;
    watcher.abort();
    run.progress.finish();
    let (items, rates) = (run.items, run.rates.clone());
    match ended? {
        Ended::Finished => Ok(report(run.state, false, false, items, rates)),
        Ended::AtMax => Ok(report(run.state, false, true, items, rates)),
        Ended::Interrupted => Err(AuditError::Interrupted { items, next: common::next_step(run.job.is_some()) }),
    }
}

/// The selected rows, and the topics each store walk visits.
struct Selected {
    /// `None`: no row is selected.
    index_query: Option<ListQuery>,
    /// The primary's selected topics, in key order.
    store_topics: Vec<String>,
    /// The selected topics of the primary or the replica, in key order.
    replica_topics: Vec<String>,
}

/// What `patterns` and `window` select. Each pattern must match a topic of
/// the index, the store or the replica. The listings are the first
/// requests to each store, not retried: a wrong endpoint, bucket or secret
/// fails at once, with its cause.
async fn select(
    index: &Arc<dyn Index>,
    store: &Arc<dyn ObjectStore>,
    replica: Option<&Arc<dyn ObjectStore>>,
    urls: &crate::config::Backends,
    replica_url: Option<&str>,
    patterns: &[String],
    window: Window,
) -> Result<Selected, AuditError> {
    let store_topics = store::topics(&**store).await.map_err(|e| BackendError::store(&urls.store_url, e))?;
    let replica_topics = match replica {
        Some(replica) => {
            store::topics(&**replica).await.map_err(|e| BackendError::replica(replica_url.unwrap_or_default(), e))?
        }
        None => Vec::new(),
    };
    let index_topics: Vec<String> = if patterns.is_empty() {
        Vec::new()
    } else {
        let stats = index.topic_stats().await.map_err(|e| BackendError::index(&urls.index_url, e))?;
        stats.into_iter().map(|s| s.topic).collect()
    };
    let everywhere: BTreeSet<String> =
        index_topics.iter().chain(&store_topics).chain(&replica_topics).cloned().collect();
    common::select_topics(&everywhere.into_iter().collect::<Vec<_>>(), patterns, "index or store")?;
    let selected = |topics: &[String]| -> Vec<String> {
        topics.iter().filter(|t| patterns.is_empty() || crate::topics::matches_any(patterns, t)).cloned().collect()
    };
    let query = ListQuery {
        topics: selected(&index_topics),
        start_ms: window.start_ms,
        end_ms: window.end_ms,
        ..ListQuery::every_row(Vec::new(), crate::index::PAGE_ROWS_MAX)
    };
    let mut both: Vec<String> = selected(&store_topics)
        .into_iter()
        .chain(selected(&replica_topics))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // Walked in key order: a topic's keys all start with `<topic>/`.
    both.sort_by_key(|t| format!("{t}/"));
    Ok(Selected {
        // Patterns that name topics of the stores only select no row (an
        // empty topic list would select every row).
        index_query: (patterns.is_empty() || !query.topics.is_empty()).then_some(query),
        store_topics: selected(&store_topics),
        replica_topics: both,
    })
}

fn time_flag(flag: &str, e: SelectionError) -> AuditError {
    AuditError::Flag { flag: flag.into(), reason: e.to_string() }
}

fn load_state(job: &JobFile) -> Result<Option<AuditState>, JobFileError> {
    let Some(state) = job.load::<AuditState>()? else { return Ok(None) };
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

/// One run of an audit job.
struct Run {
    context: Arc<Context>,
    repairer: Option<repair::Repairer>,
    args: AuditArgs,
    job: Option<JobFile>,
    state: AuditState,
    progress: Progress,
    /// Rows and keys looked at by this run.
    items: u64,
    rates: Rates,
    last_save: Instant,
    stop: Arc<AtomicBool>,
    /// `None`: no row is selected.
    index_query: Option<ListQuery>,
    store_topics: Vec<String>,
    replica_topics: Vec<String>,
}

impl Run {
    async fn phases(&mut self) -> Result<Ended, AuditError> {
        loop {
            let phase = self.state.phase.clone();
            let started = Instant::now();
            let before = self.state.counts.clone();
            let items_before = self.items;
            let (walk, next, total): (Box<dyn Walk>, Phase, Option<u64>) = match phase {
                Phase::Index { after } => (
                    Box::new(walks::IndexWalk::new(Arc::clone(&self.context), self.index_query.clone(), after)),
                    Phase::Store { after: None },
                    Some(self.state.rows_total),
                ),
                Phase::Store { after } => (
                    Box::new(walks::StoreWalk::new(Arc::clone(&self.context), self.store_topics.clone(), after)),
                    if self.context.replica.is_some() { Phase::Replica { after: None } } else { Phase::Done },
                    None,
                ),
                Phase::Replica { after } => (
                    Box::new(walks::ReplicaWalk::new(Arc::clone(&self.context), self.replica_topics.clone(), after)),
                    Phase::Done,
                    None,
                ),
                Phase::Done => {
                    self.state.finished = true;
                    self.save()?;
                    return Ok(Ended::Finished);
                }
            };
            let already = match self.state.phase {
                Phase::Index { .. } => self.state.counts.rows,
                _ => 0,
            };
            self.progress.phase(self.state.phase.name(), "items", total, already);
            let ended = self.drive(walk).await;
            let seconds = started.elapsed().as_secs_f64().max(1e-9);
            let (counts, items) = (&self.state.counts, (self.items - items_before) as f64);
            // The walk leaves the state in its own phase (the next is set below).
            match self.state.phase {
                Phase::Index { .. } => {
                    self.rates.objects_checked_per_second =
                        (counts.rows_checked - before.rows_checked) as f64 / seconds;
                    self.rates.bytes_read_per_second = (counts.bytes_read - before.bytes_read) as f64 / seconds;
                }
                Phase::Store { .. } => self.rates.store_keys_per_second = items / seconds,
                Phase::Replica { .. } => self.rates.replica_keys_per_second = items / seconds,
                Phase::Done => {}
            }
            match ended? {
                None => {
                    self.state.phase = next;
                    self.save()?;
                }
                Some(ended) => {
                    self.save()?;
                    return Ok(ended);
                }
            }
        }
    }

    /// Runs one walk to its end (`None`) or until stopped.
    async fn drive(&mut self, walk: Box<dyn Walk>) -> Result<Option<Ended>, AuditError> {
        let works = stream::try_unfold(walk, |mut walk| async move {
            Ok::<_, AuditError>(walk.next().await?.map(|work| (work, walk)))
        });
        let mut results = std::pin::pin!(
            works
                .map(|work| work.unwrap_or_else(|e| futures::future::ready(Err(e)).boxed()))
                .buffered(usize::from(self.args.concurrency))
        );
        while let Some(checked) = results.next().await {
            if let Some(max) = self.args.max_objects
                && self.items >= max
            {
                return Ok(Some(Ended::AtMax));
            }
            let checked = checked?;
            self.state.counts.add(&checked.counts);
            if let Some(finding) = checked.finding {
                tracing::warn!(kind = finding.kind().as_str(), key = finding.key(), "{}", finding.describe());
                if let Some(repairer) = &self.repairer {
                    let action = repairer.act(&finding).await?;
                    let (kind, key, detail) = (action.action.as_str(), &action.key, &action.detail);
                    tracing::info!(action = kind, key = %key, "repair: {detail}");
                    self.state.acted(action);
                }
                self.state.found(finding);
            }
            self.state.phase = checked.phase;
            self.items += 1;
            let state = &self.state;
            self.progress.advance(1, || summary(state));
            if self.last_save.elapsed() >= CHECKPOINT_INTERVAL {
                self.save()?;
            }
            if self.stop.load(Ordering::Relaxed) {
                return Ok(Some(Ended::Interrupted));
            }
        }
        Ok(None)
    }

    fn save(&mut self) -> Result<(), AuditError> {
        self.last_save = Instant::now();
        match &self.job {
            Some(job) => Ok(job.save(&self.state)?),
            None => Ok(()),
        }
    }
}

fn summary(state: &AuditState) -> String {
    let kinds: Vec<String> = state.findings_by_kind.iter().map(|(k, n)| format!("{} {n}", k.as_str())).collect();
    if kinds.is_empty() { "no findings".to_owned() } else { kinds.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_picks_about_its_share_and_always_the_same_rows() {
        let threshold = Sample::threshold(100, 1000).expect("a share");
        let sample = Sample { seed: 7, threshold };
        let uuids: Vec<Uuid> = (0..10_000u128).map(|i| Uuid::from_u128(i * 0x9e37_79b9_7f4a_7c15)).collect();
        let picked = uuids.iter().filter(|u| sample.picks(**u)).count();
        assert!((800..1200).contains(&picked), "{picked} of 10 000 at 10 %");
        assert_eq!(uuids.iter().filter(|u| sample.picks(**u)).count(), picked, "deterministic");
        let other = Sample { seed: 8, threshold };
        assert!(uuids.iter().any(|u| sample.picks(*u) != other.picks(*u)), "the seed matters");
        assert_eq!(Sample::threshold(1000, 1000), None, "all of them");
    }

    #[test]
    fn a_window_holds_the_days_it_overlaps() {
        let window = Window { start_ms: Some(MS_PER_DAY + 5), end_ms: Some(3 * MS_PER_DAY) };
        assert!(!window.holds_day(0));
        assert!(window.holds_day(MS_PER_DAY));
        assert!(window.holds_day(2 * MS_PER_DAY));
        assert!(!window.holds_day(3 * MS_PER_DAY));
    }
}
