//! Who may place a message carrying a client `_id` now.
//!
//! Two messages with one `_id` but different content dispute it; the first
//! whose index row is committed keeps it and the other is stored under its
//! derived UUID. Placements run concurrently, and two claimants on different
//! days write different object keys, so without an order the later delivery
//! could win the race for the row. Holding back every message whose `_id` is
//! being placed until that placement is complete (its row durable, or
//! nothing to write) makes the earlier delivery win: within a partition the
//! source delivers in offset order, and a restart resumes at the committed
//! offset, below which every claimant's row is already durable.

use crate::source::Delivered;
use std::collections::{HashMap, VecDeque};
use uuid::Uuid;

/// The client UUIDs being placed, each with the deliveries that wait for it,
/// in arrival order.
#[derive(Debug, Default)]
pub struct Claims {
    placing: HashMap<Uuid, VecDeque<Delivered>>,
    waiting: usize,
}

impl Claims {
    /// Takes `delivered` for placing now, or holds it back (returning `None`)
    /// while an earlier message with the same `_id` is being placed.
    pub fn admit(&mut self, delivered: Delivered) -> Option<Delivered> {
        let Some(uuid) = crate::identity::client_uuid(&delivered.message) else {
            return Some(delivered);
        };
        match self.placing.get_mut(&uuid) {
            Some(queue) => {
                queue.push_back(delivered);
                self.waiting += 1;
                None
            }
            None => {
                self.placing.insert(uuid, VecDeque::new());
                Some(delivered)
            }
        }
    }

    /// The placement of `done` is complete: returns the next delivery with
    /// its `_id`, which may be placed now.
    pub fn release(&mut self, done: &Delivered) -> Option<Delivered> {
        let uuid = crate::identity::client_uuid(&done.message)?;
        let queue = self.placing.get_mut(&uuid)?;
        match queue.pop_front() {
            Some(next) => {
                self.waiting -= 1;
                Some(next)
            }
            None => {
                self.placing.remove(&uuid);
                None
            }
        }
    }

    /// Deliveries held back; they count against the in-flight limit.
    pub fn waiting(&self) -> usize {
        self.waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::TimestampType;
    use crate::record::{Header, Key, Message};

    fn delivery(offset: i64, id: Option<[u8; 16]>) -> Delivered {
        let headers = id.map(|id| Header::new("_id", Some(&id))).into_iter().collect();
        let message = Message {
            topic: "t".into(),
            timestamp: offset,
            key: Key::Null,
            headers,
            payload: Some(offset.to_be_bytes().to_vec()),
        };
        Delivered { message, partition: 0, offset, timestamp_type: TimestampType::Create }
    }

    #[test]
    fn a_claimant_waits_for_the_earlier_one_and_is_released_in_order() {
        let mut claims = Claims::default();
        let id = Some([7; 16]);
        assert!(claims.admit(delivery(1, id)).is_some(), "the first claimant is placed at once");
        assert!(claims.admit(delivery(2, None)).is_some(), "a message without `_id` never waits");
        assert!(claims.admit(delivery(3, id)).is_none(), "a second claimant waits");
        assert!(claims.admit(delivery(4, id)).is_none());
        assert!(claims.admit(delivery(5, Some([8; 16]))).is_some(), "another `_id` does not wait");
        assert_eq!(claims.waiting(), 2);
        assert_eq!(claims.release(&delivery(1, id)).map(|d| d.offset), Some(3));
        assert_eq!(claims.release(&delivery(3, id)).map(|d| d.offset), Some(4));
        assert_eq!(claims.release(&delivery(4, id)).map(|d| d.offset), None);
        assert_eq!(claims.waiting(), 0);
        assert!(claims.admit(delivery(6, id)).is_some(), "once released, the `_id` is free again");
    }
}
