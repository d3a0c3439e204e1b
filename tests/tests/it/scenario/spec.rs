//! Scenario files: `scenarios/<name>.toml`, parsed strictly (an unknown key
//! is an error that names it).

use hop_archiver_tests::schedule::{Fault, FaultSchedule};
use serde::Deserialize;
use std::path::PathBuf;

/// One scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    /// What the scenario is for, in a sentence or two.
    pub purpose: String,
    pub seed: u64,
    pub stream: StreamSpec,
    /// Where the scenario runs: always `memory` (the reference, and the
    /// snapshot), plus `fs+sqlite` and `real` if listed; every other
    /// backend must leave the same archive as memory.
    #[serde(default = "memory_only")]
    pub backends: Vec<Backend>,
    #[serde(default)]
    pub pipeline: PipelineSpec,
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Crashes at points drawn from the seed, added to `faults`.
    #[serde(default)]
    pub random_crashes: u32,
    /// Invariants to check; all of them when absent.
    #[serde(default = "Invariant::all")]
    pub invariants: Vec<Invariant>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    /// A mockhop profile (`mockhop profiles`).
    pub profile: String,
    pub count: usize,
    pub partitions: u32,
    /// Only these topics are consumed (all when absent).
    #[serde(default)]
    pub topics: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    #[serde(default = "in_flight_max")]
    pub in_flight_max: usize,
    #[serde(default = "batch_rows_max")]
    pub batch_rows_max: usize,
}

impl Default for PipelineSpec {
    fn default() -> Self {
        PipelineSpec { in_flight_max: in_flight_max(), batch_rows_max: batch_rows_max() }
    }
}

fn in_flight_max() -> usize {
    8
}

fn batch_rows_max() -> usize {
    16
}

fn memory_only() -> Vec<Backend> {
    vec![Backend::Memory]
}

/// A set of backends a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum Backend {
    /// `MemoryStore` + `MemoryIndex` + the memory log, on a paused clock.
    #[serde(rename = "memory")]
    Memory,
    /// `FsStore` + a SQLite file index in a temporary directory, with the
    /// memory log and the same paused clock.
    #[serde(rename = "fs+sqlite")]
    FsSqlite,
    /// tansu + s3s-fs + PostgreSQL (`scenario::real`).
    #[serde(rename = "real")]
    Real,
}

impl Backend {
    /// As written in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::FsSqlite => "fs+sqlite",
            Backend::Real => "real",
        }
    }
}

/// What is checked after a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Invariant {
    /// Every distinct message archived exactly once (`mockhop::verify`).
    ExactlyOnce,
    /// Objects match their rows and re-encode to the same bytes.
    ByteExact,
    /// Every object is referenced by a row.
    NoOrphanObjects,
    /// Every row's object exists.
    NoRowWithoutObject,
    /// No commit covered a message that was not durable (checked at each commit).
    CommitsAfterDurability,
    /// Every partition is committed to its end once the run is over.
    AllCommitted,
    /// Conflicts are stored under the derived UUID with the claimed UUID recorded.
    ConflictsRecorded,
}

impl Invariant {
    pub fn all() -> Vec<Invariant> {
        vec![
            Invariant::ExactlyOnce,
            Invariant::ByteExact,
            Invariant::NoOrphanObjects,
            Invariant::NoRowWithoutObject,
            Invariant::CommitsAfterDurability,
            Invariant::AllCommitted,
            Invariant::ConflictsRecorded,
        ]
    }
}

/// The folder holding the scenario files.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// Reads and checks `scenarios/<name>.toml`.
pub fn load(name: &str) -> Result<Scenario, String> {
    let path = dir().join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("scenarios/{name}.toml: {e}"))?;
    let scenario = parse(&text).map_err(|e| format!("scenarios/{name}.toml: {e}"))?;
    if scenario.name != name {
        return Err(format!("scenarios/{name}.toml: `name` is {:?}, expected {name:?}", scenario.name));
    }
    Ok(scenario)
}

/// Parses scenario text and checks what serde cannot.
pub fn parse(text: &str) -> Result<Scenario, String> {
    let scenario: Scenario = toml::from_str(text).map_err(|e| e.to_string())?;
    if !scenario.backends.contains(&Backend::Memory) {
        return Err("backends must include \"memory\": it is the reference the others are compared with".into());
    }
    let mut unique = scenario.backends.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != scenario.backends.len() {
        return Err(format!("backends lists one twice: {:?}", scenario.backends));
    }
    let rebalances = scenario.faults.iter().any(|f| matches!(f, Fault::Rebalance { .. }));
    if rebalances && scenario.backends.contains(&Backend::Real) {
        return Err("backend \"real\" cannot run rebalance faults (a real group assigns partitions itself)".into());
    }
    if scenario.stream.partitions == 0 || scenario.stream.count == 0 {
        return Err("stream.partitions and stream.count must be at least 1".into());
    }
    if scenario.pipeline.in_flight_max == 0 || scenario.pipeline.batch_rows_max == 0 {
        return Err("pipeline.in_flight_max and pipeline.batch_rows_max must be at least 1".into());
    }
    Ok(scenario)
}

impl Scenario {
    /// The explicit schedule for `seed`: the file's faults plus
    /// `random_crashes` drawn from the seed.
    pub fn schedule(&self, seed: u64) -> FaultSchedule {
        let mut faults = self.faults.clone();
        let mut rng = SplitMix64(seed ^ 0x5eed_c7a5_4e55);
        let count = self.stream.count as u64;
        let batches = (count / self.pipeline.batch_rows_max as u64).max(1);
        for _ in 0..self.random_crashes {
            faults.push(match rng.below(4) {
                0 => Fault::CrashAfterObjectWrite { at: 1 + rng.below(count) },
                1 => Fault::CrashAfterIndexBatch { at: 1 + rng.below(batches * 2) },
                2 => Fault::CrashAfterCommit { at: 1 + rng.below(batches * 2) },
                _ => Fault::CrashAfterDelivery { at: 1 + rng.below(count) },
            });
        }
        FaultSchedule(faults)
    }
}

/// A tiny seeded generator for drawing fault points (splitmix64).
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `0..n` (`n` ≥ 1).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[test]
fn unknown_keys_are_errors_that_name_the_key() {
    let text = "name = \"x\"\npurpose = \"p\"\nseed = 1\nsede = 2\n\
                [stream]\nprofile = \"default\"\ncount = 1\npartitions = 1\n";
    let err = parse(text).expect_err("unknown key");
    assert!(err.contains("sede"), "{err}");
    let nested = "name = \"x\"\npurpose = \"p\"\nseed = 1\n\
                  [stream]\nprofile = \"default\"\ncount = 1\npartitions = 1\npartition = 3\n";
    assert!(parse(nested).expect_err("unknown nested key").contains("partition"));
    let fault = "name = \"x\"\npurpose = \"p\"\nseed = 1\n\
                 [stream]\nprofile = \"default\"\ncount = 1\npartitions = 1\n\
                 [[faults]]\nkind = \"crash-after-object-write\"\nat = 1\nafter = 2\n";
    assert!(parse(fault).expect_err("unknown fault key").contains("after"));
    let backend = "name = \"x\"\npurpose = \"p\"\nseed = 1\nbackends = [\"memory\", \"s3\"]\n\
                   [stream]\nprofile = \"default\"\ncount = 1\npartitions = 1\n";
    assert!(parse(backend).expect_err("unknown backend").contains("s3"));
}

#[test]
fn backends_include_memory_once_and_real_has_no_rebalance() {
    let with = |backends: &str, faults: &str| {
        format!(
            "name = \"x\"\npurpose = \"p\"\nseed = 1\nbackends = {backends}\n\
             [stream]\nprofile = \"default\"\ncount = 1\npartitions = 1\n{faults}"
        )
    };
    let all = parse(&with(r#"["memory", "fs+sqlite", "real"]"#, "")).expect("all three");
    assert_eq!(all.backends, [Backend::Memory, Backend::FsSqlite, Backend::Real]);
    assert!(parse(&with(r#"["fs+sqlite"]"#, "")).expect_err("no memory").contains("memory"));
    assert!(parse(&with(r#"["memory", "memory"]"#, "")).expect_err("twice").contains("twice"));
    let rebalance = "[[faults]]\nkind = \"rebalance\"\nafter_delivery = 1\npartitions = [0]\nto = 1\n";
    assert!(parse(&with(r#"["memory", "real"]"#, rebalance)).expect_err("real rebalance").contains("rebalance"));
    assert!(parse(&with(r#"["memory", "fs+sqlite"]"#, rebalance)).is_ok());
}

#[test]
fn random_crashes_are_drawn_from_the_seed() {
    let text = "name = \"x\"\npurpose = \"p\"\nseed = 1\nrandom_crashes = 6\n\
                [stream]\nprofile = \"default\"\ncount = 100\npartitions = 1\n";
    let scenario = parse(text).expect("parses");
    assert_eq!(scenario.schedule(1), scenario.schedule(1));
    assert_ne!(scenario.schedule(1), scenario.schedule(2));
    assert_eq!(scenario.schedule(1).0.len(), 6);
}
