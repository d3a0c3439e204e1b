//! Exponential backoff with jitter for retrying transient failures.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// Retry delays: `initial_ms`, doubling up to `max_ms`, each with "equal
/// jitter" (a random point in the upper half) so that many archivers
/// recovering from one outage do not retry in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial_ms: u64,
    max_ms: u64,
    attempt: u32,
    seed: u64,
}

impl Backoff {
    pub fn new(initial_ms: u64, max_ms: u64) -> Backoff {
        let seed = RandomState::new().hash_one(std::time::SystemTime::now());
        Backoff { initial_ms: initial_ms.max(1), max_ms: max_ms.max(initial_ms.max(1)), attempt: 0, seed }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.initial_ms.saturating_mul(1u64 << self.attempt.min(32)).min(self.max_ms);
        self.attempt = self.attempt.saturating_add(1);
        // xorshift64: cheap, good enough for jitter.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let half = ceiling / 2;
        Duration::from_millis(half + self.seed % (ceiling - half + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::Backoff;

    #[test]
    fn delays_grow_and_stay_bounded() {
        let mut b = Backoff::new(100, 1000);
        let delays: Vec<u128> = (0..8).map(|_| b.next_delay().as_millis()).collect();
        assert!((50..=100).contains(&delays[0]), "{delays:?}");
        assert!((100..=200).contains(&delays[1]), "{delays:?}");
        assert!(delays[4..].iter().all(|d| (500..=1000).contains(d)), "{delays:?}");
    }
}
