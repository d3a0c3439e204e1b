//! The scenario suite: `scenarios/*.toml` replayed through the real
//! pipeline with injected faults (see `scenarios/README.md`).
//!
//! Each scenario test runs the scenario twice, checks the invariants on
//! both runs, requires the two archives to be identical byte for byte, and
//! compares the archive with its insta snapshot in `snapshots/`.
//! `SCENARIO_SEED` overrides the file's seed (`make scenario NAME=… SEED=…`);
//! the snapshot, which belongs to the file's seed, is then not compared.
//!
//! A file's `backends` choose its tests: `scenario::cases::<name>` (memory,
//! always), `scenario::fs_sqlite::<name>` and `scenario::real::<name>`;
//! [`every_scenario_file_has_a_test`] keeps the lists and the files in step.

/// One `#[test]` per scenario name calling `$runner(name)`, and `NAMES`.
macro_rules! backend_tests {
    ($runner:path; $($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                $runner($name);
            }
        )*

        /// The scenarios this backend's tests run.
        pub const NAMES: &[&str] = &[$($name),*];
    };
}

mod compare;
mod disk;
mod drive;
mod dump;
mod explore;
mod invariants;
mod real;
mod s3_wiremock;
mod spec;

use drive::{Outcome, run_scenario, run_scenario_with};
use hop_archiver_tests::schedule::FaultSchedule;
use serde_json::{Value as Json, json};
use spec::{Backend, Scenario};

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
    checked(scenario, outcome).await
}

/// [`run_checked`] on fresh `fs+sqlite` backends.
async fn run_checked_on_disk(scenario: &Scenario, seed: u64, schedule: FaultSchedule) -> Checked {
    let (store, index) = disk::open();
    let outcome = run_scenario_with(scenario, seed, schedule, store, index).await;
    checked(scenario, outcome).await
}

async fn checked(scenario: &Scenario, outcome: Outcome) -> Checked {
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

/// `future` on a fresh paused, single-threaded runtime: simulated time.
fn paused<F: std::future::Future>(future: F) -> F::Output {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().expect("a runtime");
    runtime.block_on(future)
}

/// Loads `name`, which must list `backend`.
fn load_for(name: &str, backend: Backend) -> Scenario {
    let scenario = spec::load(name).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        scenario.backends.contains(&backend),
        "scenarios/{name}.toml does not list backend {:?}; its test list and the file disagree",
        backend.as_str()
    );
    scenario
}

/// Runs twice with `run`, checks both, and requires identical archives;
/// a failure names `reproduce`.
async fn twice<F, Fut>(scenario: &Scenario, seed: u64, reproduce: &str, run: F) -> Checked
where
    F: Fn(FaultSchedule) -> Fut,
    Fut: std::future::Future<Output = Checked>,
{
    let schedule = scenario.schedule(seed);
    let fail = |checked: &Checked, problems: &[String]| failure_with(scenario, seed, checked, problems, reproduce);
    let first = run(schedule.clone()).await;
    assert!(first.violations.is_empty(), "{}", fail(&first, &first.violations));
    let second = run(schedule).await;
    assert!(second.violations.is_empty(), "{}", fail(&second, &second.violations));
    let (a, b) = (first.archive.full_dump(), second.archive.full_dump());
    if let Some(diff) = first_difference(&a, &b) {
        let problem = format!("two runs of the same seed differ (not deterministic); first difference:\n{diff}");
        panic!("{}", fail(&second, &[problem]));
    }
    first
}

/// The memory test of one scenario file: two runs, then the snapshot.
fn scenario_test(name: &str) {
    let scenario = load_for(name, Backend::Memory);
    let (seed, overridden) = seed_for(&scenario);
    let reproduce = format!("make scenario NAME={name} SEED={seed}");
    let first = paused(twice(&scenario, seed, &reproduce, |schedule| run_checked(&scenario, seed, schedule)));
    if overridden {
        eprintln!("{name}: SCENARIO_SEED={seed} is not the file's seed; snapshot not compared");
        return;
    }
    assert_snapshot(&scenario, &first);
}

/// The `fs+sqlite` test: two runs on fresh directories, deterministic, and
/// the same snapshot as a memory run (ignoring [`compare::DATABASE_SERIAL_AND_STORE_NAME`]).
fn fs_sqlite_test(name: &str) {
    let scenario = load_for(name, Backend::FsSqlite);
    let (seed, _) = seed_for(&scenario);
    let reproduce = format!(
        "SCENARIO_SEED={seed} cargo nextest run -p hop-archiver-tests -E 'test(=scenario::fs_sqlite::{})'",
        name.replace('-', "_")
    );
    let disk = paused(twice(&scenario, seed, &reproduce, |schedule| run_checked_on_disk(&scenario, seed, schedule)));
    let memory = paused(run_checked(&scenario, seed, scenario.schedule(seed)));
    assert!(memory.violations.is_empty(), "{}", failure_with(&scenario, seed, &memory, &memory.violations, &reproduce));
    let (reference, other) = (snapshot_json(&scenario, &memory), snapshot_json(&scenario, &disk));
    if let Some(difference) =
        compare::snapshots(&reference, &other, compare::DATABASE_SERIAL_AND_STORE_NAME, "fs+sqlite")
    {
        let problem = format!("the fs+sqlite archive differs from memory's; first difference: {difference}");
        panic!("{}", failure_with(&scenario, seed, &disk, &[problem], &reproduce));
    }
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
    let snapshot = snapshot_json(scenario, checked);
    insta::with_settings!({
        snapshot_path => SNAPSHOT_PATH,
        prepend_module_to_snapshot => false,
        description => scenario.purpose.trim(),
        omit_expression => true,
    }, {
        insta::assert_yaml_snapshot!(scenario.name.as_str(), snapshot);
    });
}

/// What the snapshot holds: the run's schedule, history, totals and archive.
fn snapshot_json(scenario: &Scenario, checked: &Checked) -> Json {
    let o = &checked.outcome;
    let (rows, objects) = checked.archive.view();
    let t = &o.totals;
    json!({
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
    })
}

/// The memory test of every scenario file (each file runs on memory).
mod cases {
    backend_tests! {
        super::scenario_test;
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
}

/// The files whose `backends` list `fs+sqlite`.
mod fs_sqlite {
    backend_tests! {
        super::fs_sqlite_test;
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
}

#[test]
fn every_scenario_file_has_a_test() {
    let mut files: Vec<String> = std::fs::read_dir(spec::dir())
        .expect("scenarios/ exists")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| name.strip_suffix(".toml").map(str::to_owned))
        .collect();
    files.sort();
    let mut names: Vec<String> = cases::NAMES.iter().map(|n| (*n).to_owned()).collect();
    names.sort();
    assert_eq!(files, names, "scenarios/*.toml and the `cases` list in scenario/mod.rs must match");
    for name in cases::NAMES {
        let scenario = spec::load(name).unwrap_or_else(|e| panic!("scenarios/{name}.toml does not load: {e}"));
        for (backend, tests, list) in [
            (Backend::FsSqlite, fs_sqlite::NAMES, "`fs_sqlite` in scenario/mod.rs"),
            (Backend::Real, real::NAMES, "scenario/real.rs"),
        ] {
            assert_eq!(
                scenario.backends.contains(&backend),
                tests.contains(name),
                "scenarios/{name}.toml {} backend {:?}, but the test list in {list} {} it",
                if scenario.backends.contains(&backend) { "lists" } else { "does not list" },
                backend.as_str(),
                if tests.contains(name) { "has" } else { "lacks" },
            );
        }
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
