//! Activity charts: messages per hour or per day over a window, drawn
//! server-side as inline SVG (no script, nothing fetched). Each chart is
//! an image with a text summary for screen readers; the topic page's also
//! lists every bucket's count in a table.

use std::fmt::Write as _;

use super::page::{escape_html, scroll_table, utc_day, utc_minute};
use crate::index::{ACTIVITY_BUCKETS_MAX, Activity, Buckets};

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;

/// Windows up to this long are counted per hour, longer ones per day (or
/// per several days, to stay within [`ACTIVITY_BUCKETS_MAX`]).
const HOURLY_SPAN_MS_MAX: i64 = 3 * DAY_MS;

/// The buckets a chart of `[start_ms, end_ms)` counts in; `None` for an
/// empty window.
pub fn buckets_for(start_ms: i64, end_ms: i64) -> Option<Buckets> {
    let span = end_ms.checked_sub(start_ms).filter(|&span| span > 0)?;
    let width = if span <= HOURLY_SPAN_MS_MAX {
        HOUR_MS
    } else {
        // A window cut into buckets of `width` spans at most
        // span / width + 2 of them (both ends may be partial).
        // Both rounded up (i64::div_ceil is not stable); span > 0.
        let days = span / DAY_MS + i64::from(span % DAY_MS != 0);
        DAY_MS * ((days - 1) / (ACTIVITY_BUCKETS_MAX - 2) + 1)
    };
    Buckets::new(start_ms, end_ms, width)
}

/// One topic's counts, bucket by bucket (zeros included).
pub fn counts_of(buckets: &Buckets, activity: &[Activity], topic: &str) -> Vec<i64> {
    let mut counts = vec![0; buckets.len()];
    for a in activity.iter().filter(|a| a.topic == topic) {
        if let Some(count) = buckets.index_of(a.bucket_start_ms.max(buckets.start_ms())).and_then(|i| counts.get_mut(i))
        {
            *count += a.count;
        }
    }
    counts
}

/// "hour", "day" or "3 days": what one bucket is.
fn unit(buckets: &Buckets) -> String {
    match buckets.width_ms() {
        HOUR_MS => "hour".to_owned(),
        DAY_MS => "day".to_owned(),
        width => format!("{} days", width / DAY_MS),
    }
}

/// A bucket's label: its start, to the minute for hours, else the day.
fn label(buckets: &Buckets, i: usize) -> String {
    let start = buckets.bucket_start_ms(i);
    if buckets.width_ms() < DAY_MS { utc_minute(start) } else { utc_day(start) }
}

/// A window bound as the summary gives it.
fn bound(buckets: &Buckets, ms: i64) -> String {
    if buckets.width_ms() < DAY_MS { utc_minute(ms) } else { utc_day(ms) }
}

/// One sentence saying what the chart shows: the window, the total and
/// the busiest bucket.
pub fn summary(buckets: &Buckets, counts: &[i64]) -> String {
    let unit = unit(buckets);
    let window = format!(
        "Messages per {unit} from {} to {} UTC",
        bound(buckets, buckets.start_ms()),
        bound(buckets, buckets.end_ms())
    );
    let total: i64 = counts.iter().sum();
    let busiest = counts.iter().enumerate().max_by_key(|&(i, c)| (*c, std::cmp::Reverse(i)));
    match busiest {
        Some((i, &max)) if total > 0 => {
            format!("{window}: {total} in total; the busiest {unit}, from {}, had {max}.", label(buckets, i))
        }
        _ => format!("{window}: none."),
    }
}

/// Plot area of the large chart, in its own units (the SVG scales to the
/// page's width).
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 632.0;
const TOP: f64 = 12.0;
const BASE: f64 = 172.0;

/// The topic page's chart: bars with axes and labels, each bar titled
/// with its bucket and count, then the same numbers as a table.
pub fn chart(buckets: &Buckets, counts: &[i64]) -> String {
    let summary = escape_html(&summary(buckets, counts));
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let mut svg = format!(
        "<svg class=\"chart\" id=\"activity\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" \
         aria-labelledby=\"activity-title\"><title id=\"activity-title\">{summary}</title>\n"
    );
    let slot = (RIGHT - LEFT) / counts.len().max(1) as f64;
    let gap = if slot > 4.0 { slot * 0.15 } else { 0.0 };
    for (i, &count) in counts.iter().enumerate().filter(|&(_, &c)| c > 0) {
        // At least a pixel, so a small count next to a huge one still shows.
        let height = ((BASE - TOP) * count as f64 / max as f64).max(1.0);
        let _ = writeln!(
            svg,
            "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{height:.1}\"><title>{}: {count}</title></rect>",
            LEFT + i as f64 * slot + gap / 2.0,
            BASE - height,
            (slot - gap).max(0.5),
            escape_html(&label(buckets, i)),
        );
    }
    let _ = writeln!(
        svg,
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{BASE}\" x2=\"{RIGHT}\" y2=\"{BASE}\"/>\
         <line class=\"axis\" x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{BASE}\"/>\
         <text x=\"{0}\" y=\"{1}\" text-anchor=\"end\">{max}</text>\
         <text x=\"{0}\" y=\"{BASE}\" text-anchor=\"end\">0</text>\
         <text x=\"{LEFT}\" y=\"{2}\">{3}</text><text x=\"{RIGHT}\" y=\"{2}\" text-anchor=\"end\">{4}</text></svg>",
        LEFT - 6.0,
        TOP + 10.0,
        HEIGHT - 8.0,
        escape_html(&bound(buckets, buckets.start_ms())),
        escape_html(&bound(buckets, buckets.end_ms())),
    );
    let unit = unit(buckets);
    let mut table = format!(
        "<table id=\"activity-table\"><thead><tr><th scope=\"col\">{unit} from (UTC)</th>\
         <th scope=\"col\" class=\"n\">messages</th></tr></thead><tbody>\n"
    );
    for (i, count) in counts.iter().enumerate() {
        let _ = writeln!(table, "<tr><td>{}</td><td class=\"n\">{count}</td></tr>", escape_html(&label(buckets, i)));
    }
    table.push_str("</tbody></table>");
    format!(
        "<p id=\"activity-summary\">{summary}</p>\n{svg}<details><summary>The counts per {unit}, as a table</summary>\n{}</details>\n",
        scroll_table(&format!("Messages per {unit}"), &table)
    )
}

/// Size of the front page's small charts, in their own units.
const SPARK_WIDTH: f64 = 140.0;
const SPARK_HEIGHT: f64 = 32.0;

/// A small chart of one topic for the front page: bars only, the summary
/// as its accessible name.
pub fn sparkline(buckets: &Buckets, counts: &[i64]) -> String {
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let slot = SPARK_WIDTH / counts.len().max(1) as f64;
    let mut svg = format!(
        "<svg class=\"spark\" viewBox=\"0 0 {SPARK_WIDTH} {SPARK_HEIGHT}\" preserveAspectRatio=\"none\" role=\"img\" \
         aria-label=\"{}\">",
        escape_html(&summary(buckets, counts))
    );
    for (i, &count) in counts.iter().enumerate().filter(|&(_, &c)| c > 0) {
        let height = ((SPARK_HEIGHT - 2.0) * count as f64 / max as f64).max(1.0);
        let _ = write!(
            svg,
            "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{height:.1}\"/>",
            i as f64 * slot + slot * 0.1,
            SPARK_HEIGHT - 1.0 - height,
            slot * 0.8,
        );
    }
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"0\" y1=\"{0}\" x2=\"{SPARK_WIDTH}\" y2=\"{0}\"/></svg>",
        SPARK_HEIGHT - 0.5
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_follows_the_window_and_stays_bounded() {
        let width =
            |span: i64| buckets_for(1_700_000_000_000, 1_700_000_000_000 + span).map(|b| (b.width_ms(), b.len()));
        assert_eq!(width(0), None);
        assert_eq!(width(-5), None);
        assert_eq!(width(1).map(|w| w.0), Some(HOUR_MS));
        assert_eq!(width(3 * DAY_MS).map(|w| w.0), Some(HOUR_MS));
        assert_eq!(width(3 * DAY_MS + 1).map(|w| w.0), Some(DAY_MS));
        assert_eq!(width(178 * DAY_MS).map(|w| w.0), Some(DAY_MS));
        assert_eq!(width(179 * DAY_MS).map(|w| w.0), Some(2 * DAY_MS));
        for span in [HOUR_MS, 3 * DAY_MS, 170 * DAY_MS, 400 * DAY_MS, 3650 * DAY_MS + 7, 3_000_000 * DAY_MS] {
            let (_, len) = width(span).expect("a chart");
            assert!(len as i64 <= ACTIVITY_BUCKETS_MAX, "{span} ms: {len} buckets");
        }
    }

    #[test]
    fn summary_names_the_window_total_and_busiest_bucket() {
        let buckets = Buckets::new(0, 3 * HOUR_MS, HOUR_MS).expect("buckets");
        assert_eq!(
            summary(&buckets, &[2, 5, 5]),
            "Messages per hour from 1970-01-01 00:00 to 1970-01-01 03:00 UTC: 12 in total; the busiest hour, \
             from 1970-01-01 01:00, had 5."
        );
        assert_eq!(
            summary(&buckets, &[0, 0, 0]),
            "Messages per hour from 1970-01-01 00:00 to 1970-01-01 03:00 UTC: none."
        );
    }
}
