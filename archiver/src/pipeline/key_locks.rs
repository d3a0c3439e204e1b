//! Serialises conditional creates of one object key within this process.
//!
//! A conforming store makes "create if absent" atomic, but some S3 servers
//! (s3s-fs 0.14.1 among them) check the condition and then write, so two
//! racing creates of one key can both report `Created` while only the last
//! writer's bytes remain. Two messages claiming one `_id` on one day share a
//! key, and with such a server the index could end up naming one message
//! while the object holds the other. Holding a lock from the create until
//! the stored object has been read back closes that window for everything
//! this process writes.

use std::hash::{Hash, Hasher};
use tokio::sync::{Mutex, MutexGuard};

/// Enough stripes that unrelated keys rarely wait for each other at the
/// in-flight limits in use (hundreds), with a fixed memory cost.
const STRIPES: usize = 1024;

/// Striped locks: a fixed number of mutexes, one chosen per key by hash.
#[derive(Debug)]
pub struct KeyLocks {
    stripes: Vec<Mutex<()>>,
}

impl Default for KeyLocks {
    fn default() -> KeyLocks {
        KeyLocks { stripes: (0..STRIPES).map(|_| Mutex::new(())).collect() }
    }
}

impl KeyLocks {
    /// Waits until no other create of a key in `key`'s stripe is in flight.
    pub async fn lock(&self, key: &str) -> MutexGuard<'_, ()> {
        // `DefaultHasher::new()` has fixed keys: the stripe of a key is stable.
        let mut hasher = std::hash::DefaultHasher::new();
        key.hash(&mut hasher);
        let stripe = usize::try_from(hasher.finish() % STRIPES as u64).unwrap_or(0);
        self.stripes[stripe].lock().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_key_is_held_by_one_task_at_a_time() {
        let locks = KeyLocks::default();
        let held = locks.lock("t/2026/01/01/a.bson").await;
        let again = tokio::time::timeout(std::time::Duration::from_millis(20), locks.lock("t/2026/01/01/a.bson"));
        assert!(again.await.is_err(), "a second lock of the same key waits");
        drop(held);
        let _relocked = locks.lock("t/2026/01/01/a.bson").await;
    }
}
