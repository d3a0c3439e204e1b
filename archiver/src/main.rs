//! The `archiver` command line.

use anyhow::Context as _;
use archiver::config::{self, RunArgs};
use archiver::ops::inspect::{self, RoundTrip};
use archiver::record::Record;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "archiver", version, about = "The archive of record for Hopskotch")]
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
    /// Decode an archive object (.bson) and show it.
    Inspect {
        /// The object file.
        file: PathBuf,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
        /// Re-encode and exit 0 only if the bytes are identical.
        #[arg(long)]
        check: bool,
    },
}

/// Exit status when the object re-encodes to different bytes.
const EXIT_DIFFERS: u8 = 1;
/// Exit status for unreadable or malformed input.
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect { file, json, check } => run_inspect(&file, json, check),
        Command::Run { args } => run_archiver(&args),
        Command::Config { args } => config::load(&args).map_err(Into::into).map(|c| {
            print!("{}", c.render_masked());
            ExitCode::SUCCESS
        }),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("archiver: {err:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn run_inspect(file: &PathBuf, json: bool, check: bool) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let record =
        Record::decode(&bytes).with_context(|| format!("{} is not a readable archive object", file.display()))?;
    if check {
        return Ok(match inspect::round_trip(&bytes, &record)? {
            RoundTrip::Identical => {
                println!("round-trip: identical ({} bytes)", bytes.len());
                ExitCode::SUCCESS
            }
            RoundTrip::DiffersAt { offset, original_len, reencoded_len } => {
                println!(
                    "round-trip: differs at byte {offset} (original {original_len} bytes, re-encoded {reencoded_len} bytes)"
                );
                ExitCode::from(EXIT_DIFFERS)
            }
        });
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&inspect::render_json(&bytes, &record))?);
    } else {
        print!("{}", inspect::render_text(&bytes, &record));
    }
    Ok(ExitCode::SUCCESS)
}

fn run_archiver(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let config = config::load(args)?;
    // Before any Kafka client exists: librdkafka takes its log level from it.
    archiver::ops::logging::init(config.observability.log_format, "info");
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let (summary, metrics) = runtime.block_on(archiver::ops::run::run(&config, archiver::ops::run::signal()))?;
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
