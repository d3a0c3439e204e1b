//! The fault schedule: an explicit, replayable list of what goes wrong when.
//!
//! Every fault is keyed to a call number counted over the whole scenario
//! (all restarts included), never to wall time, so a schedule printed by a
//! failing run replays exactly. Call numbers start at 1.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How a store call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreFailure {
    /// 500 InternalError.
    #[serde(rename = "http-500")]
    Http500,
    /// 503 ServiceUnavailable.
    #[serde(rename = "http-503")]
    Http503,
    /// 503 SlowDown (S3's throttling answer).
    SlowDown,
    /// No answer until the client gives up; nothing was written.
    Timeout,
    /// The write happened, but the answer was lost (the ambiguous case).
    TimeoutAfterWrite,
}

impl StoreFailure {
    /// The error text, as S3 would explain it.
    pub fn message(self) -> &'static str {
        match self {
            StoreFailure::Http500 => "500 InternalError (injected)",
            StoreFailure::Http503 => "503 ServiceUnavailable (injected)",
            StoreFailure::SlowDown => "503 SlowDown (injected)",
            StoreFailure::Timeout => "operation timed out (injected)",
            StoreFailure::TimeoutAfterWrite => "operation timed out after the write (injected)",
        }
    }
}

/// Which store calls a [`Fault::StoreError`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreOp {
    /// Conditional creates only.
    #[default]
    Put,
    /// Every call: put, get, head, list, delete.
    Any,
}

/// One scheduled fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// Store calls `from..=to` (counted per `op`) fail with `error`.
    StoreError {
        from: u64,
        to: u64,
        error: StoreFailure,
        #[serde(default)]
        op: StoreOp,
    },
    /// Index calls `from..=to` (inserts and lookups) fail as unavailable.
    IndexOutage { from: u64, to: u64 },
    /// Index batch inserts `from..=to` commit, but the answer is lost.
    IndexLostAck { from: u64, to: u64 },
    /// The process dies right after the `at`-th object is created.
    CrashAfterObjectWrite { at: u64 },
    /// The process dies right after the `at`-th index batch commits, before
    /// its offsets are committed.
    CrashAfterIndexBatch { at: u64 },
    /// The process dies right after the `at`-th offset commit.
    CrashAfterCommit { at: u64 },
    /// The process dies when asked for message number `at + 1`.
    CrashAfterDelivery { at: u64 },
    /// After the `after_delivery`-th delivery, `partitions` (indexes into
    /// the log's sorted partition list) move to consumer `to`.
    Rebalance { after_delivery: u64, partitions: Vec<usize>, to: u32 },
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::StoreError { from, to, error, op } => {
                write!(f, "store {op:?} calls #{from}..=#{to} fail: {}", error.message())
            }
            Fault::IndexOutage { from, to } => write!(f, "index calls #{from}..=#{to} unavailable"),
            Fault::IndexLostAck { from, to } => write!(f, "index inserts #{from}..=#{to} commit but answer an error"),
            Fault::CrashAfterObjectWrite { at } => write!(f, "crash after object write #{at}"),
            Fault::CrashAfterIndexBatch { at } => write!(f, "crash after index batch #{at}, before its offset commit"),
            Fault::CrashAfterCommit { at } => write!(f, "crash after offset commit #{at}"),
            Fault::CrashAfterDelivery { at } => write!(f, "crash after delivery #{at}"),
            Fault::Rebalance { after_delivery, partitions, to } => {
                write!(f, "after delivery #{after_delivery}, partitions {partitions:?} move to consumer {to}")
            }
        }
    }
}

/// The scenario's faults, in the order they were written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FaultSchedule(pub Vec<Fault>);

impl fmt::Display for FaultSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return write!(f, "  (no faults)");
        }
        let lines: Vec<String> = self.0.iter().map(|fault| format!("  - {fault}")).collect();
        write!(f, "{}", lines.join("\n"))
    }
}

impl FaultSchedule {
    /// How store call `n` (counted per `op`) fails, if it does.
    pub fn store_failure(&self, op: StoreOp, n: u64) -> Option<StoreFailure> {
        self.0.iter().find_map(|fault| match fault {
            Fault::StoreError { from, to, error, op: o } if *o == op && (*from..=*to).contains(&n) => Some(*error),
            _ => None,
        })
    }

    /// Whether index call `n` finds the index unavailable.
    pub fn index_unavailable(&self, n: u64) -> bool {
        self.0.iter().any(|f| matches!(f, Fault::IndexOutage { from, to } if (*from..=*to).contains(&n)))
    }

    /// Whether index insert `n` loses its answer after committing.
    pub fn index_ack_lost(&self, n: u64) -> bool {
        self.0.iter().any(|f| matches!(f, Fault::IndexLostAck { from, to } if (*from..=*to).contains(&n)))
    }

    pub fn crash_after_object_write(&self, n: u64) -> bool {
        self.0.iter().any(|f| matches!(f, Fault::CrashAfterObjectWrite { at } if *at == n))
    }

    pub fn crash_after_index_batch(&self, n: u64) -> bool {
        self.0.iter().any(|f| matches!(f, Fault::CrashAfterIndexBatch { at } if *at == n))
    }

    pub fn crash_after_commit(&self, n: u64) -> bool {
        self.0.iter().any(|f| matches!(f, Fault::CrashAfterCommit { at } if *at == n))
    }

    pub fn crash_after_delivery(&self, n: u64) -> bool {
        self.0.iter().any(|f| matches!(f, Fault::CrashAfterDelivery { at } if *at == n))
    }

    /// The rebalances, in delivery order.
    pub fn rebalances(&self) -> Vec<(u64, Vec<usize>, u32)> {
        let mut out: Vec<_> = self
            .0
            .iter()
            .filter_map(|f| match f {
                Fault::Rebalance { after_delivery, partitions, to } => Some((*after_delivery, partitions.clone(), *to)),
                _ => None,
            })
            .collect();
        out.sort_by_key(|(at, _, _)| *at);
        out
    }
}
