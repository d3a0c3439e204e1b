//! Random exploration: proptest draws fault schedules over short streams
//! (the `duplicates` and `default` profiles) and checks the invariants (not
//! snapshots). Failing cases are shrunk and
//! kept in `proptest-regressions/`, which is committed and replayed first.

use super::spec::{Invariant, PipelineSpec, Scenario, StreamSpec};
use super::{failure, run_checked};
use hop_archiver_tests::schedule::{Fault, FaultSchedule, StoreFailure, StoreOp};
use proptest::prelude::*;

/// The pseudo-scenario name of explored runs.
pub const NAME: &str = "explore";

/// Deliveries per explored stream: short, so each case takes milliseconds.
const COUNT: u64 = 40;

fn store_failure() -> impl Strategy<Value = StoreFailure> {
    prop_oneof![
        Just(StoreFailure::Http500),
        Just(StoreFailure::Http503),
        Just(StoreFailure::SlowDown),
        Just(StoreFailure::Timeout),
        Just(StoreFailure::TimeoutAfterWrite),
    ]
}

fn window() -> impl Strategy<Value = (u64, u64)> {
    (1..=COUNT * 2, 0..6u64).prop_map(|(from, len)| (from, from + len))
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        (window(), store_failure(), prop_oneof![Just(StoreOp::Put), Just(StoreOp::Any)])
            .prop_map(|((from, to), error, op)| Fault::StoreError { from, to, error, op }),
        window().prop_map(|(from, to)| Fault::IndexOutage { from, to }),
        window().prop_map(|(from, to)| Fault::IndexLostAck { from: from / 4 + 1, to: to / 4 + 1 }),
        (1..=COUNT).prop_map(|at| Fault::CrashAfterObjectWrite { at }),
        (1..=8u64).prop_map(|at| Fault::CrashAfterIndexBatch { at }),
        (1..=8u64).prop_map(|at| Fault::CrashAfterCommit { at }),
        (1..=COUNT).prop_map(|at| Fault::CrashAfterDelivery { at }),
        ((1..=COUNT), proptest::collection::vec(0..4usize, 1..3))
            .prop_map(|(after_delivery, partitions)| Fault::Rebalance { after_delivery, partitions, to: 1 }),
    ]
}

fn scenario(seed: u64, profile: &str, in_flight_max: usize) -> Scenario {
    Scenario {
        name: NAME.into(),
        purpose: "random fault schedules".into(),
        seed,
        stream: StreamSpec { profile: profile.into(), count: COUNT as usize, partitions: 2, topics: vec![] },
        backends: vec![super::spec::Backend::Memory],
        pipeline: PipelineSpec { in_flight_max, batch_rows_max: 4 },
        faults: vec![],
        random_crashes: 0,
        invariants: Invariant::all(),
    }
}

/// Cases per run: few enough for CI (about a second); `PROPTEST_CASES`
/// explores deeper.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn random_fault_schedules_keep_every_invariant(
        seed in 0..1_000u64,
        profile in prop_oneof![Just("duplicates"), Just("default")],
        in_flight_max in 1..6usize,
        faults in proptest::collection::vec(fault(), 0..6),
    ) {
        let scenario = scenario(seed, profile, in_flight_max);
        let schedule = FaultSchedule(faults);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a runtime");
        let checked = runtime.block_on(run_checked(&scenario, seed, schedule));
        prop_assert!(checked.violations.is_empty(), "{}", failure(&scenario, seed, &checked, &checked.violations));
    }
}

/// Found by the exploration above: a partition given twice to the same
/// consumer, which had already drained it, left its offsets uncommitted —
/// the consumer's commits belonged to the earlier generation and were
/// refused, and nobody resumed the partition. The runner now lets a
/// consumer go on while it owns uncommitted partitions, as a group member
/// would.
#[tokio::test(start_paused = true)]
async fn regression_a_partition_reassigned_to_its_owner_is_committed() {
    let scenario = scenario(23, "duplicates", 2);
    let schedule = FaultSchedule(vec![
        Fault::Rebalance { after_delivery: 1, partitions: vec![0], to: 1 },
        Fault::Rebalance { after_delivery: 5, partitions: vec![0], to: 1 },
    ]);
    let checked = run_checked(&scenario, 23, schedule).await;
    assert!(checked.violations.is_empty(), "{}", failure(&scenario, 23, &checked, &checked.violations));
    let refused = checked.outcome.world.fired_events().iter().filter(|f| f.contains("commit refused")).count();
    assert!(refused > 0, "the case must still exercise a refused commit");
}
