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

/// An object key of either layout — this archiver's
/// `<topic>/YYYY/MM/DD/<uuid>.bson` or upstream's `<topic>/Y/M/D/H/<uuid>.bson`
/// (no zero padding) — taken apart: what restore, audit and reindex read
/// from a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedKey {
    pub topic: String,
    /// `2024/01/05/` or `2024/1/5/`: the day directory, as listed.
    pub group: String,
    /// The day's first millisecond (UTC).
    pub day_start_ms: i64,
    pub uuid: Uuid,
}

/// `<topic>/Y/M/D/[H/]<uuid>.bson`, else `None`.
pub fn parse_object_key(key: &str) -> Option<ParsedKey> {
    let parts: Vec<&str> = key.split('/').collect();
    let (topic, ymd, hour, file) = match parts.as_slice() {
        [topic, y, m, d, file] => (*topic, [*y, *m, *d], None, *file),
        [topic, y, m, d, h, file] => (*topic, [*y, *m, *d], Some(*h), *file),
        _ => return None,
    };
    let uuid = Uuid::parse_str(file.strip_suffix(".bson")?).ok()?;
    let [year, month, day] = ymd.map(|n| n.parse::<i64>().ok().filter(|_| n.bytes().all(|b| b.is_ascii_digit())));
    let (year, month, day) = (year?, month.filter(|m| (1..=12).contains(m))?, day.filter(|d| (1..=31).contains(d))?);
    if hour.is_some_and(|h| !h.parse::<u8>().is_ok_and(|h| h < 24)) || topic.is_empty() {
        return None;
    }
    let day_start_ms = days_from_civil(year, month, day).checked_mul(MS_PER_DAY)?;
    Some(ParsedKey { topic: topic.to_owned(), group: format!("{}/{}/{}/", ymd[0], ymd[1], ymd[2]), day_start_ms, uuid })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`, the inverse of `civil_date`).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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

    #[test]
    fn both_key_layouts_parse() {
        let uuid = "01234567-aaaa-bbbb-cccc-0123456789de";
        let ours = parse_object_key(&format!("gcn.notice/2023/11/14/{uuid}.bson")).unwrap();
        let upstream = parse_object_key(&format!("gcn.notice/2023/11/14/22/{uuid}.bson")).unwrap();
        assert_eq!(ours.day_start_ms, 1_699_920_000_000);
        assert_eq!((upstream.day_start_ms, upstream.group.as_str()), (ours.day_start_ms, "2023/11/14/"));
        assert_eq!(parse_object_key(&format!("t/2023/1/5/7/{uuid}.bson")).unwrap().group, "2023/1/5/");
        for bad in ["t/2023/13/01/x.bson", "t/2023/01/01/not-a-uuid.bson", "hop-archiver~probe/x", "t/2023/01/01/25/"] {
            assert_eq!(parse_object_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn days_from_civil_inverts_civil_date() {
        for days in [-719_468, -1, 0, 11_016, 19_675, 47_482, 2_932_896] {
            let (y, m, d) = civil_date(days);
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), days);
        }
    }
}
