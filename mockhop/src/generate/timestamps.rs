//! Kafka timestamps: a seeded clock, the edge cases an archive keyed by UTC
//! date must get right, and the calendar arithmetic payloads need to print
//! dates. Nothing here reads the wall clock, so streams are reproducible.

use std::ops::RangeInclusive;

use super::dice::Dice;
use super::labels;

const DAY_MS: i64 = 86_400_000;
/// 2026-01-01T00:00:00Z: where every stream's clock starts.
const BASE_MS: i64 = 1_767_225_600_000;
/// The last and first milliseconds around the new years 2026 and 2027.
const YEAR_BOUNDARIES: [i64; 4] = [BASE_MS - 1, BASE_MS, 1_798_761_600_000 - 1, 1_798_761_600_000];
/// 2024-02-29T00:00:00Z.
const LEAP_DAY_MS: i64 = 1_709_164_800_000;
/// 2100-01-01T00:00:00Z; 2100 is not a leap year, which is an edge of its own.
const YEAR_2100_MS: i64 = 4_102_444_800_000;

/// A timestamp a fresh message gets instead of the clock's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampEdge {
    Midnight,
    YearBoundary,
    LeapDay,
    Zero,
    FarFuture,
    Missing,
}

impl TimestampEdge {
    pub fn label(self) -> &'static str {
        match self {
            TimestampEdge::Midnight => labels::TS_MIDNIGHT,
            TimestampEdge::YearBoundary => labels::TS_YEAR_BOUNDARY,
            TimestampEdge::LeapDay => labels::TS_LEAP_DAY,
            TimestampEdge::Zero => labels::TS_ZERO,
            TimestampEdge::FarFuture => labels::TS_FAR_FUTURE,
            TimestampEdge::Missing => labels::TS_MISSING,
        }
    }

    /// The edge timestamp near the clock's `now`.
    pub(crate) fn timestamp(self, dice: &mut Dice, now: i64) -> i64 {
        let within = |dice: &mut Dice, days: u64| dice.below(days * DAY_MS as u64) as i64;
        match self {
            TimestampEdge::Midnight => now - now.rem_euclid(DAY_MS) - dice.pick(&[0, 1]),
            TimestampEdge::YearBoundary => dice.pick(&YEAR_BOUNDARIES),
            TimestampEdge::LeapDay => LEAP_DAY_MS + within(dice, 1),
            TimestampEdge::Zero => 0,
            TimestampEdge::FarFuture => YEAR_2100_MS + within(dice, 365),
            TimestampEdge::Missing => -1,
        }
    }
}

/// Producer time: starts at [`BASE_MS`] and only moves forward.
pub(crate) struct Clock {
    now: i64,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock { now: BASE_MS }
    }

    /// Advances by a seeded step and returns the new time.
    pub(crate) fn tick(&mut self, dice: &mut Dice, step_ms: &RangeInclusive<u64>) -> i64 {
        self.now = self.now.saturating_add_unsigned(dice.between(step_ms));
        self.now
    }
}

/// A UTC calendar date and time of day.
pub(crate) struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub milli: u32,
    /// Days since the epoch.
    pub days: i64,
}

impl Civil {
    /// From Unix milliseconds, with the archiver's own calendar (the one
    /// its object keys use).
    pub(crate) fn from_ms(ms: i64) -> Civil {
        let days = ms.div_euclid(DAY_MS);
        let in_day = ms.rem_euclid(DAY_MS);
        let (year, month, day) = archiver::identity::civil_date(days);
        let part = |unit: i64, modulo: i64| ((in_day / unit) % modulo) as u32;
        Civil {
            year,
            month,
            day,
            hour: part(3_600_000, 24),
            minute: part(60_000, 60),
            second: part(1000, 60),
            milli: part(1, 1000),
            days,
        }
    }

    /// `2026-01-01T00:00:00.000Z`.
    pub(crate) fn iso8601(&self) -> String {
        let (y, mo, d, h, mi, s, ms) =
            (self.year, self.month, self.day, self.hour, self.minute, self.second, self.milli);
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
    }

    /// Three-letter English weekday.
    pub(crate) fn weekday(&self) -> &'static str {
        ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][self.days.rem_euclid(7) as usize]
    }

    /// Day of the year, from 1.
    pub(crate) fn day_of_year(&self) -> i64 {
        // Days in the proleptic Gregorian years 1..=y.
        let through = |y: i64| y * 365 + y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400);
        self.days - (through(self.year - 1) - through(1969)) + 1
    }
}
