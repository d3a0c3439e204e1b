//! Object keys: `<topic>/<YYYY>/<MM>/<DD>/<uuid>.bson` (PRODUCT.md §3.2).
//!
//! Zero-padded and without the hour, unlike upstream, so that a listing in
//! key order is chronological by day.

use uuid::Uuid;

const MS_PER_DAY: i64 = 86_400_000;

/// The timestamp that places a message in time: Kafka's when it is usable
/// (not negative), else the ingest time. The flag says whether ingest time
/// was used.
pub fn effective_timestamp(kafka_ms: i64, ingest_ms: i64) -> (i64, bool) {
    if kafka_ms >= 0 { (kafka_ms, false) } else { (ingest_ms, true) }
}

/// The object key for `uuid` in `topic` at `timestamp_ms` (UTC day).
pub fn object_key(topic: &str, timestamp_ms: i64, uuid: Uuid) -> String {
    let (year, month, day) = civil_date(timestamp_ms.div_euclid(MS_PER_DAY));
    format!("{topic}/{year:04}/{month:02}/{day:02}/{}.bson", uuid.hyphenated())
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01,
/// valid for every `i64` day count a millisecond timestamp can produce.
/// Howard Hinnant's `civil_from_days`.
pub fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_date_known_days() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(-1), (1969, 12, 31));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(47_482), (2100, 1, 1));
    }
}
