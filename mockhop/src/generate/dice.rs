//! The one source of randomness, and weighted tables to draw from.
//!
//! Everything random in a stream is drawn from one ChaCha8 generator in a
//! fixed order, which is what makes a seed reproduce a stream byte for byte.
//! ChaCha8 rather than ChaCha20: it is the cheapest ChaCha, its statistical
//! quality is far beyond what traffic needs, and near-limit payloads draw
//! megabytes.

use std::ops::RangeInclusive;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use uuid::Uuid;

/// A rate out of 1000 (values above 1000 mean always).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerMille(pub u16);

/// Relative weights of the variants of `T`, never all zero.
///
/// Only [`Table::new`] builds one, and it rejects an empty table, so a draw
/// always has an answer; used in a `const`, the check happens at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table<T: 'static> {
    entries: &'static [(T, u32)],
}

impl<T> Table<T> {
    /// # Panics
    ///
    /// If no weight is positive (at compile time when evaluated in a const).
    pub const fn new(entries: &'static [(T, u32)]) -> Table<T> {
        let mut total = 0u64;
        let mut i = 0;
        while i < entries.len() {
            total += entries[i].1 as u64;
            i += 1;
        }
        assert!(total > 0, "a weight table needs a positive weight");
        Table { entries }
    }

    pub const fn entries(&self) -> &'static [(T, u32)] {
        self.entries
    }
}

pub(crate) struct Dice(ChaCha8Rng);

impl Dice {
    pub(crate) fn new(seed: u64) -> Dice {
        Dice(ChaCha8Rng::seed_from_u64(seed))
    }

    pub(crate) fn u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    /// Uniform in `0..n` (0 when `n` is 0), without modulo bias (Lemire's
    /// method), so that weights mean exactly what they say.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let threshold = n.wrapping_neg() % n;
        loop {
            let wide = u128::from(self.0.next_u64()) * u128::from(n);
            if (wide as u64) >= threshold {
                return (wide >> 64) as u64;
            }
        }
    }

    pub(crate) fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    pub(crate) fn between(&mut self, range: &RangeInclusive<u64>) -> u64 {
        let (lo, hi) = (*range.start(), *range.end());
        lo + self.below(hi.saturating_sub(lo).saturating_add(1))
    }

    pub(crate) fn size(&mut self, range: &RangeInclusive<usize>) -> usize {
        self.between(&(*range.start() as u64..=*range.end() as u64)) as usize
    }

    pub(crate) fn chance(&mut self, rate: PerMille) -> bool {
        self.below(1000) < u64::from(rate.0)
    }

    /// One element of a non-empty slice (all callers pass constant lists).
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }

    pub(crate) fn choose<T: Copy>(&mut self, table: &Table<T>) -> T {
        let total = table.entries.iter().map(|&(_, w)| u64::from(w)).sum();
        let mut roll = self.below(total);
        let mut chosen = table.entries[0].0;
        for &(item, weight) in table.entries {
            chosen = item;
            if roll < u64::from(weight) {
                break;
            }
            roll -= u64::from(weight);
        }
        chosen
    }

    /// Like [`Dice::choose`] among the entries `keep` accepts; `None` when
    /// they weigh nothing.
    pub(crate) fn choose_where<T: Copy>(&mut self, table: &Table<T>, keep: impl Fn(T) -> bool) -> Option<T> {
        let kept = || table.entries.iter().copied().filter(|&(item, _)| keep(item));
        let total: u64 = kept().map(|(_, w)| u64::from(w)).sum();
        let mut roll = self.below(total);
        for (item, weight) in kept() {
            if roll < u64::from(weight) {
                return Some(item);
            }
            roll -= u64::from(weight);
        }
        None
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut bytes = vec![0; len];
        self.0.fill_bytes(&mut bytes);
        bytes
    }

    /// A version-4 UUID, as hop-client's `uuid.uuid4()`.
    pub(crate) fn uuid(&mut self) -> Uuid {
        let mut bytes = [0; 16];
        self.0.fill_bytes(&mut bytes);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}
