//! An audit's state — what a job saves (`--job`): where each phase stands,
//! the counts, the findings and repair actions kept — and the report an
//! operator reads (text, or `--json`).

use super::finding::{Action, ActionKind, Finding, FindingKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The format of an audit job file; a file of another version is refused.
pub const VERSION: u32 = 1;

/// Findings kept with their details (every finding is counted and logged).
pub const FINDINGS_KEPT_MAX: usize = 10_000;

/// Repair actions kept with their details (every action is counted and logged).
pub const ACTIONS_KEPT_MAX: usize = 10_000;

/// Where an audit stands: its phases run in this order, each resumable
/// after the last item it completed (every item before it is done).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Index → store: rows in `(timestamp, id)` order, after this row.
    Index {
        after: Option<(i64, i64)>,
    },
    /// Store → index (orphans): the primary's keys in key order.
    Store {
        after: Option<String>,
    },
    /// Primary ↔ replica: the keys of both in key order.
    Replica {
        after: Option<String>,
    },
    Done,
}

impl Phase {
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Index { .. } => "index → store",
            Phase::Store { .. } => "store → index",
            Phase::Replica { .. } => "primary ↔ replica",
            Phase::Done => "done",
        }
    }
}

/// What was looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Index rows selected (topics, window).
    pub rows: u64,
    /// Rows whose object was read and checked (all of them without `--sample`).
    pub rows_checked: u64,
    /// Rows left out by `--sample`.
    pub rows_not_sampled: u64,
    /// Bytes of objects read from the primary (and the replica).
    pub bytes_read: u64,
    /// Archive objects listed in the primary (topics, window).
    pub store_objects: u64,
    /// Objects without a row but younger than the grace period: not reported.
    pub young_orphans: u64,
    /// Keys in topic directories that are not archive objects: left alone.
    pub ignored_keys: u64,
    /// Keys of the primary and the replica compared (in either).
    pub replica_keys: u64,
    /// Keys whose bytes were read from both and compared.
    pub replica_compared: u64,
    /// Objects not yet in the replica but younger than the grace period.
    pub young_unreplicated: u64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        let pairs = [
            (&mut self.rows, o.rows),
            (&mut self.rows_checked, o.rows_checked),
            (&mut self.rows_not_sampled, o.rows_not_sampled),
            (&mut self.bytes_read, o.bytes_read),
            (&mut self.store_objects, o.store_objects),
            (&mut self.young_orphans, o.young_orphans),
            (&mut self.ignored_keys, o.ignored_keys),
            (&mut self.replica_keys, o.replica_keys),
            (&mut self.replica_compared, o.replica_compared),
            (&mut self.young_unreplicated, o.young_unreplicated),
        ];
        for (mine, theirs) in pairs {
            *mine += theirs;
        }
    }
}

/// A job's state, saved atomically after each stretch of work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditState {
    pub version: u32,
    /// Backends, selection and mode: a resumed job must be the same job.
    pub selection: String,
    /// Rows the selection held when the job started (the progress bar's
    /// length, and what `--sample` is a share of).
    pub rows_total: u64,
    /// `--sample`'s hash threshold, fixed when the job started so that a
    /// resumed job samples the same rows; `None`: every row.
    pub sample_threshold: Option<u64>,
    pub phase: Phase,
    pub finished: bool,
    pub counts: Counts,
    pub findings_by_kind: BTreeMap<FindingKind, u64>,
    /// The first [`FINDINGS_KEPT_MAX`] findings.
    pub findings: Vec<Finding>,
    pub actions_by_kind: BTreeMap<ActionKind, u64>,
    /// The first [`ACTIONS_KEPT_MAX`] repair actions.
    pub actions: Vec<Action>,
}

impl AuditState {
    pub fn new(selection: String, rows_total: u64, sample_threshold: Option<u64>) -> AuditState {
        AuditState {
            version: VERSION,
            selection,
            rows_total,
            sample_threshold,
            phase: Phase::Index { after: None },
            finished: false,
            counts: Counts::default(),
            findings_by_kind: BTreeMap::new(),
            findings: Vec::new(),
            actions_by_kind: BTreeMap::new(),
            actions: Vec::new(),
        }
    }

    pub fn found(&mut self, finding: Finding) {
        *self.findings_by_kind.entry(finding.kind()).or_default() += 1;
        if self.findings.len() < FINDINGS_KEPT_MAX {
            self.findings.push(finding);
        }
    }

    pub fn acted(&mut self, action: Action) {
        *self.actions_by_kind.entry(action.action).or_default() += 1;
        if self.actions.len() < ACTIONS_KEPT_MAX {
            self.actions.push(action);
        }
    }

    pub fn findings_total(&self) -> u64 {
        self.findings_by_kind.values().sum()
    }

    /// Findings a repair did not heal (every finding, for an audit or a dry run).
    pub fn unrepaired(&self) -> u64 {
        let repaired: u64 = self.actions_by_kind.iter().filter(|(k, _)| k.repaired()).map(|(_, n)| n).sum();
        self.findings_total().saturating_sub(repaired)
    }
}

/// Which command ran, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Audit,
    Repair { apply: bool, delete_orphans: bool },
}

/// Throughput of this run, per phase: items per second of the phase's
/// wall time in this run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rates {
    /// Objects read and checked per second (index → store).
    pub objects_checked_per_second: f64,
    pub bytes_read_per_second: f64,
    /// Keys listed and looked up per second (store → index).
    pub store_keys_per_second: f64,
    /// Keys compared per second (primary ↔ replica).
    pub replica_keys_per_second: f64,
}

/// How an audit or repair ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub state: AuditState,
    pub mode: Mode,
    pub replica: bool,
    /// The job had finished before this run: nothing was done.
    pub already_finished: bool,
    /// Stopped at `--max-objects`; the same command resumes the job.
    pub stopped_early: bool,
    /// Rows and keys looked at by this run, and its duration.
    pub items_this_run: u64,
    pub seconds: f64,
    pub rates: Rates,
}

impl Report {
    /// Finished, and nothing found.
    pub fn whole(&self) -> bool {
        self.state.finished && self.state.findings_total() == 0
    }
}

/// The report as an operator reads it.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    let state = &report.state;
    let c = &state.counts;
    if report.already_finished {
        out.push_str("this job had already finished: nothing was done\n");
    }
    if let Mode::Repair { apply: false, .. } = report.mode {
        out.push_str("dry run: nothing was changed (`would_…` says what --apply would do)\n");
    }
    let sampled = match state.sample_threshold {
        Some(_) => format!(" (sampled; {} not)", c.rows_not_sampled),
        None => String::new(),
    };
    let _ = writeln!(out, "index → store:     {} rows, {} objects checked{sampled}", c.rows, c.rows_checked);
    let _ = writeln!(
        out,
        "store → index:     {} objects, {} orphans younger than the grace period, {} keys ignored",
        c.store_objects, c.young_orphans, c.ignored_keys
    );
    if report.replica {
        let _ = writeln!(
            out,
            "primary ↔ replica: {} keys, {} compared byte for byte, {} not yet replicated within the grace period",
            c.replica_keys, c.replica_compared, c.young_unreplicated
        );
    }
    let r = &report.rates;
    let replica_rate =
        if report.replica { format!(", {:.0} replica keys/s", r.replica_keys_per_second) } else { String::new() };
    let _ = writeln!(
        out,
        "{} items in {:.1} s: {:.0} objects checked/s ({:.1} MB/s), {:.0} store keys/s{replica_rate}",
        report.items_this_run,
        report.seconds,
        r.objects_checked_per_second,
        r.bytes_read_per_second / 1e6,
        r.store_keys_per_second,
    );
    let total = state.findings_total();
    if total == 0 {
        out.push_str("findings: none\n");
    } else {
        let kinds: Vec<String> = state.findings_by_kind.iter().map(|(k, n)| format!("{} {n}", k.as_str())).collect();
        let _ = writeln!(out, "findings: {total} ({})", kinds.join(", "));
        for finding in &state.findings {
            let _ = writeln!(out, "  {}", finding.describe());
        }
        if total > state.findings.len() as u64 {
            let _ = writeln!(
                out,
                "  ({} more not listed: the first {FINDINGS_KEPT_MAX} are kept; the log has all)",
                total - state.findings.len() as u64
            );
        }
    }
    if let Mode::Repair { .. } = report.mode {
        let kinds: Vec<String> = state.actions_by_kind.iter().map(|(k, n)| format!("{} {n}", k.as_str())).collect();
        let _ =
            writeln!(out, "repair: {}", if kinds.is_empty() { "nothing to do".to_owned() } else { kinds.join(", ") });
        for action in &state.actions {
            let _ = writeln!(out, "  {}: {}: {}", action.action.as_str(), action.key, action.detail);
        }
    }
    if report.stopped_early {
        out.push_str("stopped at --max-objects: run the same command again to go on\n");
    } else if !state.finished {
        let _ = writeln!(out, "not finished ({})", state.phase.name());
    }
    out
}

/// The report as JSON, for scripts.
pub fn render_json(report: &Report) -> serde_json::Value {
    let state = &report.state;
    let findings_by_kind: BTreeMap<&str, u64> =
        FindingKind::ALL.iter().map(|k| (k.as_str(), state.findings_by_kind.get(k).copied().unwrap_or(0))).collect();
    let mut json = serde_json::json!({
        "command": match report.mode { Mode::Audit => "audit", Mode::Repair { .. } => "repair" },
        "complete": state.finished,
        "whole": report.whole(),
        "already_finished": report.already_finished,
        "stopped_early": report.stopped_early,
        "phase": state.phase,
        "replica": report.replica,
        "sampled": state.sample_threshold.is_some(),
        "counts": state.counts,
        "findings_total": state.findings_total(),
        "findings_by_kind": findings_by_kind,
        "findings": state.findings,
        "findings_kept_max": FINDINGS_KEPT_MAX,
        "findings_truncated": state.findings_total() > state.findings.len() as u64,
        "items_this_run": report.items_this_run,
        "seconds": report.seconds,
        "throughput": report.rates,
    });
    if let Mode::Repair { apply, delete_orphans } = report.mode {
        json["repair"] = serde_json::json!({
            "apply": apply,
            "delete_orphans": delete_orphans,
            "actions_by_kind": state.actions_by_kind,
            "actions": state.actions,
            "unrepaired": state.unrepaired(),
        });
    }
    json
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn findings_are_all_counted_and_the_first_kept() {
        let mut state = AuditState::new("s".into(), 0, None);
        for i in 0..FINDINGS_KEPT_MAX + 3 {
            state.found(Finding::ReplicaExtra { key: format!("t/{i}"), size_bytes: 1 });
        }
        state.found(Finding::MissingObject { uuid: Uuid::nil(), key: "k".into(), row_bytes: 1, row_crc32: 2 });
        assert_eq!(state.findings.len(), FINDINGS_KEPT_MAX);
        assert_eq!(state.findings_total(), FINDINGS_KEPT_MAX as u64 + 4);
        assert_eq!(state.findings_by_kind[&FindingKind::MissingObject], 1);
        let finding = Finding::MissingObject { uuid: Uuid::nil(), key: "k".into(), row_bytes: 1, row_crc32: 2 };
        state.acted(Action::new(ActionKind::ObjectRestored, &finding, "from the replica"));
        assert_eq!(state.unrepaired(), FINDINGS_KEPT_MAX as u64 + 3);
        let json = serde_json::to_value(&state).expect("serializes");
        let back: AuditState = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, state);
    }
}
