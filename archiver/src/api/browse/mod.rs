//! The browse page: server-rendered HTML, no scripts. Every string that
//! comes from the archive or the request goes through [`escape_html`];
//! the page is served with a Content-Security-Policy that forbids scripts
//! anyway, so a stored payload can never run in a reader's browser.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::listing::{page, readable_stats, readable_topics, topic_list_request};
use super::messages::readable;
use super::params::{self, ListParams};
use super::render::{clip, header_text, value_json};
use super::{ApiError, ApiState, decode};
use crate::identity::civil_date;
use crate::index::{IndexEntry, TopicStats};

/// Messages per browse page.
const BROWSE_PAGE_ROWS: u32 = 50;
/// Payload bytes shown inline; the rest is behind the download link.
const PAYLOAD_SHOWN_BYTES_MAX: usize = 64 * 1024;
/// Bytes of any other text shown (a title, a header value, an annotation):
/// escaping can multiply text sixfold, so every piece is cut first.
const TEXT_SHOWN_BYTES_MAX: usize = 1024;
/// Bytes of a title, sender or media type in a topic page's table.
const CELL_SHOWN_BYTES_MAX: usize = 256;

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

/// `YYYY-MM-DD HH:MM:SS.mmm UTC` for a timestamp in ms.
fn utc(ms: i64) -> String {
    const MS_PER_DAY: i64 = 86_400_000;
    let (year, month, day) = civil_date(ms.div_euclid(MS_PER_DAY));
    let in_day = ms.rem_euclid(MS_PER_DAY);
    let (h, m, s, milli) = (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000);
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}.{milli:03} UTC")
}

/// Where a page stops adding table rows: half the response bound, which
/// leaves the other half for the last row, the page around the table and,
/// on a message page, the payload (each piece is cut far below that).
fn rows_bytes_max(size_max: u64) -> usize {
    usize::try_from(size_max / 2).unwrap_or(usize::MAX)
}

/// `text` cut to `bytes_max` (marked with an ellipsis), then escaped.
fn shown(text: &str, bytes_max: usize) -> String {
    let cut = clip(text, bytes_max);
    if cut.len() < text.len() { escape_html(cut) + "…" } else { escape_html(cut) }
}

fn html_page(title: &str, body: &str) -> Response {
    html_response(html_text(title, body))
}

fn html_text(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} — hop-archiver</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}}\
         pre{{background:#f4f4f4;padding:1em;white-space:pre-wrap;word-break:break-all}}</style></head>\
         <body><p><a href=\"/\">hop-archiver</a></p><h1>{}</h1>\n{body}</body></html>\n",
        escape_html(title),
        escape_html(title)
    )
}

fn html_response(html: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; img-src 'none'"),
            ),
        ],
        html,
    )
        .into_response()
}

/// `GET /`: the topics the visitor can read, with counts and time spans,
/// in name order from `after` on (exclusive); rows stop at half the
/// response bound, as on a message page, and link to the next page.
pub async fn index(
    State(state): State<Arc<ApiState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (principal, after, stats) = topic_list_request(&state, query.as_deref(), &headers).await?;
    let rows_max = rows_bytes_max(state.limits.clients.response_size_bytes_max);
    let mut body =
        String::from("<table id=\"topics\"><tr><th>topic</th><th>messages</th><th>earliest</th><th>latest</th></tr>\n");
    let readable = readable_stats(&state, principal, &stats, after.as_deref());
    let (shown, more) = push_topic_rows(&mut body, readable, rows_max);
    body.push_str("</table>\n");
    match shown {
        None => body.push_str("<p>No topics to show.</p>\n"),
        Some(last) if more => {
            // `+` (of `+oversized`) would read back as a space in a query string.
            let last: String = url::form_urlencoded::byte_serialize(last.as_bytes()).collect();
            let _ = writeln!(body, "<p><a id=\"next\" href=\"/?after={}\">more topics →</a></p>", escape_html(&last));
        }
        Some(_) => {}
    }
    Ok(html_page("Archived topics", &body))
}

/// One row per topic until `body` exceeds `rows_max` bytes; returns the
/// last topic shown and whether any were left out.
fn push_topic_rows<'a>(
    body: &mut String,
    topics: impl Iterator<Item = &'a TopicStats>,
    rows_max: usize,
) -> (Option<&'a str>, bool) {
    let mut shown = None;
    for s in topics {
        if body.len() > rows_max {
            return (shown, true);
        }
        let topic = escape_html(&s.topic);
        let _ = writeln!(
            body,
            "<tr><td><a href=\"/browse/topic/{topic}\">{topic}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s.count,
            utc(s.earliest_ms),
            utc(s.latest_ms)
        );
        shown = Some(s.topic.as_str());
    }
    (shown, false)
}

/// `GET /browse/topic/{topic}`: its messages, newest first, with paging.
pub async fn topic(
    State(state): State<Arc<ApiState>>,
    Path(topic): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let topic = params::topic(&topic)?.to_owned();
    let principal = state.access.principal(&headers)?;
    let topics = readable_topics(&state, principal, std::slice::from_ref(&topic)).await?;
    let mut pairs = params::query_pairs(query.as_deref())?;
    pairs.retain(|(k, _)| k == "page");
    pairs.push(("asc".into(), "false".into()));
    let params = ListParams::parse(&pairs, &state.tokens)?;
    let listed = page(&state, &params, topics, BROWSE_PAGE_ROWS).await?;
    let mut body = String::from(
        "<table id=\"messages\"><tr><th>time</th><th>message</th><th>title</th><th>sender</th><th>type</th><th>bytes</th></tr>\n",
    );
    for e in &listed.entries {
        let r = &e.row;
        let retracted = if r.retracted { " (retracted)" } else { "" };
        let _ = writeln!(
            body,
            "<tr><td>{}</td><td><a href=\"/browse/msg/{uuid}\">{uuid}</a>{retracted}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            utc(r.timestamp),
            shown(&r.title, CELL_SHOWN_BYTES_MAX),
            shown(&r.sender, CELL_SHOWN_BYTES_MAX),
            shown(&r.media_type, CELL_SHOWN_BYTES_MAX),
            r.size,
            uuid = r.uuid.hyphenated(),
        );
    }
    body.push_str("</table>\n<p>");
    let link = |token: &str, label: &str| {
        format!("<a href=\"/browse/topic/{}?page={}\">{label}</a> ", escape_html(&topic), escape_html(token))
    };
    if let Some(prev) = &listed.prev {
        body.push_str(&link(prev, "← newer"));
    }
    if let Some(next) = &listed.next {
        body.push_str(&link(next, "older →"));
    }
    body.push_str("</p>\n");
    Ok(html_page(&format!("Topic {topic}"), &body))
}

/// `GET /browse/msg/{uuid}`: headers, annotations and payload of one message.
/// Decoding and rendering run on the rendering pool; the page stays within
/// the response bound (each text is cut, and rows stop at half of it).
pub async fn message(
    State(state): State<Arc<ApiState>>,
    Path(uuid): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let entry = readable(&state, &uuid, &headers).await?;
    let size_max = state.limits.clients.response_size_bytes_max;
    let (bytes, reserved) = state.object(&entry, size_max).await?;
    let html = state.render.run(move || message_html(&entry, &bytes, size_max)).await?;
    Ok(reserved.hold_until_sent(html_response(html)))
}

fn message_html(entry: &IndexEntry, bytes: &[u8], size_max: u64) -> Result<String, ApiError> {
    let record = decode(entry, bytes)?;
    let rows_max = rows_bytes_max(size_max);
    let r = &entry.row;
    let mut body = String::from("<table id=\"metadata\">\n");
    let rows = [
        ("topic", r.topic.clone()),
        ("time", utc(r.timestamp)),
        ("uuid", r.uuid.hyphenated().to_string()),
        ("client UUID", r.is_client_uuid.to_string()),
        ("size", format!("{} bytes", r.size)),
        ("retracted", r.retracted.to_string()),
    ];
    for (name, value) in rows {
        let _ = writeln!(body, "<tr><th>{name}</th><td>{}</td></tr>", escape_html(&value));
    }
    body.push_str("</table>\n<h2>Headers</h2>\n<table id=\"headers\">\n");
    let headers: Vec<_> = record.metadata.headers.iter().flatten().collect();
    for (i, h) in headers.iter().enumerate() {
        if body.len() > rows_max {
            let _ = writeln!(body, "<tr><td colspan=\"3\">{} more headers not shown</td></tr>", headers.len() - i);
            break;
        }
        let (value, encoding) = header_text(&h.key, &h.value);
        let value = value.as_str().map(str::to_owned).unwrap_or_else(|| "null".into());
        let _ = writeln!(
            body,
            "<tr><th>{}</th><td>{}</td><td>{encoding}</td></tr>",
            shown(&h.key, CELL_SHOWN_BYTES_MAX),
            shown(&value, TEXT_SHOWN_BYTES_MAX)
        );
    }
    body.push_str("</table>\n<h2>Annotations</h2>\n<table id=\"annotations\">\n");
    let annotations = record.annotations.as_ref().map(|a| a.0.0.as_slice()).unwrap_or_default();
    for (i, (name, value)) in annotations.iter().enumerate() {
        if body.len() > rows_max {
            let _ =
                writeln!(body, "<tr><td colspan=\"2\">{} more annotations not shown</td></tr>", annotations.len() - i);
            break;
        }
        let value = value_json(value);
        let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
        let _ = writeln!(
            body,
            "<tr><th>{}</th><td>{}</td></tr>",
            shown(name, CELL_SHOWN_BYTES_MAX),
            shown(&text, TEXT_SHOWN_BYTES_MAX)
        );
    }
    body.push_str("</table>\n<h2>Payload</h2>\n");
    push_payload(&mut body, record.payload().unwrap_or_default());
    let file = if r.file_name.is_empty() || params::file_name(&r.file_name).is_err() {
        format!("{}.bin", r.uuid.hyphenated())
    } else {
        r.file_name.clone()
    };
    let _ = writeln!(
        body,
        "<p><a id=\"download\" href=\"/msg/{uuid}/raw_file/{}\">download payload</a> · <a href=\"/msg/{uuid}\">archived object (BSON)</a></p>",
        escape_html(&file),
        uuid = r.uuid.hyphenated(),
    );
    let html = html_text(&format!("Message {}", r.uuid.hyphenated()), &body);
    match html.len() as u64 > size_max {
        true => Err(ApiError::ResponseTooLarge { size_bytes_max: size_max }),
        false => Ok(html),
    }
}

/// Text payloads as text, anything else as a hex dump; both cut at
/// [`PAYLOAD_SHOWN_BYTES_MAX`].
fn push_payload(body: &mut String, payload: &[u8]) {
    let shown = &payload[..payload.len().min(PAYLOAD_SHOWN_BYTES_MAX)];
    match std::str::from_utf8(shown) {
        Ok(text) => {
            let _ = writeln!(body, "<pre id=\"payload\" data-encoding=\"text\">{}</pre>", escape_html(text));
        }
        Err(_) => {
            body.push_str("<pre id=\"payload\" data-encoding=\"hex\">");
            for (i, chunk) in shown.chunks(16).enumerate() {
                let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
                let _ = writeln!(body, "{:08x}  {}", i * 16, hex.join(" "));
            }
            body.push_str("</pre>\n");
        }
    }
    if payload.len() > shown.len() {
        let _ = writeln!(body, "<p>Showing the first {} of {} bytes.</p>", shown.len(), payload.len());
    }
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
    }
}
