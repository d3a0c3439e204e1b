//! The `mockhop` command line.

mod ceiling;
mod demo;

use anyhow::{Context as _, bail};
use archiver::config::{ClientLogin, CredentialNames};
use archiver::record::kafka_bytes;
use archiver::source::{KafkaConnection, SecurityProtocol};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use mockhop::expect::{self, ArchiveRules, Expectation};
use mockhop::generate::{self, PROFILES};
use mockhop::run_tag::RunTag;
use mockhop::{Delivery, StreamOptions, cleanup, produce, stream_file, verify};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(name = "mockhop", version = archiver::VERSION, about = "A seeded, deterministic simulator of Hopskotch traffic")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the stream to stdout or a file.
    Generate {
        #[command(flatten)]
        stream: StreamArgs,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: StreamFormat,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Publish the stream to a Kafka broker.
    Produce {
        #[command(flatten)]
        stream: StreamArgs,
        #[command(flatten)]
        kafka: KafkaArgs,
        /// Partitions of each topic created.
        #[arg(long, default_value_t = 3)]
        partitions: i32,
        /// Send only the messages the stream's archive holds, each once, in
        /// stream order (what `archiver restore` of the whole archive sends):
        /// no redeliveries, no vetoed heartbeats, no `_test` messages.
        #[arg(long)]
        archived: bool,
        /// Prepended to every topic name when sending (the messages stay the
        /// stream's, named with --topic-prefix): fresh topics for a measurement.
        #[arg(long, default_value = "")]
        send_prefix: String,
        /// Print a last line `produced messages=.. bytes=.. seconds=..`: the
        /// time from the first send to the last acknowledgement (topic
        /// creation before it not counted), and the key, header and value
        /// bytes sent (as `archiver restore` counts them).
        #[arg(long)]
        timing: bool,
    },
    /// Print the archive the stream must produce.
    Expect {
        #[command(flatten)]
        stream: StreamArgs,
        #[command(flatten)]
        rules: RuleArgs,
    },
    /// Check a real archive against the stream; exit 1 on any discrepancy.
    Verify {
        #[command(flatten)]
        stream: StreamArgs,
        #[command(flatten)]
        rules: RuleArgs,
        #[command(flatten)]
        archive: ArchiveArgs,
    },
    /// Measure the object store's raw PUT rate for the archive of the stream
    /// (the `make bench` ceiling): the archiver's exact objects, no Kafka, no
    /// index; prints one `ceiling objects=.. bytes=.. seconds=..` line.
    PutCeiling {
        #[command(flatten)]
        stream: StreamArgs,
        /// A fresh store to write into: s3://bucket?endpoint=..., file:///dir
        #[arg(long)]
        store: String,
        /// PUT requests in flight at once (use the archiver's --in-flight-max).
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Create the s3:// bucket first if it does not exist.
        #[arg(long)]
        create_bucket: bool,
    },
    /// Measure the object store's raw GET rate for an archive (the `make
    /// bench` restore ceiling): every object `archiver restore` of the whole
    /// archive reads, listed from the index first, no decoding, no Kafka;
    /// prints one `ceiling objects=.. bytes=.. seconds=..` line.
    GetCeiling {
        /// The archive's index: postgres://... or sqlite://...
        #[arg(long)]
        index: String,
        /// The archive's object store: s3://bucket?endpoint=..., file:///dir
        #[arg(long)]
        store: String,
        /// GET requests in flight at once (use the restore's fetch_concurrency).
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// List the broker topics of a tagged run (`mockhop-TAG.…`), and with
    /// --apply delete them. Nothing else is touched: no other topic, and not
    /// the archive, which keeps the run's messages.
    Cleanup {
        /// The run whose topics go.
        #[arg(long)]
        run_tag: RunTag,
        #[command(flatten)]
        kafka: KafkaArgs,
        /// Delete the listed topics; without it, a dry run that only lists them.
        #[arg(long)]
        apply: bool,
    },
    /// List the built-in profiles.
    Profiles,
    /// Archive a stream end to end on an in-process Kafka into a local directory.
    Demo {
        #[arg(long, default_value = "demo-archive")]
        dir: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 400)]
        count: usize,
    },
}

#[derive(Args)]
struct StreamArgs {
    #[arg(long)]
    seed: u64,
    /// Deliveries, duplicates included.
    #[arg(long)]
    count: usize,
    #[arg(long, default_value = "default")]
    profile: String,
    /// Prepended to every topic name.
    #[arg(long, default_value = "")]
    topic_prefix: String,
    /// The run in a shared development area this stream belongs to (a-z,
    /// 0-9 and -, at most 32): its topics become `mockhop-TAG.<topic>`, its
    /// seed is salted with the tag, and `verify` answers for every row of
    /// the tag's topics. Use a new tag for every run.
    #[arg(long, conflicts_with = "topic_prefix")]
    run_tag: Option<RunTag>,
    /// The stream as `mockhop produce` sent it to Kafka (librdkafka cannot
    /// send timestamp 0; it goes out as 1 ms). Use for archives fed from Kafka.
    #[arg(long)]
    as_produced: bool,
}

impl StreamArgs {
    fn options(&self) -> StreamOptions {
        match &self.run_tag {
            Some(tag) => tag.stream(self.seed, self.count, &self.profile),
            None => StreamOptions {
                seed: self.seed,
                count: self.count,
                profile: self.profile.clone(),
                topic_prefix: self.topic_prefix.clone(),
            },
        }
    }

    fn deliveries(&self) -> anyhow::Result<Vec<Delivery>> {
        let deliveries = generate::generate(&self.options())?;
        Ok(if self.as_produced { produce::as_produced(&deliveries) } else { deliveries })
    }
}

/// How `produce` reaches Kafka. What is not given is found as `archiver
/// run` finds it: the password in KAFKA_PASSWORD (with a username) or hop's
/// auth.toml entry for the first broker, whose protocol, mechanism and CA
/// file apply too.
#[derive(Args)]
struct KafkaArgs {
    /// Bootstrap servers, host:port[,host:port...].
    #[arg(long, env = "KAFKA_BROKERS")]
    brokers: String,
    /// [default: sasl-ssl with a credential, else plaintext]
    #[arg(long, value_enum)]
    security_protocol: Option<SecurityProtocol>,
    /// [default: the auth.toml entry's, else SCRAM-SHA-512]
    #[arg(long)]
    sasl_mechanism: Option<String>,
    /// The password comes from KAFKA_PASSWORD or hop's auth.toml, never a flag.
    #[arg(long, env = "KAFKA_USERNAME")]
    username: Option<String>,
    /// CA certificate file for TLS [default: the auth.toml entry's].
    #[arg(long)]
    ca_location: Option<String>,
    /// hop's auth.toml [default: $XDG_CONFIG_HOME/hop/auth.toml, else ~/.config/hop/auth.toml].
    #[arg(long)]
    auth_file: Option<PathBuf>,
}

/// mockhop's names for the inputs of its Kafka credential.
const CREDENTIAL_NAMES: CredentialNames =
    CredentialNames { password_var: "KAFKA_PASSWORD", username: "--username or KAFKA_USERNAME" };

impl KafkaArgs {
    fn connection(&self) -> anyhow::Result<KafkaConnection> {
        let login = ClientLogin {
            brokers: self.brokers.clone(),
            security_protocol: self.security_protocol,
            sasl_mechanism: self.sasl_mechanism.clone(),
            username: self.username.clone(),
            ca_location: self.ca_location.clone(),
            auth_file: self.auth_file.clone(),
        };
        let vars = archiver::config::process_env();
        Ok(archiver::config::client_connection(&login, CREDENTIAL_NAMES, &vars)?.0)
    }
}

#[derive(Args)]
struct RuleArgs {
    /// Topics the archiver vetoes (exact names or `*` globs); default: the
    /// stream's `sys.heartbeat`.
    #[arg(long)]
    veto: Vec<String>,
    /// The archiver archives `_test` messages too.
    #[arg(long)]
    archive_test_messages: bool,
    /// Partitions of each topic the stream was produced into (as `produce
    /// --partitions`): within a partition the earlier claimant of a
    /// disputed `_id` must own it.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    partitions: u32,
}

impl RuleArgs {
    fn rules(&self, stream: &StreamArgs) -> ArchiveRules {
        let mut rules = ArchiveRules::defaults(&stream.options().topic_prefix);
        if !self.veto.is_empty() {
            rules.veto = self.veto.clone();
        }
        rules.archive_test_messages = self.archive_test_messages;
        rules
    }
}

/// Where `verify` reads the archive: its index and store, or its HTTP API.
#[derive(Args)]
struct ArchiveArgs {
    /// The archive's index: postgres://... or sqlite://...
    #[arg(long, required_unless_present = "api", requires = "store")]
    index: Option<String>,
    /// The archive's object store: s3://bucket?endpoint=..., file:///dir
    #[arg(long, required_unless_present = "api", requires = "index")]
    store: Option<String>,
    /// Read the archive through its HTTP API instead (`archiver serve`): http://host:port
    #[arg(long, conflicts_with_all = ["index", "store"])]
    api: Option<String>,
    /// Bearer token for --api, if the stream's topics are not public (the
    /// environment keeps it out of `ps`).
    #[arg(long, env = "MOCKHOP_API_TOKEN", hide_env_values = true)]
    api_token: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum StreamFormat {
    Jsonl,
    Bson,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        // The reader of stdout went away (`mockhop generate | head`): a normal end.
        Err(err) if archiver::ops::stdout::is_broken_pipe(&*err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mockhop: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Generate { stream, format, out } => generate_file(&stream, format, out)?,
        Command::Produce { stream, kafka, partitions, archived, send_prefix, timing } => {
            let kafka = kafka.connection()?;
            produce_stream(&stream, &kafka, partitions, &ProduceOptions { archived, send_prefix, timing })?;
        }
        Command::Expect { stream, rules } => print_expectation(&expectation(&stream, &rules)?)?,
        Command::Verify { stream, rules, archive } => return verify_archive(&stream, &rules, &archive),
        Command::Demo { dir, seed, count } => {
            archiver::telemetry::logging::init(archiver::telemetry::logging::LogFormat::Text, "warn");
            demo::run(&dir, seed, count)?;
        }
        Command::PutCeiling { stream, store, concurrency, create_bucket } => {
            put_ceiling(&stream, &store, concurrency, create_bucket)?;
        }
        Command::GetCeiling { index, store, concurrency } => get_ceiling(&index, &store, concurrency)?,
        Command::Cleanup { run_tag, kafka, apply } => clean_up(&run_tag, &kafka.connection()?, apply)?,
        Command::Profiles => {
            let mut out = std::io::stdout().lock();
            for p in PROFILES {
                writeln!(out, "{:<12} {}", p.name, p.summary)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn generate_file(stream: &StreamArgs, format: StreamFormat, out: Option<PathBuf>) -> anyhow::Result<()> {
    let deliveries = stream.deliveries()?;
    let mut sink: Box<dyn Write> = match &out {
        Some(path) => {
            Box::new(std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?)
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let mut sink = std::io::BufWriter::new(&mut sink);
    for delivery in &deliveries {
        match format {
            StreamFormat::Jsonl => writeln!(sink, "{}", stream_file::to_json(delivery))?,
            StreamFormat::Bson => sink.write_all(&stream_file::to_bson(delivery)?)?,
        }
    }
    sink.flush()?;
    Ok(())
}

/// What `produce` sends, beyond the stream, and what it reports.
struct ProduceOptions {
    archived: bool,
    send_prefix: String,
    timing: bool,
}

fn produce_stream(
    stream: &StreamArgs,
    kafka: &KafkaConnection,
    partitions: i32,
    options: &ProduceOptions,
) -> anyhow::Result<()> {
    if partitions < 1 {
        bail!("--partitions must be at least 1");
    }
    let mut deliveries = stream.deliveries()?;
    if options.archived {
        deliveries = ceiling::archived(deliveries, &stream.options().topic_prefix)?
            .into_iter()
            .map(|m| Delivery { seq: m.seq, partition_hint: m.partition_hint, message: m.message, labels: Vec::new() })
            .collect();
    }
    if !options.send_prefix.is_empty() {
        for d in &mut deliveries {
            d.message.topic.insert_str(0, &options.send_prefix);
        }
    }
    let progress = ProgressBar::new(deliveries.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} sent, {per_sec}, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let runtime = tokio::runtime::Runtime::new()?;
    let produced = runtime.block_on(async {
        if let Some(tag) = &stream.run_tag {
            refuse_a_used_tag(kafka, tag).await?;
        }
        produce::create_topics(kafka, &deliveries, partitions).await?;
        let started = Instant::now();
        let summary = produce::produce(kafka, &deliveries, partitions, |_| progress.inc(1)).await?;
        anyhow::Ok((summary, started.elapsed().as_secs_f64()))
    });
    // A metadata request cut short by a refused login may still wait on a
    // blocking thread until its timeout; the process does not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    let (summary, seconds) = produced?;
    progress.finish_and_clear();
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<40} {:>8} {:>14}", "topic", "sent", "payload bytes")?;
    for (topic, t) in &summary {
        writeln!(out, "{topic:<40} {:>8} {:>14}", t.sent, t.bytes)?;
    }
    let (sent, bytes) = summary.values().fold((0, 0), |(s, b), t| (s + t.sent, b + t.bytes));
    writeln!(out, "{:<40} {sent:>8} {bytes:>14}", "total")?;
    if options.timing {
        let wire: usize = deliveries
            .iter()
            .map(|d| kafka_bytes(&d.message.key, &d.message.headers, d.message.payload.as_deref()))
            .sum();
        let rate = seconds.max(f64::EPSILON);
        writeln!(
            out,
            "produced messages={sent} bytes={wire} seconds={seconds:.3} messages_per_s={:.1} mb_per_s={:.2}",
            sent as f64 / rate,
            wire as f64 / 1e6 / rate,
        )?;
    }
    Ok(())
}

/// A tag names one run: its topics on the broker mean the tag was used
/// (perhaps by someone else), and a second stream under it would show up as
/// stray rows when either run is verified.
async fn refuse_a_used_tag(kafka: &KafkaConnection, tag: &RunTag) -> anyhow::Result<()> {
    let used = cleanup::tagged_topics(kafka, tag).await?;
    if let Some(first) = used.names().first() {
        bail!(
            "run tag {tag} is already in use: the broker has {} of its topics ({first}…); \
             choose a new tag for every run",
            used.names().len()
        );
    }
    Ok(())
}

fn clean_up(tag: &RunTag, kafka: &KafkaConnection, apply: bool) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let topics = runtime.block_on(cleanup::tagged_topics(kafka, tag))?;
    let mut out = std::io::stdout().lock();
    if topics.is_empty() {
        writeln!(out, "no topic of run tag {tag} ({}…) on the broker: nothing to delete", tag.topic_prefix())?;
        return Ok(());
    }
    let n = topics.names().len();
    if !apply {
        for name in topics.names() {
            writeln!(out, "would delete {name}")?;
        }
        writeln!(out, "dry run: {n} topics of run tag {tag}; add --apply to delete them")?;
        return Ok(());
    }
    runtime.block_on(cleanup::delete(kafka, &topics))?;
    for name in topics.names() {
        writeln!(out, "deleted {name}")?;
    }
    writeln!(out, "deleted {n} topics of run tag {tag}; the archive keeps their messages")?;
    Ok(())
}

fn expectation(stream: &StreamArgs, rules: &RuleArgs) -> anyhow::Result<Expectation> {
    let deliveries = stream.deliveries()?;
    let expected = expect::expect(&deliveries, &rules.rules(stream))?.in_partitions(rules.partitions);
    Ok(match &stream.run_tag {
        Some(tag) => expected.of_run(tag.clone()),
        None => expected,
    })
}

fn print_expectation(expected: &Expectation) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(out, "# seq uuid kind object-key fingerprint")?;
    for m in &expected.messages {
        let kind = match (m.placement.is_client_uuid, m.placement.claimed_uuid) {
            (true, _) => "client".to_owned(),
            (false, None) => "derived".to_owned(),
            (false, Some(claimed)) => format!("conflict-with:{claimed}"),
        };
        let key = m.object_key.as_deref().unwrap_or("(day of ingest: no timestamp)");
        writeln!(out, "{} {} {kind} {key} {}", m.seq, m.placement.uuid, m.fingerprint)?;
    }
    writeln!(
        out,
        "# {} messages, {} duplicates, {} conflicts, {} _test skipped, {} vetoed",
        expected.messages.len(),
        expected.duplicates,
        expected.conflicts,
        expected.skipped_test,
        expected.vetoed
    )?;
    out.flush()?;
    Ok(())
}

fn put_ceiling(stream: &StreamArgs, store: &str, concurrency: usize, create_bucket: bool) -> anyhow::Result<()> {
    // The ceiling always writes the stream as Kafka carried it (as
    // `--as-produced`; applying that twice changes nothing).
    let deliveries = stream.deliveries()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let measured = runtime.block_on(ceiling::run(
        deliveries,
        &stream.options().topic_prefix,
        store,
        concurrency,
        create_bucket,
    ))?;
    archiver::ops::stdout::print(&format!("{}\n", measured.line()))?;
    Ok(())
}

fn get_ceiling(index: &str, store: &str, concurrency: usize) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let measured = runtime.block_on(ceiling::run_get(index, store, concurrency))?;
    archiver::ops::stdout::print(&format!("{}\n", measured.line()))?;
    Ok(())
}

fn verify_archive(stream: &StreamArgs, rules: &RuleArgs, archive: &ArchiveArgs) -> anyhow::Result<ExitCode> {
    let expected = expectation(stream, rules)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(async {
        match (&archive.api, &archive.index, &archive.store) {
            (Some(api), _, _) => {
                let client = verify::api::ApiClient::new(api, archive.api_token.clone())?;
                anyhow::Ok(verify::api::verify_api(&expected, &client).await?)
            }
            (None, Some(index), Some(store)) => {
                let index = archiver::index::open(index).await?;
                let store = archiver::store::open(store).await?;
                anyhow::Ok(verify::verify(&expected, index.as_ref(), store.as_ref()).await?)
            }
            _ => bail!("give --index and --store, or --api"),
        }
    })?;
    let mut out = std::io::stdout().lock();
    for d in &report.discrepancies {
        writeln!(out, "{d}")?;
    }
    let of_run = stream.run_tag.as_ref().map(|tag| format!(" of run tag {tag}")).unwrap_or_default();
    writeln!(
        out,
        "verified {} messages{of_run}: {} discrepancies ({} foreign rows ignored)",
        report.checked,
        report.discrepancies.len(),
        report.foreign_rows
    )?;
    Ok(if report.discrepancies.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
