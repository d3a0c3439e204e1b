//! `archiver restore`: the job's flags, and the wiring of a restore from
//! them — backends, selection, job file, sink, progress, metrics — to the
//! engine (`restore::Engine`), with the summary an operator reads.

use crate::config::RestoreConfig;
use crate::index::{self, Index, Lane};
use crate::ops::server;
use crate::restore::engine::OnMissing;
use crate::restore::progress::{Progress, RestoreMetrics};
use crate::restore::selection::{SelectionError, parse_time, read_uuid_file};
use crate::restore::sink::{JsonlSink, KafkaSink, KafkaSinkLimits, Sink, TargetTopic};
use crate::restore::walk::{IndexWalk, StoreWalk, StoreWalkReport, UuidWalk, Walk};
use crate::restore::{Engine, EngineLimits, JobFile, JobState, Rename, RestoreError, Selection, Summary};
use crate::store::{self, ObjectStore};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Index rows per page of a walk (and so per `sent_mark` step).
const PAGE_ROWS: u32 = 500;
/// How long acknowledged messages wait at most before a checkpoint.
const CHECKPOINT_INTERVAL_MS: u64 = 200;
/// After SIGTERM/SIGINT, how long in-flight messages may take.
const DRAIN_TIMEOUT_MS: u64 = 10_000;

/// What to restore, where to, and how: flags of one job, never in the file.
#[derive(Debug, Clone, clap::Args)]
pub struct JobArgs {
    /// Topics to restore: names or `*` globs, repeated or comma-separated [default: every topic].
    #[arg(long = "topic", short = 't', value_name = "PATTERN", value_delimiter = ',', help_heading = "Selection")]
    pub topics: Vec<String>,
    /// Start of the window (inclusive): ms since the epoch or RFC 3339.
    #[arg(long, value_name = "TIME", help_heading = "Selection")]
    pub start: Option<String>,
    /// End of the window (exclusive): ms since the epoch or RFC 3339.
    #[arg(long, value_name = "TIME", help_heading = "Selection")]
    pub end: Option<String>,
    /// Only the messages whose UUIDs this file lists (one per line, `#` comments).
    #[arg(long, value_name = "FILE", help_heading = "Selection")]
    pub uuids: Option<PathBuf>,
    /// Restore retracted messages too.
    #[arg(long, help_heading = "Selection")]
    pub include_retracted: bool,
    /// Leave out direct uploads.
    #[arg(long, help_heading = "Selection")]
    pub exclude_uploads: bool,
    /// Select from the object store alone (the index lost or untrusted); retraction is then unknown.
    #[arg(long, help_heading = "Selection")]
    pub from_store: bool,
    /// Destination: `kafka` (the [kafka] settings), `file:PATH` (JSON Lines) or `-` (JSON Lines on stdout).
    #[arg(long, value_name = "TARGET", default_value = "kafka", help_heading = "Target")]
    pub to: String,
    /// Rename a topic: SOURCE=TARGET (repeatable).
    #[arg(long, value_name = "SOURCE=TARGET", help_heading = "Target")]
    pub rename: Vec<String>,
    /// Prefix for target topics the renames do not name.
    #[arg(long, value_name = "PREFIX", default_value = "", help_heading = "Target")]
    pub topic_prefix: String,
    /// Allow writing into a topic that is also a source topic.
    #[arg(long, help_heading = "Target")]
    pub allow_same_topic: bool,
    /// Create missing target topics (with the source's partition count).
    #[arg(long, help_heading = "Target")]
    pub create_topics: bool,
    /// Add the archive UUID to each message as an extra header of this name (off: nothing is added).
    #[arg(long, value_name = "NAME", help_heading = "Target")]
    pub stamp_header: Option<String>,
    /// Messages per second at most.
    #[arg(long, value_name = "N", help_heading = "Target")]
    pub rate_max: Option<f64>,
    /// Show what would be sent (messages and bytes per topic) and send nothing.
    #[arg(long, help_heading = "Job")]
    pub dry_run: bool,
    /// Name of a resumable job: progress is checkpointed, and the same command resumes it.
    #[arg(long, value_name = "NAME", help_heading = "Job")]
    pub job: Option<String>,
    /// A missing or unreadable object: stop (naming it), or skip it (recorded and counted).
    #[arg(long, value_enum, default_value = "stop", help_heading = "Job")]
    pub on_missing: OnMissing,
    /// Print the summary (or the dry run) as JSON on stdout.
    #[arg(long, help_heading = "Job")]
    pub json: bool,
}

/// Where the messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Kafka,
    File(PathBuf),
    Stdout,
}

impl JobArgs {
    pub fn target(&self) -> Result<Target, RestoreError> {
        match self.to.as_str() {
            "kafka" => Ok(Target::Kafka),
            "-" => Ok(Target::Stdout),
            other => match other.strip_prefix("file:") {
                Some(path) if !path.is_empty() => Ok(Target::File(PathBuf::from(path))),
                _ => Err(RestoreError::Flag {
                    flag: "--to".into(),
                    reason: format!("{other:?}: expected kafka, file:PATH or -"),
                }),
            },
        }
    }

    /// Refuses flags that contradict each other or cannot be honoured.
    fn check(&self, target: &Target) -> Result<(), RestoreError> {
        let refuse = |flag: &str, reason: &str| Err(RestoreError::Flag { flag: flag.into(), reason: reason.into() });
        if self.rate_max.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
            return refuse("--rate-max", "must be a positive number of messages per second");
        }
        if self.stamp_header.as_deref().is_some_and(|name| name.trim().is_empty()) {
            return refuse("--stamp-header", "needs a header name");
        }
        if self.json && *target == Target::Stdout && !self.dry_run {
            return refuse("--json", "cannot share stdout with --to -; the summary goes to stderr");
        }
        Ok(())
    }

    /// Whether the job needs the Kafka settings.
    pub fn needs_kafka(&self) -> bool {
        !self.dry_run && self.to == "kafka"
    }

    fn selection(&self) -> Result<Selection, RestoreError> {
        let time = |t: &Option<String>| t.as_deref().map(parse_time).transpose();
        let selection = Selection {
            topics: self.topics.iter().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect(),
            start_ms: time(&self.start)?,
            end_ms: time(&self.end)?,
            uuids: self.uuids.as_deref().map(read_uuid_file).transpose()?,
            include_retracted: self.include_retracted,
            include_uploads: !self.exclude_uploads,
        };
        selection.check()?;
        Ok(selection)
    }
}

/// What a dry run reports: per target topic, messages and object bytes.
pub type DryRun = BTreeMap<String, (u64, u64)>;

/// How a restore ended, for the command to print.
#[derive(Debug)]
pub enum Outcome {
    Restored(Summary),
    DryRun(DryRun),
}

/// The walk, its source topics, and what the selection holds per lane
/// (`None`: unknown before walking, from the store).
struct Planned {
    walk: Box<dyn Walk>,
    sources: BTreeSet<String>,
    lanes: Option<Vec<Lane>>,
    /// What a store walk saw, once it ended.
    store_report: Option<Arc<StoreWalkReport>>,
}

/// Runs the job `args` describes with `config`'s backends and target.
pub async fn restore(
    config: &RestoreConfig,
    args: &JobArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Outcome, RestoreError> {
    let target = args.target()?;
    args.check(&target)?;
    let selection = args.selection()?;
    let rename = Arc::new(Rename::new(&args.rename, &args.topic_prefix)?);
    let store = store::open(&config.backends.store_url).await?;
    let index = if args.from_store { None } else { Some(index::open(&config.backends.index_url).await?) };
    let job = args.job.as_deref().map(|name| JobFile::new(&config.state_dir, name)).transpose()?;
    let state = job_state(job.as_ref(), &selection, args, index.as_deref()).await?;
    let resume = state.done.clone();
    let planned = plan(index, Arc::clone(&store), &selection, state.id_max, resume.as_ref(), args, config).await?;
    let store_report = planned.store_report.clone();
    // Only Kafka needs Kafka topic names (an archived `X+oversized` is not
    // one), and only Kafka can mix copies into the original stream; a file
    // holds them apart.
    if target == Target::Kafka {
        rename.check(&planned.sources, args.allow_same_topic)?;
    }
    if args.dry_run {
        let report = dry_run(planned, &rename).await?;
        check_store_walk(store_report.as_deref(), &selection, args, resume.is_some())?;
        return Ok(Outcome::DryRun(report));
    }
    let mut sink = open_sink(&target, config, args, state.sink_position)?;
    sink.prepare(&target_topics(&planned, &rename)).await?;
    let metrics = Arc::new(RestoreMetrics::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    if let Some(addr) = config.metrics_addr {
        let mut rx = stop_rx.clone();
        let stopped = async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        server::serve_metrics(addr, metrics.clone(), stopped).await.map_err(|e| RestoreError::Flag {
            flag: format!("--metrics-addr {addr}"),
            reason: format!("cannot listen: {e}"),
        })?;
    }
    let total = planned.lanes.as_ref().map(|lanes| lanes.iter().map(|l| l.rows).sum::<u64>());
    let resumed_at = state.topics.values().map(|c| c.messages + c.skipped).sum::<u64>();
    let progress = Progress::new(
        total.map(|t| t.saturating_sub(resumed_at)),
        Duration::from_millis(config.progress_interval_ms),
        metrics,
        target == Target::Stdout && !std::io::IsTerminal::is_terminal(&std::io::stdout()),
    );
    let engine = Engine {
        store,
        sink: &*sink,
        rename,
        limits: EngineLimits {
            in_flight_messages_max: config.limits.in_flight_messages_max,
            in_flight_bytes_max: config.limits.in_flight_bytes_max,
            fetch_concurrency: config.limits.fetch_concurrency,
            rate_max: args.rate_max,
            checkpoint_interval_ms: CHECKPOINT_INTERVAL_MS,
            drain_timeout_ms: DRAIN_TIMEOUT_MS,
        },
        on_missing: args.on_missing,
        job,
        progress: &progress,
    };
    // The moment sending starts (after the plan, the sink's topics and
    // /metrics): `make bench` times a restore from this line.
    tracing::info!(messages = total, resumed_at, topics = planned.sources.len(), "restoring");
    let result = engine.run(planned.walk, state, shutdown).await;
    progress.finish();
    let _ = stop_tx.send(true);
    let summary = result?;
    check_store_walk(store_report.as_deref(), &selection, args, resume.is_some())?;
    Ok(Outcome::Restored(summary))
}

/// The saved state of job `job`, or a new one; refuses a job file made by
/// another command. A new job freezes its selection at the index's largest
/// row id.
async fn job_state(
    job: Option<&JobFile>,
    selection: &Selection,
    args: &JobArgs,
    index: Option<&dyn Index>,
) -> Result<JobState, RestoreError> {
    let description = format!(
        "{} from={} to={} rename={:?} prefix={:?} stamp={:?}",
        selection.describe(),
        if args.from_store { "store" } else { "index" },
        args.to,
        args.rename,
        args.topic_prefix,
        args.stamp_header
    );
    match job.map(JobState::load).transpose()?.flatten() {
        Some(state) if state.selection != description => Err(RestoreError::Job {
            path: job.map(|j| j.path().display().to_string()).unwrap_or_default(),
            reason: format!(
                "this job was started with another selection or target ({}); use another --job name",
                state.selection
            ),
        }),
        Some(state) => Ok(state),
        None => {
            let id_max = match index {
                Some(index) => index.id_max().await?,
                None => None,
            };
            Ok(JobState::new(description, id_max))
        }
    }
}

/// After a walk of the store: keys that are not archive objects are
/// reported, and so are UUIDs of the file no listed object had (an error
/// unless `--on-missing skip`, as from the index). A resumed job did not
/// list what its earlier runs did, so it cannot tell.
fn check_store_walk(
    report: Option<&StoreWalkReport>,
    selection: &Selection,
    args: &JobArgs,
    resumed: bool,
) -> Result<(), RestoreError> {
    let Some(report) = report else { return Ok(()) };
    let ignored = report.ignored_keys.load(std::sync::atomic::Ordering::Relaxed);
    if ignored > 0 {
        tracing::warn!(keys = ignored, "keys in the store that are not archive objects were left out");
    }
    let unseen = match &selection.uuids {
        Some(wanted) if !resumed => report.unseen(wanted),
        _ => Vec::new(),
    };
    let Some(first) = unseen.first() else { return Ok(()) };
    let error = SelectionError::UnknownUuids { count: unseen.len(), first: *first };
    if args.on_missing == OnMissing::Stop {
        return Err(error.into());
    }
    tracing::warn!(%error, "the rest was restored");
    Ok(())
}

/// The walk for the selection: from the UUID file, the index or the store.
async fn plan(
    index: Option<Arc<dyn Index>>,
    store: Arc<dyn ObjectStore>,
    selection: &Selection,
    id_max: Option<i64>,
    resume: Option<&crate::restore::Position>,
    args: &JobArgs,
    config: &RestoreConfig,
) -> Result<Planned, RestoreError> {
    let Some(index) = index else {
        let (mut walk, topics) =
            StoreWalk::new(store, selection.clone(), resume.cloned(), config.limits.fetch_concurrency).await?;
        // The store has no count to ask: read the first page now, so that a
        // new job selecting nothing is refused before its output is opened,
        // as from the index.
        let store_report = Some(walk.report());
        let first = walk.next_page().await?;
        if first.is_none() && resume.is_none() {
            return Err(SelectionError::Empty.into());
        }
        let walk = Box::new(Primed { first, rest: Box::new(walk) });
        return Ok(Planned { walk, sources: topics.into_iter().collect(), lanes: None, store_report });
    };
    let archived = index.topic_stats().await?;
    let sources = selection.resolve_topics(archived.iter().map(|t| t.topic.as_str()))?;
    let filter = selection.row_filter(&sources, id_max);
    let (walk, lanes): (Box<dyn Walk>, Vec<Lane>) = match &selection.uuids {
        Some(uuids) => {
            let found = UuidWalk::build(Arc::clone(&index), uuids, &filter, resume, PAGE_ROWS as usize).await?;
            if let Some(first) = found.unknown.first() {
                let error = SelectionError::UnknownUuids { count: found.unknown.len(), first: *first };
                if args.on_missing == OnMissing::Stop {
                    return Err(error.into());
                }
                tracing::warn!(%error, "going on without them");
            }
            (Box::new(found.walk), found.lanes)
        }
        None => {
            let lanes = index.lanes(&filter).await?;
            (Box::new(IndexWalk::new(Arc::clone(&index), filter, lanes.clone(), resume, PAGE_ROWS)), lanes)
        }
    };
    if lanes.is_empty() {
        return Err(SelectionError::Empty.into());
    }
    let sources = lanes.iter().map(|l| l.topic.clone()).collect();
    Ok(Planned { walk, sources, lanes: Some(lanes), store_report: None })
}

/// A walk whose first page was read ahead.
struct Primed {
    first: Option<Vec<crate::restore::Item>>,
    rest: Box<dyn Walk>,
}

#[async_trait::async_trait]
impl Walk for Primed {
    async fn next_page(&mut self) -> Result<Option<Vec<crate::restore::Item>>, RestoreError> {
        match self.first.take() {
            Some(page) => Ok(Some(page)),
            None => self.rest.next_page().await,
        }
    }
}

/// Messages and object bytes per target topic, from the index's lanes, or
/// by walking the store (which reads every object, sending nothing).
async fn dry_run(planned: Planned, rename: &Rename) -> Result<DryRun, RestoreError> {
    let mut report = DryRun::new();
    if let Some(lanes) = planned.lanes {
        for lane in lanes {
            let entry = report.entry(rename.target(&lane.topic)).or_default();
            entry.0 += lane.rows;
            entry.1 += lane.size_bytes;
        }
        return Ok(report);
    }
    let mut walk = planned.walk;
    while let Some(page) = walk.next_page().await? {
        for item in page {
            let entry = report.entry(rename.target(&item.topic)).or_default();
            entry.0 += 1;
            entry.1 += item.size_bytes;
        }
    }
    if report.is_empty() {
        return Err(SelectionError::Empty.into());
    }
    Ok(report)
}

/// The sink for `target`; a file export of a resumed job continues at
/// `resume_at`, the length its checkpoint recorded.
fn open_sink(
    target: &Target,
    config: &RestoreConfig,
    args: &JobArgs,
    resume_at: Option<u64>,
) -> Result<Box<dyn Sink>, RestoreError> {
    Ok(match target {
        Target::Kafka => {
            let kafka = config.kafka.as_ref().ok_or_else(|| RestoreError::Flag {
                flag: "--to kafka".into(),
                reason: "no Kafka settings were resolved".into(),
            })?;
            let limits = KafkaSinkLimits {
                in_flight_messages_max: config.limits.in_flight_messages_max,
                in_flight_bytes_max: config.limits.in_flight_bytes_max,
                delivery_timeout_ms: config.limits.delivery_timeout_ms,
                create_topics: args.create_topics,
                stamp_header: args.stamp_header.clone(),
            };
            Box::new(KafkaSink::new(&kafka.connection, limits)?)
        }
        Target::File(path) => {
            let path = path.to_string_lossy();
            Box::new(match resume_at {
                Some(at) => JsonlSink::resume(&path, at)?,
                None => JsonlSink::create(&path)?,
            })
        }
        Target::Stdout => Box::new(JsonlSink::create("-")?),
    })
}

/// Each target topic, with the partitions it needs to keep every message
/// in its original partition.
fn target_topics(planned: &Planned, rename: &Rename) -> Vec<TargetTopic> {
    let mut needed: BTreeMap<String, Option<i32>> =
        planned.sources.iter().map(|source| (rename.target(source), None)).collect();
    for lane in planned.lanes.iter().flatten() {
        if let (Some(partition), Some(entry)) = (lane.partition, needed.get_mut(&rename.target(&lane.topic))) {
            *entry = Some(entry.unwrap_or(0).max(partition.saturating_add(1)));
        }
    }
    needed.into_iter().map(|(name, partitions_needed)| TargetTopic { name, partitions_needed }).collect()
}

/// The summary as an operator reads it: one line per target topic, then totals.
pub fn render_summary(summary: &Summary) -> String {
    let mut out = String::new();
    if summary.already_finished {
        out.push_str("this job had already finished: nothing was sent\n");
    }
    out.push_str(&format!(
        "{:<40} {:>10} {:>14} {:>8} {:>8} {:>8}\n",
        "topic", "messages", "bytes", "no-ts", "skipped", "re-sent"
    ));
    let total = summary.total();
    for (topic, c) in summary.topics.iter().chain([(&"total".to_string(), &total)]) {
        out.push_str(&format!(
            "{topic:<40} {:>10} {:>14} {:>8} {:>8} {:>8}\n",
            c.messages, c.bytes, c.without_timestamp, c.skipped, c.resent
        ));
    }
    for (uuid, key, why) in &summary.skipped {
        out.push_str(&format!("skipped {uuid} ({key}): {why}\n"));
    }
    out
}

/// The summary as JSON, for scripts.
pub fn summary_json(summary: &Summary) -> serde_json::Value {
    let counts = |c: &crate::restore::checkpoint::Counts| {
        serde_json::json!({
            "messages": c.messages, "bytes": c.bytes, "without_timestamp": c.without_timestamp,
            "skipped": c.skipped, "resent": c.resent,
        })
    };
    serde_json::json!({
        "already_finished": summary.already_finished,
        "topics": summary.topics.iter().map(|(t, c)| (t.clone(), counts(c))).collect::<serde_json::Map<_, _>>(),
        "total": counts(&summary.total()),
        "skipped": summary.skipped.iter().map(|(u, k, w)| serde_json::json!({"uuid": u, "key": k, "reason": w})).collect::<Vec<_>>(),
    })
}

/// The dry run as text or JSON.
pub fn render_dry_run(report: &DryRun, json: bool) -> String {
    if json {
        let topics: serde_json::Map<_, _> =
            report.iter().map(|(t, (m, b))| (t.clone(), serde_json::json!({"messages": m, "bytes": b}))).collect();
        return format!("{}\n", serde_json::json!({ "dry_run": true, "topics": topics }));
    }
    let mut out = format!("dry run: nothing is sent\n{:<40} {:>10} {:>14}\n", "topic", "messages", "bytes");
    for (topic, (messages, bytes)) in report {
        out.push_str(&format!("{topic:<40} {messages:>10} {bytes:>14}\n"));
    }
    out
}
