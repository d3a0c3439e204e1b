//! The scenario suite: `scenarios/*.toml` replayed through the real
//! pipeline with injected faults (see `scenarios/README.md`).
//!
//! Each scenario test runs the scenario twice, checks the invariants on
//! both runs, requires the two archives to be identical byte for byte, and
//! compares the archive with its insta snapshot in `snapshots/`.
//! `SCENARIO_SEED` overrides the file's seed (`make scenario NAME=… SEED=…`);
//! the snapshot, which belongs to the file's seed, is then not compared.

mod drive;
mod dump;
mod explore;
mod invariants;
mod real;
mod spec;

use drive::{Outcome, run_scenario};
use hop_archiver_tests::schedule::FaultSchedule;
use serde_json::json;
use spec::Scenario;

/// Problems listed in a failure message; the first ones tell the story.
const PROBLEMS_SHOWN_MAX: usize = 30;

/// Where the snapshots live, relative to this file.
const SNAPSHOT_PATH: &str = "../../../../snapshots";

/// One finished run: its archive, full dump and invariant violations.
struct Checked {
    outcome: Outcome,
    archive: dump::Archive,
    violations: Vec<String>,
}

async fn run_checked(scenario: &Scenario, seed: u64, schedule: FaultSchedule) -> Checked {
    let outcome = run_scenario(scenario, seed, schedule).await;
    let archive = dump::read(outcome.index.as_ref(), outcome.store.as_ref()).await;
    let violations = invariants::check(&scenario.invariants, &outcome, &archive).await;
    Checked { outcome, archive, violations }
}

/// What a failing run prints: enough to reproduce it exactly.
fn failure(scenario: &Scenario, seed: u64, checked: &Checked, problems: &[String]) -> String {
    let reproduce = if scenario.name == explore::NAME {
        "cargo test -p hop-archiver-tests --test it -- scenario::explore (proptest replays the saved case first)"
            .to_owned()
    } else {
        format!("make scenario NAME={} SEED={seed}", scenario.name)
    };
    failure_with(scenario, seed, checked, problems, &reproduce)
}

/// [`failure`] with another way to reproduce it.
fn failure_with(scenario: &Scenario, seed: u64, checked: &Checked, problems: &[String], reproduce: &str) -> String {
    let o = &checked.outcome;
    let fired: Vec<String> = o.world.fired_events().iter().map(|f| format!("  - {f}")).collect();
    let history: Vec<String> = o.history.iter().map(|h| format!("  - {h}")).collect();
    let hidden = problems.len().saturating_sub(PROBLEMS_SHOWN_MAX);
    let mut problems: Vec<String> = problems.iter().take(PROBLEMS_SHOWN_MAX).map(|p| format!("  - {p}")).collect();
    if hidden > 0 {
        problems.push(format!("  … and {hidden} more"));
    }
    format!(
        "scenario {name} (scenarios/{name}.toml), seed {seed}\n\
         fault schedule:\n{schedule}\n\
         faults that fired:\n{fired}\n\
         process history:\n{history}\n\
         problems:\n{problems}\n\
         reproduce: {reproduce}",
        name = scenario.name,
        schedule = o.schedule,
        fired = fired.join("\n"),
        history = history.join("\n"),
        problems = problems.join("\n"),
    )
}

/// The seed to use: `SCENARIO_SEED` if set, else the file's.
fn seed_for(scenario: &Scenario) -> (u64, bool) {
    match std::env::var("SCENARIO_SEED") {
        Ok(text) if !text.trim().is_empty() => {
            let seed = text.trim().parse().unwrap_or_else(|e| panic!("SCENARIO_SEED={text:?}: {e}"));
            (seed, seed != scenario.seed)
        }
        _ => (scenario.seed, false),
    }
}

/// The whole test of one scenario file.
async fn scenario_test(name: &str) {
    let scenario = spec::load(name).unwrap_or_else(|e| panic!("{e}"));
    let (seed, overridden) = seed_for(&scenario);
    let schedule = scenario.schedule(seed);
    let first = run_checked(&scenario, seed, schedule.clone()).await;
    assert!(first.violations.is_empty(), "{}", failure(&scenario, seed, &first, &first.violations));
    let second = run_checked(&scenario, seed, schedule).await;
    assert!(second.violations.is_empty(), "{}", failure(&scenario, seed, &second, &second.violations));
    let (a, b) = (first.archive.full_dump(), second.archive.full_dump());
    if let Some(diff) = first_difference(&a, &b) {
        let problem = format!("two runs of the same seed differ (not deterministic); first difference:\n{diff}");
        panic!("{}", failure(&scenario, seed, &second, &[problem]));
    }
    if overridden {
        eprintln!("{name}: SCENARIO_SEED={seed} is not the file's seed; snapshot not compared");
        return;
    }
    assert_snapshot(&scenario, &first);
}

/// The first line where two dumps differ, both versions shown.
fn first_difference(a: &str, b: &str) -> Option<String> {
    let (mut la, mut lb) = (a.lines(), b.lines());
    for n in 1.. {
        match (la.next(), lb.next()) {
            (None, None) => return None,
            (x, y) if x == y => continue,
            (x, y) => {
                let cut = |l: Option<&str>| l.unwrap_or("(end)").chars().take(400).collect::<String>();
                return Some(format!("    line {n}, first run:  {}\n    line {n}, second run: {}", cut(x), cut(y)));
            }
        }
    }
    None
}

fn assert_snapshot(scenario: &Scenario, checked: &Checked) {
    let o = &checked.outcome;
    let (rows, objects) = checked.archive.view();
    let t = &o.totals;
    let snapshot = json!({
        "scenario": scenario.name,
        "seed": scenario.seed,
        "stream": {
            "profile": scenario.stream.profile,
            "count": scenario.stream.count,
            "partitions": scenario.stream.partitions,
        },
        "faults": o.schedule.0.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "fired": o.world.fired_events().iter().map(|f| checked.archive.redact(f)).collect::<Vec<_>>(),
        "history": o.history.iter().map(|h| checked.archive.redact(h)).collect::<Vec<_>>(),
        "totals": {
            "distinct_messages": o.expected.messages.len(),
            "rows": rows.len(),
            "objects": objects.len(),
            "conflicts": o.expected.conflicts,
            "finished_runs": { "taken": t.taken, "archived": t.archived, "duplicates": t.duplicates,
                "healed": t.healed, "skipped_test": t.skipped_test, "conflicts": t.conflicts },
        },
        "rows": rows,
        "objects": objects,
    });
    insta::with_settings!({
        snapshot_path => SNAPSHOT_PATH,
        prepend_module_to_snapshot => false,
        description => scenario.purpose.trim(),
        omit_expression => true,
    }, {
        insta::assert_yaml_snapshot!(scenario.name.as_str(), snapshot);
    });
}

/// One test per scenario file; [`every_scenario_file_has_a_test`] keeps
/// this list and the folder in step.
macro_rules! scenarios {
    ($($test:ident => $name:literal),* $(,)?) => {
        mod cases {
            $(
                #[tokio::test(start_paused = true)]
                async fn $test() {
                    super::scenario_test($name).await;
                }
            )*
        }

        const NAMES: &[&str] = &[$($name),*];
    };
}

scenarios! {
    clean_stream => "clean-stream",
    duplicates => "duplicates",
    old_clients => "old-clients",
    odd_headers => "odd-headers",
    crash_after_object_write => "crash-after-object-write",
    crash_before_commit => "crash-before-commit",
    s3_faults => "s3-faults",
    index_outage => "index-outage",
    rebalance => "rebalance",
    restart_storm => "restart-storm",
}

#[test]
fn every_scenario_file_has_a_test() {
    let mut files: Vec<String> = std::fs::read_dir(spec::dir())
        .expect("scenarios/ exists")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| name.strip_suffix(".toml").map(str::to_owned))
        .collect();
    files.sort();
    let mut names: Vec<String> = NAMES.iter().map(|n| (*n).to_owned()).collect();
    names.sort();
    assert_eq!(files, names, "scenarios/*.toml and the `scenarios!` list in scenario/mod.rs must match");
    for name in NAMES {
        let make_name = name.replace('-', "_");
        assert!(
            !make_name.is_empty() && spec::load(name).is_ok(),
            "scenarios/{name}.toml does not load: {:?}",
            spec::load(name).err()
        );
    }
}

/// A different seed gives a different stream, and a different archive.
#[tokio::test(start_paused = true)]
async fn another_seed_gives_another_archive() {
    let scenario = spec::load("clean-stream").unwrap_or_else(|e| panic!("{e}"));
    let a = drive::stream(&scenario, scenario.seed);
    let b = drive::stream(&scenario, scenario.seed + 1);
    assert_ne!(a, b, "seeds {} and {} give the same stream", scenario.seed, scenario.seed + 1);
    let short = Scenario { stream: spec::StreamSpec { count: 40, ..scenario.stream.clone() }, ..scenario.clone() };
    let first = run_checked(&short, short.seed, FaultSchedule::default()).await;
    let other = run_checked(&short, short.seed + 1, FaultSchedule::default()).await;
    assert!(first.violations.is_empty() && other.violations.is_empty());
    assert_ne!(first.archive.full_dump(), other.archive.full_dump());
}
