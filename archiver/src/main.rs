//! The `archiver` command line.

use anyhow::anyhow;
use archiver::config::{self, HealthArgs, RestoreArgs, RunArgs, ServeArgs, ToolArgs};
use archiver::ops::audit::{AuditArgs, Mode, RepairArgs};
use archiver::ops::inspect::Found;
use archiver::ops::reindex::ReindexArgs;
use archiver::ops::reindex_text::{self, ReindexTextArgs};
use archiver::ops::restore::{JobArgs, Outcome};
use archiver::ops::status::StatusArgs;
use archiver::ops::{audit, inspect, reindex, stdout};
use archiver::record::Record;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Many small, short-lived buffers on many threads (Kafka, S3, tasks): glibc
/// malloc spent about a fifth of the archiver's CPU on them (perf).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "archiver", version = archiver::VERSION, about = "The archive of record for Hopskotch")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Consume Kafka and archive every message exactly once.
    #[command(after_help = archiver::config::SOURCES_HELP)]
    Run {
        #[command(flatten)]
        args: RunArgs,
    },
    /// Print the effective configuration of `archiver run`, secrets masked.
    #[command(after_help = archiver::config::SOURCES_HELP)]
    Config {
        #[command(flatten)]
        args: RunArgs,
    },
    /// Serve the archive over HTTP (upstream archive-api compatible) until SIGTERM/SIGINT.
    #[command(after_help = archiver::config::SOURCES_HELP)]
    Serve {
        #[command(flatten)]
        args: ServeArgs,
    },
    /// Replay archived messages into Kafka byte for byte, or export them as JSON Lines.
    #[command(after_help = archiver::config::SOURCES_HELP)]
    Restore {
        #[command(flatten)]
        job: JobArgs,
        #[command(flatten)]
        args: RestoreArgs,
    },
    /// Rebuild or fill in the index from the object store alone (also a bucket written by upstream).
    #[command(after_help = archiver::config::SOURCES_HELP)]
    Reindex {
        #[command(flatten)]
        reindex: ReindexArgs,
        #[command(flatten)]
        args: ToolArgs,
    },
    /// Index the text of archived messages that have none yet (or, with --partial, a partial one).
    #[command(after_help = archiver::config::SOURCES_HELP)]
    ReindexText {
        #[command(flatten)]
        reindex: ReindexTextArgs,
        #[command(flatten)]
        args: ToolArgs,
    },
    /// Check that the index, the store (and a replica) agree: every row's object, no orphans.
    ///
    /// Exit status: 0 the archive is whole, 1 something was found (the report lists it), 2 bad input
    /// or an unusable backend, 3 stopped at --max-objects with nothing found so far.
    #[command(after_help = archiver::config::SOURCES_HELP)]
    Audit {
        #[command(flatten)]
        audit: AuditArgs,
        #[command(flatten)]
        args: ToolArgs,
    },
    /// Heal what an audit finds, only what is safe: a dry run unless --apply.
    ///
    /// Missing rows are inserted, missing objects restored from --replica when it holds the row's
    /// bytes, orphans deleted only with --delete-orphans; everything else is reported. Exit status:
    /// 0 nothing left unrepaired, 1 findings left (a dry run: any finding), 2 bad input or an
    /// unusable backend, 3 stopped at --max-objects with nothing left so far.
    #[command(after_help = archiver::config::SOURCES_HELP)]
    Repair {
        #[command(flatten)]
        audit: AuditArgs,
        #[command(flatten)]
        repair: RepairArgs,
        #[command(flatten)]
        args: ToolArgs,
    },
    /// Per topic: messages, bytes, earliest/latest, conflicts, retracted — all time, last 24 h, last hour.
    #[command(after_help = archiver::config::SOURCES_HELP)]
    Status {
        #[command(flatten)]
        status: StatusArgs,
        #[command(flatten)]
        args: ToolArgs,
    },
    /// Whether the `archiver run` or `archiver serve` of this host or container is healthy.
    #[command(after_help = HEALTH_HELP)]
    Health {
        #[command(flatten)]
        args: HealthArgs,
    },
    /// Make a new bearer token for `archiver serve` and print its credentials-file entry.
    Token {
        /// The credential's name (shown in logs; the `_sender` of its uploads).
        name: String,
    },
    /// Decode an archive object (.bson file, or an archived message by UUID) and show it.
    #[command(after_help = INSPECT_HELP)]
    Inspect {
        /// The object file, or the UUID of an archived message (looked up through --index and --store).
        target: String,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
        /// Re-encode and exit 0 only if the bytes are identical.
        #[arg(long)]
        check: bool,
        #[command(flatten)]
        args: ToolArgs,
    },
}

const INSPECT_HELP: &str = "\
A TARGET that is a UUID and not an existing file is looked up: its index row (every column) \
and its object are shown. Exit status: 0 shown, 1 the object re-encodes differently (--check), \
2 bad input or an unusable backend, 3 not in the index or its object missing from the store.";

const HEALTH_HELP: &str = "\
With a liveness file configured (ARCHIVER_LIVENESS_FILE, as `archiver run` is given it), checks \
that the file is fresh; otherwise asks the API's /health_check at ARCHIVER_LISTEN_ADDR (on loopback \
when it listens on every address). Settings come from flags, ARCHIVER_* and the TOML file, as for \
`run` and `serve`. Exit status: 0 healthy, 1 not (also for unusable settings), as container health \
checks expect; one line on stdout says why.";

/// Exit status of `archiver health` for anything but healthy (2 is reserved
/// by container engines).
const EXIT_UNHEALTHY: u8 = 1;

/// Exit status when the object re-encodes to different bytes.
const EXIT_DIFFERS: u8 = 1;
/// Exit status for unreadable or malformed input.
const EXIT_BAD_INPUT: u8 = 2;
/// Exit status of `inspect UUID` when the message or its object is not there.
const EXIT_NOT_FOUND: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect { target, json, check, args } => match inspected_uuid(&target) {
            Some(uuid) => run_inspect_uuid(&args, uuid, json, check),
            None => run_inspect(&PathBuf::from(target), json, check),
        },
        Command::Reindex { reindex, args } => run_reindex(&args, &reindex),
        Command::ReindexText { reindex, args } => run_reindex_text(&args, &reindex),
        Command::Audit { audit, args } => run_audit(&args, &audit, Mode::Audit),
        Command::Repair { audit, repair, args } => {
            run_audit(&args, &audit, Mode::Repair { apply: repair.apply, delete_orphans: repair.delete_orphans })
        }
        Command::Run { args } => run_archiver(&args),
        Command::Serve { args } => run_serve(&args),
        Command::Restore { job, args } => run_restore(&args, &job),
        Command::Status { status, args } => run_status(&args, &status),
        Command::Health { args } => run_health(&args),
        Command::Token { name } => new_token(&name),
        Command::Config { args } => print_config(&args),
    };
    match result {
        Ok(code) => code,
        // The reader of stdout went away (`archiver inspect --json X | head -1`): a normal end.
        Err(err) if stdout::is_broken_pipe(&*err) => ExitCode::SUCCESS,
        // Every error's Display already ends with its causes (ours embed
        // their source, and so do sqlx's and librdkafka's), so the chain is
        // not printed again: `{:#}` repeated each cause once per layer.
        Err(err) => {
            eprintln!("archiver: {err}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn print_config(args: &RunArgs) -> anyhow::Result<ExitCode> {
    stdout::print(&config::load(args)?.render_masked())?;
    Ok(ExitCode::SUCCESS)
}

fn run_inspect(file: &PathBuf, json: bool, check: bool) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).map_err(|e| anyhow!("cannot read {}: {e}", file.display()))?;
    let record =
        Record::decode(&bytes).map_err(|e| anyhow!("{} is not a readable archive object: {e}", file.display()))?;
    if check {
        let outcome = inspect::round_trip(&bytes, &record)?;
        stdout::print(&format!("{outcome}\n"))?;
        return Ok(if outcome.is_identical() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_DIFFERS) });
    }
    if json {
        stdout::print(&format!("{}\n", serde_json::to_string_pretty(&inspect::render_json(&bytes, &record))?))?;
    } else {
        stdout::print(&inspect::render_text(&bytes, &record))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The UUID `target` names, unless it is (also) an existing file.
fn inspected_uuid(target: &str) -> Option<uuid::Uuid> {
    uuid::Uuid::parse_str(target).ok().filter(|_| !std::path::Path::new(target).exists())
}

fn run_inspect_uuid(args: &ToolArgs, uuid: uuid::Uuid, json: bool, check: bool) -> anyhow::Result<ExitCode> {
    let config = config::load_tool(args, false)?;
    archiver::telemetry::logging::init(config.log_format, "warn");
    let found = new_runtime()?.block_on(inspect::look_up(&config, uuid))?;
    let (entry, object) = match found {
        Found::NotIndexed => {
            let index = archiver::telemetry::redact::mask_password(&config.backends.index_url);
            eprintln!("archiver: {uuid} is not in the index {index}");
            return Ok(ExitCode::from(EXIT_NOT_FOUND));
        }
        Found::Row { entry, object } => (entry, object),
    };
    let record = object.as_deref().map(Record::decode);
    let mut problems = Vec::new();
    let mut code = ExitCode::SUCCESS;
    if object.is_none() {
        let store = archiver::telemetry::redact::mask_password(&config.backends.store_url);
        problems.push(format!("object {} is missing from the store {store}", entry.row.key));
        code = ExitCode::from(EXIT_NOT_FOUND);
    }
    if let Some(Err(e)) = &record {
        problems.push(format!("object {} is not a readable archive object: {e}", entry.row.key));
        code = ExitCode::from(EXIT_BAD_INPUT);
    }
    if let Some(differs) = object.as_deref().and_then(|bytes| inspect::disagreement(&entry, bytes)) {
        problems.push(differs);
    }
    let decoded = object.as_deref().zip(record.and_then(Result::ok));
    let round_trip = match (&decoded, check) {
        (Some((bytes, record)), true) => Some(inspect::round_trip(bytes, record)?),
        _ => None,
    };
    if round_trip.as_ref().is_some_and(|r| !r.is_identical()) && code == ExitCode::SUCCESS {
        code = ExitCode::from(EXIT_DIFFERS);
    }
    if json {
        let document = serde_json::json!({
            "row": inspect::row_json(&entry),
            "object": decoded.as_ref().map(|(bytes, record)| inspect::render_json(bytes, record)),
            "problems": problems,
            "round_trip": round_trip.as_ref().map(ToString::to_string),
        });
        stdout::print(&format!("{}\n", serde_json::to_string_pretty(&document)?))?;
    } else {
        let mut text = inspect::render_row_text(&entry);
        if let Some((bytes, record)) = &decoded {
            text.push_str(&inspect::render_text(bytes, record));
        }
        if let Some(round_trip) = &round_trip {
            text.push_str(&format!("{round_trip}\n"));
        }
        stdout::print(&text)?;
    }
    for problem in &problems {
        eprintln!("archiver: {problem}");
    }
    Ok(code)
}

fn run_reindex(args: &ToolArgs, reindex_args: &ReindexArgs) -> anyhow::Result<ExitCode> {
    let config = config::load_tool(args, false)?;
    archiver::telemetry::logging::init(config.log_format, "info");
    let runtime = new_runtime()?;
    let report = runtime.block_on(reindex::reindex(&config, reindex_args, archiver::ops::run::signal()));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    let report = report?;
    if reindex_args.json {
        stdout::print(&format!("{}\n", reindex::render_json(&report)))?;
    } else {
        stdout::print(&reindex::render_text(&report))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn run_reindex_text(args: &ToolArgs, reindex_args: &ReindexTextArgs) -> anyhow::Result<ExitCode> {
    let config = config::load_tool(args, false)?;
    archiver::telemetry::logging::init(config.log_format, "info");
    let runtime = new_runtime()?;
    let report = runtime.block_on(reindex_text::reindex_text(&config, reindex_args, archiver::ops::run::signal()));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    let report = report?;
    match reindex_args.json {
        true => stdout::print(&format!("{}\n", reindex_text::render_json(&report)))?,
        false => stdout::print(&reindex_text::render_text(&report))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Exit status of `audit`/`repair` when something is left to fix.
const EXIT_FOUND: u8 = 1;
/// Exit status of `audit`/`repair` stopped at `--max-objects` before finding anything.
const EXIT_UNFINISHED: u8 = 3;

fn run_audit(args: &ToolArgs, audit_args: &AuditArgs, mode: Mode) -> anyhow::Result<ExitCode> {
    let config = config::load_tool(args, false)?;
    archiver::telemetry::logging::init(config.log_format, "info");
    let runtime = new_runtime()?;
    let report = runtime.block_on(audit::audit(&config, audit_args, mode, archiver::ops::run::signal()));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    let report = report?;
    if audit_args.json {
        stdout::print(&format!("{}\n", serde_json::to_string_pretty(&audit::render_json(&report))?))?;
    } else {
        stdout::print(&audit::render_text(&report))?;
    }
    let left = match mode {
        Mode::Repair { apply: true, .. } => report.state.unrepaired(),
        _ => report.state.findings_total(),
    };
    Ok(match (left, report.state.finished) {
        (0, true) => ExitCode::SUCCESS,
        (0, false) => ExitCode::from(EXIT_UNFINISHED),
        _ => ExitCode::from(EXIT_FOUND),
    })
}

fn run_archiver(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let config = config::load(args)?;
    // Before any Kafka client exists: librdkafka takes its log level from it.
    archiver::telemetry::logging::init(config.observability.log_format, "info");
    let runtime = new_runtime()?;
    let ran = runtime.block_on(archiver::ops::run::run(&config, archiver::ops::run::signal()));
    // A final commit that timed out may still be waiting on a blocking
    // thread for a broker that went away; the process does not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    let (summary, metrics) = ran?;
    tracing::info!(
        taken = summary.taken,
        archived = summary.archived,
        duplicates = summary.duplicates,
        conflicts = summary.conflicts,
        healed = summary.healed,
        skipped_test = summary.skipped_test,
        "stopped"
    );
    for (topic, t) in metrics.topic_totals() {
        tracing::info!(%topic, archived = t.archived, duplicates = t.duplicates, conflicts = t.conflicts, bytes = t.size_bytes, "topic totals");
    }
    Ok(ExitCode::SUCCESS)
}

fn run_serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let config = config::load_serve(args)?;
    if args.print_config {
        stdout::print(&config.render_masked())?;
        return Ok(ExitCode::SUCCESS);
    }
    archiver::telemetry::logging::init(config.log_format, "info");
    let runtime = new_runtime()?;
    runtime.block_on(archiver::api::serve(&config, archiver::ops::run::signal()))?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

fn run_restore(args: &RestoreArgs, job: &JobArgs) -> anyhow::Result<ExitCode> {
    let config = config::load_restore(args, job.needs_kafka())?;
    archiver::telemetry::logging::init(config.log_format, "info");
    let runtime = new_runtime()?;
    let outcome = runtime.block_on(archiver::ops::restore::restore(&config, job, archiver::ops::run::signal()));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match outcome? {
        Outcome::DryRun(report) => stdout::print(&archiver::ops::restore::render_dry_run(&report, job.json))?,
        Outcome::Restored(summary) if job.json => {
            stdout::print(&format!("{}\n", archiver::ops::restore::summary_json(&summary)))?;
        }
        Outcome::Restored(summary) => eprint!("{}", archiver::ops::restore::render_summary(&summary)),
    }
    Ok(ExitCode::SUCCESS)
}

fn run_status(args: &ToolArgs, status: &StatusArgs) -> anyhow::Result<ExitCode> {
    let config = config::load_tool(args, status.lag)?;
    archiver::telemetry::logging::init(config.log_format, "warn");
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let now_ms = i64::try_from(now_ms).map_err(|_| anyhow!("the clock is beyond the year 292 million"))?;
    let runtime = new_runtime()?;
    let report = runtime.block_on(archiver::ops::status::status(&config, status, now_ms));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    let report = report?;
    match status.json {
        true => stdout::print(&archiver::ops::status::render_json(&report))?,
        false => stdout::print(&archiver::ops::status::render_text(&report))?,
    }
    Ok(ExitCode::SUCCESS)
}

fn run_health(args: &HealthArgs) -> anyhow::Result<ExitCode> {
    let verdict = config::load_health(args).map_err(|e| e.to_string()).and_then(|check| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        runtime.block_on(archiver::ops::health::check(&check))
    });
    match verdict {
        Ok(seen) => {
            stdout::print(&format!("healthy: {seen}\n"))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(wrong) => {
            stdout::print(&format!("unhealthy: {wrong}\n"))?;
            Ok(ExitCode::from(EXIT_UNHEALTHY))
        }
    }
}

/// Prints the token once (it is not stored anywhere) and the entry to add.
fn new_token(name: &str) -> anyhow::Result<ExitCode> {
    let (token, sha256) = archiver::api::new_token()?;
    eprintln!("token (give it to {name:?}; it is shown only now): {token}");
    let entry =
        format!("[[token]]\nname = {}\nsha256 = \"{sha256}\"\nread = []\nwrite = []\nowner = []\n", toml_string(name));
    stdout::print(&entry)?;
    Ok(ExitCode::SUCCESS)
}

fn new_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().map_err(|e| anyhow!("cannot start the async runtime: {e}"))
}

fn toml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}
