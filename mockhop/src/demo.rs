//! `mockhop demo`: the whole archiver, end to end, on nothing but this
//! machine — librdkafka's in-process mock Kafka cluster, a seeded mockhop
//! stream, and `archiver run`'s own code writing to the embedded defaults
//! (a directory of objects and a SQLite index), then `archiver restore`'s
//! own code replaying the archive into renamed topics of the same cluster.

use anyhow::{Context as _, bail};
use archiver::config::{
    BackendsArgs, KafkaArgs, MetricsAddr, ObservabilityArgs, RestoreArgs, RestoreLimitsArgs, RunArgs, StopArgs,
    load_from, load_restore_from,
};
use archiver::ops::restore::{JobArgs, Outcome, render_summary};
use archiver::source::KafkaConnection;
use archiver::telemetry::metrics::TopicTotals;
use clap::Parser as _;
use mockhop::expect::{ArchiveRules, expect};
use mockhop::{StreamOptions, generate, produce, verify};
use rdkafka::mocking::MockCluster;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Marks a directory as the demo's own, so it can be emptied safely.
const MARKER: &str = ".mockhop-demo";
const PARTITIONS: i32 = 3;

/// Runs the demo into `dir` and prints what happened and where to look.
pub fn run(dir: &Path, seed: u64, count: usize) -> anyhow::Result<()> {
    let dir = prepare_dir(dir)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(demo(&dir, seed, count))
}

async fn demo(dir: &Path, seed: u64, count: usize) -> anyhow::Result<()> {
    let options = StreamOptions { seed, count, profile: "default".into(), topic_prefix: String::new() };
    let mut deliveries = generate::generate(&options)?;
    // librdkafka's mock broker keeps only about 5 MB per partition and
    // silently drops older messages; near-1 MB messages would overflow it.
    deliveries.retain(|d| !d.labels.contains(&generate::labels::PAYLOAD_NEAR_LIMIT));
    let cluster = MockCluster::new(1).context("cannot start the in-process Kafka cluster")?;
    let topics: BTreeSet<&str> = deliveries.iter().map(|d| d.message.topic.as_str()).collect();
    for topic in &topics {
        cluster.create_topic(topic, PARTITIONS, 1).with_context(|| format!("cannot create topic {topic}"))?;
    }
    let brokers = cluster.bootstrap_servers();
    step(&format!(
        "producing {} messages (mockhop seed {seed}; near-1 MB ones left out) to {} topics on {brokers}",
        deliveries.len(),
        topics.len()
    ));
    produce::produce(&KafkaConnection::plaintext(&brokers), &deliveries, PARTITIONS, |_| {}).await?;

    step("archiving with `archiver run --until-eos` (the first consumer-group join takes a few seconds)");
    let args = RunArgs {
        kafka: KafkaArgs {
            kafka_brokers: Some(brokers),
            kafka_group_id: Some("demo".into()),
            kafka_session_timeout_ms: Some(6000),
            ..KafkaArgs::default()
        },
        backends: BackendsArgs {
            index_url: Some(format!("sqlite://{}", dir.join("index.db").display())),
            store_url: Some(format!("file://{}", dir.join("objects").display())),
        },
        observability: ObservabilityArgs { metrics_addr: Some(MetricsAddr(None)), ..ObservabilityArgs::default() },
        stop: StopArgs { until_eos: Some(true), ..StopArgs::default() },
        ..RunArgs::default()
    };
    let config = load_from(&args, &BTreeMap::new())?;
    let (summary, metrics) = archiver::ops::run::run(&config, archiver::ops::run::signal()).await?;
    print_totals(&metrics.topic_totals());
    println!(
        "\n{} deliveries read: {} archived ({} conflicts stored under derived UUIDs), {} duplicates, {} _test skipped",
        summary.taken, summary.archived, summary.conflicts, summary.duplicates, summary.skipped_test
    );

    step("checking the archive against the stream (`mockhop verify`)");
    let expected = expect(&produce::as_produced(&deliveries), &ArchiveRules::defaults(""))?
        .in_partitions(PARTITIONS.unsigned_abs());
    let index = archiver::index::open(&config.backends.index_url).await?;
    let store = archiver::store::open(&config.backends.store_url).await?;
    let report = verify::verify(&expected, index.as_ref(), store.as_ref()).await?;
    for d in &report.discrepancies {
        println!("  {d}");
    }
    if !report.discrepancies.is_empty() {
        bail!("the archive differs from the stream in {} places", report.discrepancies.len());
    }
    println!("  every one of the {} distinct messages is archived exactly once, byte for byte", report.checked);
    for topic in &topics {
        let replay = format!("replay.{topic}");
        cluster.create_topic(&replay, PARTITIONS, 1).with_context(|| format!("cannot create topic {replay}"))?;
    }
    restore(dir, &args).await?;
    let first = archiver::index::ListQuery::every_row(vec![], 1);
    let sample = index.list(&first).await?.entries.into_iter().next().map(|e| dir.join("objects").join(e.row.key));
    where_to_look(dir, sample.as_deref());
    Ok(())
}

/// The restore's flags, parsed as the command line parses them.
#[derive(clap::Parser)]
struct RestoreFlags {
    #[command(flatten)]
    job: JobArgs,
}

/// `archiver restore --topic-prefix replay.` into the same cluster (whose
/// mock broker does not implement topic creation through the admin API, so
/// the demo made the topics), with the archive and brokers `archived` used.
async fn restore(dir: &Path, archived: &RunArgs) -> anyhow::Result<()> {
    step("replaying the archive into Kafka as replay.<topic> (`archiver restore --topic-prefix replay.`)");
    let flags = RestoreFlags::try_parse_from(["restore", "--topic-prefix", "replay."])?;
    let args = RestoreArgs {
        kafka: archived.kafka.clone(),
        backends: archived.backends.clone(),
        limits: RestoreLimitsArgs { state_dir: Some(dir.join("restore-jobs")), ..RestoreLimitsArgs::default() },
        ..RestoreArgs::default()
    };
    let config = load_restore_from(&args, true, &BTreeMap::new())?;
    match archiver::ops::restore::restore(&config, &flags.job, std::future::pending()).await? {
        Outcome::Restored(summary) => print!("{}", render_summary(&summary)),
        Outcome::DryRun(_) => bail!("the demo's restore is not a dry run"),
    }
    println!("  every archived message went back into Kafka with its payload, key, headers and timestamp");
    Ok(())
}

fn step(text: &str) {
    println!("\n==> {text}");
}

/// Creates `dir`, or empties it if an earlier demo made it; refuses any
/// other non-empty directory.
fn prepare_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    if dir.exists() {
        let ours = dir.join(MARKER).exists();
        let empty = std::fs::read_dir(dir)?.next().is_none();
        if !ours && !empty {
            bail!("{} exists and was not made by mockhop demo; choose another --dir", dir.display());
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot empty {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(dir.join(MARKER), "made by `mockhop demo`; emptied by the next demo\n")?;
    Ok(std::fs::canonicalize(dir)?)
}

fn print_totals(totals: &BTreeMap<String, TopicTotals>) {
    println!("\n{:<20} {:>9} {:>11} {:>10} {:>12}", "topic", "messages", "duplicates", "conflicts", "bytes");
    for (topic, t) in totals {
        println!("{topic:<20} {:>9} {:>11} {:>10} {:>12}", t.archived, t.duplicates, t.conflicts, t.size_bytes);
    }
}

fn where_to_look(dir: &Path, sample: Option<&Path>) {
    let d = dir.display();
    println!("\n==> the archive is in {d}");
    println!("  objects:  {d}/objects/<topic>/<YYYY>/<MM>/<DD>/<uuid>.bson");
    println!("  index:    {d}/index.db (SQLite, table `messages`)");
    if let Some(sample) = sample {
        println!("\n  look at one object:  cargo run -q -p hop-archiver -- inspect {}", sample.display());
    }
    println!(
        "  query the index:     sqlite3 {d}/index.db 'SELECT topic, count(*), sum(size) FROM messages GROUP BY topic'"
    );
    println!(
        "  conflicts:           sqlite3 {d}/index.db 'SELECT uuid, claimed_uuid, topic FROM messages WHERE claimed_uuid IS NOT NULL'"
    );
    println!(
        "  export a slice:      cargo run -q -p hop-archiver -- restore --index-url sqlite://{d}/index.db \\\n                         --store-url file://{d}/objects -t 'gcn.*' --to file:{d}/gcn.jsonl"
    );
    println!(
        "  browse it:           cargo run -q -p hop-archiver -- serve --index sqlite://{d}/index.db \\\n                         --store file://{d}/objects --public-topics '*'   # then open http://127.0.0.1:8000/"
    );
}
