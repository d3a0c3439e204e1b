//! What every browse page shares: escaping, times, the document around a
//! page's body (landmarks, navigation, the style sheet) and the response
//! headers (the Content-Security-Policy that forbids scripts).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::super::render::clip;
use crate::identity::civil_date;

/// No scripts, no fetched resources of any kind; the inline style sheet
/// and inline SVG are all a page uses.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'";

const MS_PER_DAY: i64 = 86_400_000;

/// Readable at phone width (375 px) and on a desktop; colours meet WCAG
/// AA contrast. Wide tables scroll inside their own box (`.scroll`).
const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;font:16px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1b1b;background:#fff}\
header{background:#0b3d68}\
nav.site{display:flex;flex-wrap:wrap;gap:.25em 1.25em;padding:.6em 1em;max-width:75em;margin:0 auto}\
nav.site a{color:#fff;font-weight:600}\
main{padding:1em;max-width:75em;margin:0 auto}\
h1{font-size:1.5em;margin:.3em 0 .6em;overflow-wrap:anywhere}\
h2{font-size:1.2em;margin:1.2em 0 .5em}\
a{color:#0b57a4}\
.scroll{overflow-x:auto;margin:.5em 0;max-width:100%}\
table{border-collapse:collapse}\
th,td{border:1px solid #c8c8c8;padding:.25em .5em;text-align:left;vertical-align:top}\
thead th,tfoot th,tfoot td{background:#eef2f6}\
.n{text-align:right;font-variant-numeric:tabular-nums}\
pre{background:#f5f5f5;border:1px solid #d0d0d0;padding:.75em;overflow-x:auto;white-space:pre-wrap;\
overflow-wrap:anywhere;font-size:.9em;max-width:100%}\
pre.hex{white-space:pre;overflow-wrap:normal}\
form.filters{display:flex;flex-wrap:wrap;gap:.75em 1em;align-items:flex-end;padding:.75em;\
background:#f5f7fa;border:1px solid #d5dbe3;margin:.5em 0 1em}\
form.filters label{display:block;font-weight:600;font-size:.9em}\
form.filters input,form.filters select,form.filters button{font:inherit;padding:.3em .4em;max-width:100%}\
.note{color:#454545;font-size:.9em;margin:.2em 0 0}\
.mark{display:inline-block;padding:0 .4em;margin-left:.3em;border-radius:.3em;font-size:.85em;font-weight:600}\
.retracted{background:#fde8e8;color:#8a1c1c;border:1px solid #d99}\
.conflict{background:#fff4d6;color:#5c3f00;border:1px solid #d9b85c}\
p.notice{padding:.6em .8em;border-radius:.3em}\
svg.chart{display:block;width:100%;max-width:48em;height:auto}\
svg.spark{display:block;width:9em;height:2em}\
svg rect.bar{fill:#2b6cb0}\
svg line.axis{stroke:#555;stroke-width:1}\
svg text{font-size:12px;fill:#333}\
nav.pages a{margin-right:1em}\
@media (max-width:40em){body{font-size:15px}main{padding:.6em}nav.site{padding:.5em .6em}\
th,td{padding:.2em .35em}h1{font-size:1.3em}}";

/// `text` safe to place in HTML text and in quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` cut to `bytes_max` (marked with an ellipsis), then escaped.
pub fn shown(text: &str, bytes_max: usize) -> String {
    let cut = clip(text, bytes_max);
    if cut.len() < text.len() { escape_html(cut) + "…" } else { escape_html(cut) }
}

/// The parts of a UTC time: (year, month, day, hour, minute, second, ms).
fn utc_parts(ms: i64) -> (i64, u32, u32, i64, i64, i64, i64) {
    let (year, month, day) = civil_date(ms.div_euclid(MS_PER_DAY));
    let in_day = ms.rem_euclid(MS_PER_DAY);
    (year, month, day, in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000)
}

/// `YYYY-MM-DD HH:MM:SS.mmm UTC` for a timestamp in ms.
pub fn utc(ms: i64) -> String {
    let (year, month, day, h, m, s, milli) = utc_parts(ms);
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}.{milli:03} UTC")
}

/// `YYYY-MM-DD HH:MM` (UTC): a chart's hour.
pub fn utc_minute(ms: i64) -> String {
    let (year, month, day, h, m, ..) = utc_parts(ms);
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}")
}

/// `YYYY-MM-DD` (UTC): a chart's day.
pub fn utc_day(ms: i64) -> String {
    let (year, month, day, ..) = utc_parts(ms);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `YYYY-MM-DDTHH:MM:SS[.mmm]`: the value of a `datetime-local` input.
pub fn utc_input(ms: i64) -> String {
    let (year, month, day, h, m, s, milli) = utc_parts(ms);
    let fraction = if milli == 0 { String::new() } else { format!(".{milli:03}") };
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}{fraction}")
}

/// Where a page stops adding table rows: half the response bound, which
/// leaves the other half for the last row, the page around the table and,
/// on a message page, the payload (each piece is cut far below that).
pub fn rows_bytes_max(size_max: u64) -> usize {
    usize::try_from(size_max / 2).unwrap_or(usize::MAX)
}

/// A whole page: `title` (escaped here) as the document's title and the
/// main heading, the site navigation, and `body` (HTML) as the main content.
pub fn document(title: &str, body: &str) -> String {
    let title = escape_html(title);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} — hop-archiver</title><style>{STYLE}</style></head>\n<body>\
         <header><nav class=\"site\" aria-label=\"Archive\"><a href=\"/\">Topics</a>\
         <a href=\"/browse/messages\">All messages</a><a href=\"/browse/status\">Status</a></nav></header>\n\
         <main><h1>{title}</h1>\n{body}</main></body></html>\n"
    )
}

/// `html` with the headers every browse page carries.
pub fn html_response(html: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY)),
        ],
        html,
    )
        .into_response()
}

/// A table in a box of its own that scrolls sideways on a narrow screen;
/// focusable, so that keyboard users can scroll it too.
pub fn scroll_table(label: &str, table: &str) -> String {
    format!(
        "<div class=\"scroll\" role=\"region\" aria-label=\"{}\" tabindex=\"0\">{table}</div>\n",
        escape_html(label)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            escape_html("<a href=\"x\" onclick='y'>&amp;</a>"),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
        );
        assert_eq!(escape_html("plain ünïcode"), "plain ünïcode");
    }

    #[test]
    fn formats_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(utc(1_700_000_000_123), "2023-11-14 22:13:20.123 UTC");
        assert_eq!(utc(-1), "1969-12-31 23:59:59.999 UTC");
        assert_eq!(utc_minute(1_700_000_000_123), "2023-11-14 22:13");
        assert_eq!(utc_day(-1), "1969-12-31");
        assert_eq!(utc_input(1_700_000_000_000), "2023-11-14T22:13:20");
        assert_eq!(utc_input(1_700_000_000_123), "2023-11-14T22:13:20.123");
    }
}
