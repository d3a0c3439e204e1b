//! Who must own a disputed `_id`: one client UUID carried by two or more
//! distinct messages of the stream.
//!
//! The rule (PRODUCT.md §3.3, ARCHITECTURE.md "Disputed `_id`s"): within a
//! partition the earlier delivery keeps the `_id`; Kafka orders nothing
//! across partitions, so a claimant that is the first of its own partition
//! may own it too. Exactly one claimant owns it: an archive where every
//! claimant sits under its derived UUID is as wrong as one where a later
//! claimant of the owner's partition took it. A row under the `_id` that
//! holds no claimant is foreign traffic, which may legitimately hold it.

use super::Discrepancy;
use crate::expect::{Expectation, ExpectedMessage};
use archiver::identity::{self, Fingerprint};
use std::collections::BTreeMap;
use uuid::Uuid;

/// One claimant of a disputed `_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Claimant {
    seq: u64,
    fingerprint: Fingerprint,
    partition: (String, i32),
}

/// A client UUID that several distinct messages of the stream carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispute {
    pub uuid: Uuid,
    /// In stream order.
    claimants: Vec<Claimant>,
}

/// The disputed `_id`s of `expected`'s stream.
pub fn disputes(expected: &Expectation) -> Vec<Dispute> {
    let mut by_uuid: BTreeMap<Uuid, Vec<Claimant>> = BTreeMap::new();
    for m in &expected.messages {
        if let Some(uuid) = identity::client_uuid(&m.message) {
            by_uuid.entry(uuid).or_default().push(claimant(m, expected.partitions));
        }
    }
    by_uuid
        .into_iter()
        .filter(|(_, claimants)| claimants.len() > 1)
        .map(|(uuid, mut claimants)| {
            claimants.sort_by_key(|c| c.seq);
            Dispute { uuid, claimants }
        })
        .collect()
}

fn claimant(m: &ExpectedMessage, partitions: u32) -> Claimant {
    let partition = i32::try_from(m.partition_hint % partitions.max(1)).unwrap_or(i32::MAX);
    Claimant { seq: m.seq, fingerprint: m.fingerprint, partition: (m.message.topic.clone(), partition) }
}

impl Dispute {
    /// What is wrong, if anything, when the archive holds the message with
    /// fingerprint `owner` under the disputed UUID (`None`: nothing).
    pub fn check(&self, owner: Option<Fingerprint>) -> Option<Discrepancy> {
        let first = self.claimants.first()?;
        let Some(owner) = owner else {
            return Some(Discrepancy::Unowned { uuid: self.uuid, seq: first.seq });
        };
        // A fingerprint of no claimant: foreign traffic holds the `_id`.
        let holder = self.claimants.iter().find(|c| c.fingerprint == owner)?;
        let earlier = self.claimants.iter().find(|c| c.partition == holder.partition && c.seq < holder.seq)?;
        Some(Discrepancy::WrongOwner { uuid: self.uuid, seq: holder.seq, earlier_seq: earlier.seq })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dispute(claimants: &[(u64, u8, i32)]) -> Dispute {
        let claimants = claimants
            .iter()
            .map(|&(seq, f, p)| Claimant { seq, fingerprint: Fingerprint([f; 32]), partition: ("t".into(), p) })
            .collect();
        Dispute { uuid: Uuid::from_bytes([7; 16]), claimants }
    }

    #[test]
    fn in_one_partition_only_the_earliest_claimant_may_own_the_id() {
        let d = dispute(&[(3, 1, 0), (8, 2, 0)]);
        assert_eq!(d.check(Some(Fingerprint([1; 32]))), None);
        assert_eq!(
            d.check(Some(Fingerprint([2; 32]))),
            Some(Discrepancy::WrongOwner { uuid: d.uuid, seq: 8, earlier_seq: 3 })
        );
    }

    #[test]
    fn across_partitions_the_first_of_each_partition_may_own_it() {
        let d = dispute(&[(3, 1, 0), (5, 2, 1), (8, 3, 1)]);
        assert_eq!(d.check(Some(Fingerprint([1; 32]))), None);
        assert_eq!(d.check(Some(Fingerprint([2; 32]))), None, "first of partition 1");
        assert_eq!(
            d.check(Some(Fingerprint([3; 32]))),
            Some(Discrepancy::WrongOwner { uuid: d.uuid, seq: 8, earlier_seq: 5 })
        );
    }

    #[test]
    fn an_id_nobody_owns_is_wrong_and_a_foreign_owner_is_not_judged() {
        let d = dispute(&[(3, 1, 0), (8, 2, 0)]);
        assert_eq!(d.check(None), Some(Discrepancy::Unowned { uuid: d.uuid, seq: 3 }));
        assert_eq!(d.check(Some(Fingerprint([9; 32]))), None);
    }
}
