//! Which offsets may be committed: per partition, only up to the highest
//! offset below which every dispatched message is durably archived.

use crate::source::{PartitionId, Position};
use std::collections::{BTreeMap, VecDeque};

/// Tracks dispatched and completed offsets, in arrival order per partition.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: BTreeMap<PartitionId, VecDeque<(i64, bool)>>,
}

impl OffsetTracker {
    /// A message was taken from the source and is being archived.
    pub fn dispatched(&mut self, topic: &str, partition: i32, offset: i64) {
        self.partitions.entry((topic.to_owned(), partition)).or_default().push_back((offset, false));
    }

    /// A message is durably archived (or needs nothing archived). It must
    /// have been dispatched and not completed yet: anything else would let
    /// an offset be committed for a message nobody archived.
    pub fn completed(&mut self, topic: &str, partition: i32, offset: i64) {
        let queue = self.partitions.get_mut(&(topic.to_owned(), partition));
        let entry = queue.and_then(|q| q.iter_mut().find(|(o, done)| *o == offset && !done));
        assert!(entry.is_some(), "{topic}/{partition} offset {offset} completed but not dispatched or already done");
        if let Some(entry) = entry {
            entry.1 = true;
        }
    }

    /// Positions that can be committed now; each is reported once.
    pub fn committable(&mut self) -> Vec<Position> {
        let mut out = Vec::new();
        for ((topic, partition), queue) in &mut self.partitions {
            let mut last_done = None;
            while let Some(&(offset, true)) = queue.front() {
                last_done = Some(offset);
                queue.pop_front();
            }
            if let Some(offset) = last_done {
                out.push(Position { topic: topic.clone(), partition: *partition, next_offset: offset + 1 });
            }
        }
        out
    }

    /// Messages dispatched but not yet committable.
    pub fn pending(&self) -> usize {
        self.partitions.values().map(VecDeque::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_only_contiguous_prefixes() {
        let mut t = OffsetTracker::default();
        for offset in 10..15 {
            t.dispatched("a", 0, offset);
        }
        t.dispatched("a", 1, 7);
        t.completed("a", 0, 12);
        t.completed("a", 0, 10);
        assert_eq!(t.committable(), vec![Position { topic: "a".into(), partition: 0, next_offset: 11 }]);
        assert_eq!(t.committable(), vec![], "reported once");
        t.completed("a", 0, 11);
        t.completed("a", 1, 7);
        assert_eq!(
            t.committable(),
            vec![
                Position { topic: "a".into(), partition: 0, next_offset: 13 },
                Position { topic: "a".into(), partition: 1, next_offset: 8 },
            ]
        );
        assert_eq!(t.pending(), 2);
    }

    #[test]
    #[should_panic(expected = "completed but not dispatched")]
    fn completing_an_offset_never_dispatched_is_a_bug() {
        let mut t = OffsetTracker::default();
        t.dispatched("a", 0, 10);
        t.completed("a", 0, 11);
    }
}
