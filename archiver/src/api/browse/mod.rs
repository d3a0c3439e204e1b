//! The browse pages: server-rendered HTML, no scripts, nothing fetched
//! from elsewhere. Every string that comes from the archive or the request
//! goes through [`escape_html`]; the pages are served with a
//! Content-Security-Policy that forbids scripts anyway, so a stored
//! payload can never run in a reader's browser.
//!
//! `/` lists the topics with a small activity chart each; a topic page
//! (`/browse/topic/{topic}`) and the cross-topic page (`/browse/messages`)
//! list messages through the API's own listing and paging code, filtered
//! by a time window and a full-text query (`search_query`); a
//! topic page charts its activity over the window; `/browse/msg/{uuid}`
//! shows one message with its payload by type; `/browse/status` gives
//! per-topic totals of the last hour, day and all time. One file per
//! concern: `page` (the document, escaping, times), `filter`, `chart`,
//! `payload`.

mod chart;
mod filter;
mod page;
mod payload;

pub use page::escape_html;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::listing::{Listed, page, readable_stats, readable_topics, topic_list_request};
use super::messages::readable;
use super::params::{self, ListParams, single};
use super::render::{header_text, value_json};
use super::{ApiError, ApiState, decode};
use crate::index::{Buckets, IndexEntry, IndexRow, TopicStats};
use chart::{DAY_MS, HOUR_MS, buckets_for, counts_of};
use filter::{Filter, SearchBox};
use page::{document, html_response, rows_bytes_max, scroll_table, shown, utc};

/// Messages per page of a message list.
const BROWSE_PAGE_ROWS: u32 = 50;
/// Topics per page of the front page (each with a chart), so that one
/// activity query covers a bounded number of topics.
const FRONT_PAGE_TOPICS_MAX: usize = 200;
/// Topics offered in the cross-topic page's picker.
const TOPIC_CHOICES_MAX: usize = 200;
/// Days the front page's charts cover, today (UTC) included. Its one
/// activity query reads every row of these days in the topics shown: at
/// 10 million rows a year over 40 topics, 7 days took PostgreSQL about
/// 125 ms, 14 days 250 ms.
const RECENT_DAYS: i64 = 7;
/// A topic page's chart without a `from`: this long before the window's
/// end (or from the topic's first message, if later).
const DEFAULT_CHART_SPAN_MS: i64 = 30 * DAY_MS;
/// Bytes of any other text shown (a title, a header value, an annotation):
/// escaping can multiply text sixfold, so every piece is cut first.
const TEXT_SHOWN_BYTES_MAX: usize = 1024;
/// Bytes of a title, sender or media type in a table cell.
const CELL_SHOWN_BYTES_MAX: usize = 256;

/// `GET /`: the topics the visitor can read, with counts, time spans and
/// their messages per day over the last [`RECENT_DAYS`] days, in name order
/// from `after` on (exclusive); at most [`FRONT_PAGE_TOPICS_MAX`] topics,
/// and rows stop at half the response bound; then a link to the next page.
pub async fn index(
    State(state): State<Arc<ApiState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (principal, after, stats) = topic_list_request(&state, query.as_deref(), &headers).await?;
    let mut topics: Vec<&TopicStats> =
        readable_stats(&state, principal, &stats, after.as_deref()).take(FRONT_PAGE_TOPICS_MAX + 1).collect();
    let cut = topics.len() > FRONT_PAGE_TOPICS_MAX;
    topics.truncate(FRONT_PAGE_TOPICS_MAX);
    let recent = recent_days(crate::pipeline::now_ms());
    // Topics quiet since before the window have nothing to count.
    let active = topics.iter().filter(|s| s.latest_ms >= recent.start_ms());
    let names: Vec<String> = active.map(|s| s.topic.clone()).collect();
    let activity = state.index.activity(&names, &recent).await?;
    let mut table = format!(
        "<table id=\"topics\"><thead><tr><th scope=\"col\">topic</th><th scope=\"col\">last {RECENT_DAYS} days</th>\
         <th scope=\"col\" class=\"n\">messages</th><th scope=\"col\">earliest</th><th scope=\"col\">latest</th>\
         </tr></thead><tbody>\n"
    );
    let rows_max = rows_bytes_max(state.limits.clients.response_size_bytes_max);
    let (last, more) = push_rows(&mut table, topics.into_iter(), rows_max, |s| {
        let topic = escape_html(&s.topic);
        let chart = chart::sparkline(&recent, &counts_of(&recent, &activity, &s.topic));
        format!(
            "<tr><th scope=\"row\"><a href=\"/browse/topic/{topic}\">{topic}</a></th><td>{chart}</td>\
             <td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            s.count,
            utc(s.earliest_ms),
            utc(s.latest_ms)
        )
    });
    table.push_str("</tbody></table>");
    let mut body = format!(
        "<p>The topics you can read, with their messages per day (UTC) over the last {RECENT_DAYS} days. Open a \
         topic to filter its messages by time and see its activity, or list <a href=\"/browse/messages\">messages \
         across topics</a>.</p>\n"
    );
    match last {
        None => body.push_str("<p>No topics to show.</p>\n"),
        Some(last) => {
            body.push_str(&scroll_table("Topics", &table));
            if more || cut {
                push_next_page(&mut body, "/", last, "more topics →");
            }
        }
    }
    Ok(html_response(document("Archived topics", &body)))
}

/// The front page's chart window: the last [`RECENT_DAYS`] UTC days, today
/// up to `now_ms` included.
fn recent_days(now_ms: i64) -> Buckets {
    let today = now_ms.div_euclid(DAY_MS) * DAY_MS;
    let start = today - (RECENT_DAYS - 1) * DAY_MS;
    // RECENT_DAYS days are far below the bucket bound at any time.
    Buckets::new(start, now_ms + 1, DAY_MS).unwrap_or_else(|| unreachable!("{RECENT_DAYS} days fit a chart"))
}

/// One row per topic (`row` renders it) until `body` exceeds `rows_max`
/// bytes; returns the last topic shown and whether any were left out.
fn push_rows<'a>(
    body: &mut String,
    topics: impl Iterator<Item = &'a TopicStats>,
    rows_max: usize,
    row: impl Fn(&TopicStats) -> String,
) -> (Option<&'a str>, bool) {
    let mut shown = None;
    for s in topics {
        if body.len() > rows_max {
            return (shown, true);
        }
        body.push_str(&row(s));
        body.push('\n');
        shown = Some(s.topic.as_str());
    }
    (shown, false)
}

/// The link to the page of topics after `last` on `path`.
fn push_next_page(body: &mut String, path: &str, last: &str, label: &str) {
    // `+` (of `+oversized`) would read back as a space in a query string.
    let last: String = url::form_urlencoded::byte_serialize(last.as_bytes()).collect();
    let _ = writeln!(body, "<p><a id=\"next\" href=\"{path}?after={}\">{label}</a></p>", escape_html(&last));
}

/// `GET /browse/topic/{topic}`: its messages, newest first, within the
/// time window of `from`/`until`, with paging that keeps the filter, and
/// its activity over the window.
pub async fn topic(
    State(state): State<Arc<ApiState>>,
    Path(topic): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let topic = params::topic(&topic)?.to_owned();
    let principal = state.access.principal(&headers)?;
    let topics = readable_topics(&state, principal, std::slice::from_ref(&topic)).await?;
    let pairs = params::query_pairs(query.as_deref())?;
    // The topic is the path's; a `topic` parameter has no say here.
    let filter = Filter { topics: Vec::new(), ..Filter::parse(&pairs)? };
    let params = ListParams::parse(&filter.listing_pairs(single(&pairs, "page")?), &state.tokens)?;
    let listed = page(&state, &params, topics.clone(), BROWSE_PAGE_ROWS).await?;
    let stats = state.topic_stats().await?;
    let totals = stats.iter().find(|s| s.topic == topic);
    let path = format!("/browse/topic/{topic}");
    let mut body = match totals {
        Some(s) => format!("<p>{} messages from {} to {}.</p>\n", s.count, utc(s.earliest_ms), utc(s.latest_ms)),
        None => "<p>No messages archived in this topic.</p>\n".to_owned(),
    };
    let search = match state.text.for_topic(&topic) {
        Some(_) => SearchBox::Enabled,
        None => SearchBox::Disabled("This topic's text is not indexed, so it cannot be searched."),
    };
    body.push_str(&filter.form(&path, None, search));
    body.push_str("<section aria-labelledby=\"activity-heading\"><h2 id=\"activity-heading\">Activity</h2>\n");
    if filter.search_query.is_some() {
        body.push_str(
            "<p class=\"note\">The chart counts every message of the window, not only those matching the search.</p>\n",
        );
    }
    match chart_window(&filter, totals, crate::pipeline::now_ms()) {
        Some(buckets) => {
            let activity = state.index.activity(&topics, &buckets).await?;
            body.push_str(&chart::chart(&buckets, &counts_of(&buckets, &activity, &topic)));
        }
        None => body.push_str("<p>The time window is empty.</p>\n"),
    }
    body.push_str("</section>\n");
    push_listing(&mut body, &listed, &filter, &path, false);
    Ok(html_response(document(&format!("Topic {topic}"), &body)))
}

/// The window a topic page charts: the filter's, with a missing end at the
/// topic's last message (now, for a topic without messages) and a
/// missing start [`DEFAULT_CHART_SPAN_MS`] earlier, or at the topic's
/// first message if that is later.
fn chart_window(filter: &Filter, totals: Option<&TopicStats>, now_ms: i64) -> Option<Buckets> {
    let end = filter.until_ms.unwrap_or_else(|| totals.map_or(now_ms, |s| s.latest_ms).saturating_add(1));
    let start = filter.from_ms.unwrap_or_else(|| {
        let span_start = end.saturating_sub(DEFAULT_CHART_SPAN_MS);
        totals
            .map_or(span_start, |s| if (span_start..end).contains(&s.earliest_ms) { s.earliest_ms } else { span_start })
    });
    buckets_for(start, end)
}

/// `GET /browse/messages`: messages across topics — those named by
/// `topic` (each must be readable) or every topic the visitor can read —
/// with the same filters and paging as a topic page.
pub async fn messages(
    State(state): State<Arc<ApiState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = state.access.principal(&headers)?;
    let pairs = params::query_pairs(query.as_deref())?;
    let filter = Filter::parse(&pairs)?;
    let topics = readable_topics(&state, principal, &filter.topics).await?;
    let params = ListParams::parse(&filter.listing_pairs(single(&pairs, "page")?), &state.tokens)?;
    let listed = page(&state, &params, topics, BROWSE_PAGE_ROWS).await?;
    let stats = state.topic_stats().await?;
    let choices: Vec<&str> =
        readable_stats(&state, principal, &stats, None).map(|s| s.topic.as_str()).take(TOPIC_CHOICES_MAX).collect();
    let mut body =
        String::from("<p>Messages of every topic you can read, or of the topics you choose, newest first.</p>\n");
    let search = match state.text.topics.is_empty() {
        true => SearchBox::Disabled("No topic's text is indexed on this archive, so there is nothing to search."),
        false => SearchBox::Enabled,
    };
    body.push_str(&filter.form("/browse/messages", Some(&topic_choice(&choices, &filter.topics)), search));
    push_listing(&mut body, &listed, &filter, "/browse/messages", true);
    Ok(html_response(document("All messages", &body)))
}

/// The cross-topic page's topic picker: the readable topics (at most
/// [`TOPIC_CHOICES_MAX`]) and any chosen ones beyond them.
fn topic_choice(choices: &[&str], chosen: &[String]) -> String {
    let mut select = String::from(
        "<div><label for=\"topic\">Topics</label><select id=\"topic\" name=\"topic\" multiple size=\"4\" \
         aria-describedby=\"topic-note\">\n",
    );
    let extra = chosen.iter().map(String::as_str).filter(|t| !choices.contains(t));
    for topic in choices.iter().copied().chain(extra) {
        let selected = if chosen.iter().any(|c| c == topic) { " selected" } else { "" };
        let _ = writeln!(select, "<option{selected}>{}</option>", escape_html(topic));
    }
    select.push_str("</select><p class=\"note\" id=\"topic-note\">None chosen: every topic you can read.</p></div>\n");
    select
}

/// The "Messages" section of a list page: what the window is, the table
/// and the paging links (which keep the filter).
fn push_listing(body: &mut String, listed: &Listed, filter: &Filter, path: &str, with_topic: bool) {
    body.push_str("<section aria-labelledby=\"messages-heading\"><h2 id=\"messages-heading\">Messages</h2>\n");
    let window = match (filter.from_ms, filter.until_ms) {
        (None, None) => "all time".to_owned(),
        (Some(from), None) => format!("from {}", utc(from)),
        (None, Some(until)) => format!("before {}", utc(until)),
        (Some(from), Some(until)) => format!("from {} to {} (not included)", utc(from), utc(until)),
    };
    let search = match &filter.search_query {
        Some(query) => format!("; matching the search “{}”", escape_html(query)),
        None => String::new(),
    };
    let _ = writeln!(body, "<p id=\"window\">Newest first, {BROWSE_PAGE_ROWS} a page; {window}{search}.</p>");
    if listed.entries.is_empty() {
        body.push_str("<p>No messages in this window.</p>\n");
    } else {
        body.push_str(&scroll_table("Messages", &messages_table(&listed.entries, with_topic)));
    }
    let path = escape_html(path);
    body.push_str("<nav class=\"pages\" aria-label=\"Pages\">");
    if let Some(prev) = &listed.prev {
        let _ = write!(body, "<a rel=\"prev\" href=\"{path}{}\">← newer</a>", filter.query_string(Some(prev)));
    }
    if let Some(next) = &listed.next {
        let _ = write!(body, "<a rel=\"next\" href=\"{path}{}\">older →</a>", filter.query_string(Some(next)));
    }
    body.push_str("</nav>\n</section>\n");
}

fn messages_table(entries: &[IndexEntry], with_topic: bool) -> String {
    let topic_head = if with_topic { "<th scope=\"col\">topic</th>" } else { "" };
    let mut table = format!(
        "<table id=\"messages\"><thead><tr><th scope=\"col\">time</th>{topic_head}<th scope=\"col\">message</th>\
         <th scope=\"col\">title</th><th scope=\"col\">sender</th><th scope=\"col\">type</th>\
         <th scope=\"col\" class=\"n\">bytes</th></tr></thead><tbody>\n"
    );
    for e in entries {
        let r = &e.row;
        let topic = match with_topic {
            true => format!("<td><a href=\"/browse/topic/{0}\">{0}</a></td>", escape_html(&r.topic)),
            false => String::new(),
        };
        let _ = writeln!(
            table,
            "<tr><td>{}</td>{topic}<td><a href=\"/browse/msg/{uuid}\">{uuid}</a>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td class=\"n\">{}</td></tr>",
            utc(r.timestamp),
            marks(r),
            shown(&r.title, CELL_SHOWN_BYTES_MAX),
            shown(&r.sender, CELL_SHOWN_BYTES_MAX),
            shown(&r.media_type, CELL_SHOWN_BYTES_MAX),
            r.size,
            uuid = r.uuid.hyphenated(),
        );
    }
    table.push_str("</tbody></table>");
    table
}

/// The retracted and conflict marks of a row in a list.
fn marks(row: &IndexRow) -> String {
    let mut marks = String::new();
    if row.retracted {
        marks.push_str(" <span class=\"mark retracted\">retracted</span>");
    }
    if row.claimed_uuid.is_some() {
        marks.push_str(" <span class=\"mark conflict\">UUID conflict</span>");
    }
    marks
}

/// `GET /browse/status`: per topic the visitor can read, the messages of
/// the last hour, the last day and all time (a window holds the messages
/// whose Kafka timestamp is at most that old, future-dated ones included,
/// as `archiver status` counts them), with all-time bytes, conflicts and
/// retractions; totals over every readable topic. Pages by topic name
/// like the front page.
pub async fn status(
    State(state): State<Arc<ApiState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (principal, after, stats) = topic_list_request(&state, query.as_deref(), &headers).await?;
    let now = crate::pipeline::now_ms();
    let hour = state.index.topic_stats_since(now - HOUR_MS).await?;
    let day = state.index.topic_stats_since(now - DAY_MS).await?;
    let count_of =
        |window: &[TopicStats]| -> HashMap<String, i64> { window.iter().map(|s| (s.topic.clone(), s.count)).collect() };
    let (hour, day) = (count_of(&hour), count_of(&day));
    let in_window = |window: &HashMap<String, i64>, topic: &str| window.get(topic).copied().unwrap_or(0);
    let mut table = String::from(
        "<table id=\"status\"><thead><tr><th scope=\"col\">topic</th><th scope=\"col\" class=\"n\">last hour</th>\
         <th scope=\"col\" class=\"n\">last day</th><th scope=\"col\" class=\"n\">all time</th>\
         <th scope=\"col\" class=\"n\">bytes</th><th scope=\"col\" class=\"n\">UUID conflicts</th>\
         <th scope=\"col\" class=\"n\">retracted</th></tr></thead><tbody>\n",
    );
    let rows_max = rows_bytes_max(state.limits.clients.response_size_bytes_max);
    let readable = readable_stats(&state, principal, &stats, after.as_deref());
    let (last, more) = push_rows(&mut table, readable, rows_max, |s| {
        let topic = escape_html(&s.topic);
        format!(
            "<tr><th scope=\"row\"><a href=\"/browse/topic/{topic}\">{topic}</a></th><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td></tr>",
            in_window(&hour, &s.topic),
            in_window(&day, &s.topic),
            s.count,
            s.size_bytes,
            s.conflicts,
            s.retracted
        )
    });
    let mut totals = [0i64; 6];
    for s in readable_stats(&state, principal, &stats, None) {
        let counts =
            [in_window(&hour, &s.topic), in_window(&day, &s.topic), s.count, s.size_bytes, s.conflicts, s.retracted];
        for (total, count) in totals.iter_mut().zip(counts) {
            *total += count;
        }
    }
    table.push_str("</tbody><tfoot><tr><th scope=\"row\">every topic you can read</th>");
    for total in totals {
        let _ = write!(table, "<td class=\"n\">{total}</td>");
    }
    table.push_str("</tr></tfoot></table>");
    let mut body = format!(
        "<p>Messages archived per topic, as of {}: a window holds the messages whose Kafka timestamp is at most an \
         hour or a day old (future-dated ones included). All-time totals may lag new messages by a few seconds.</p>\n",
        utc(now)
    );
    match last {
        None => body.push_str("<p>No topics to show.</p>\n"),
        Some(last) => {
            body.push_str(&scroll_table("Totals per topic", &table));
            if more {
                push_next_page(&mut body, "/browse/status", last, "more topics →");
            }
        }
    }
    Ok(html_response(document("Status", &body)))
}

/// `GET /browse/msg/{uuid}`: one message — its retracted and conflict
/// marks, where and when it was archived, download links, the payload by
/// type, headers and annotations. Decoding and rendering run on the
/// rendering pool; the page stays within the response bound (each text is
/// cut, and rows stop at half of it).
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
    let uuid = r.uuid.hyphenated();
    let mut body = notices(r);
    let topic = escape_html(&r.topic);
    body.push_str("<table id=\"metadata\">\n");
    let rows = [
        ("topic", format!("<a href=\"/browse/topic/{topic}\">{topic}</a>")),
        ("time", escape_html(&utc(r.timestamp))),
        ("UUID", uuid.to_string()),
        ("client UUID", r.is_client_uuid.to_string()),
        ("size", format!("{} bytes (archived object)", r.size)),
        ("media type", shown(&r.media_type, CELL_SHOWN_BYTES_MAX)),
        ("retracted", r.retracted.to_string()),
        ("UUID conflict", r.claimed_uuid.map_or_else(|| "false".to_owned(), |c| format!("claimed {c}"))),
    ];
    for (name, value) in rows {
        let _ = writeln!(body, "<tr><th scope=\"row\">{name}</th><td>{value}</td></tr>");
    }
    body.push_str("</table>\n");
    let file = if r.file_name.is_empty() || params::file_name(&r.file_name).is_err() {
        format!("{uuid}.bin")
    } else {
        r.file_name.clone()
    };
    let _ = writeln!(
        body,
        "<p><a id=\"download\" href=\"/msg/{uuid}/raw_file/{}\">download payload</a> · \
         <a id=\"download-bson\" href=\"/msg/{uuid}\">archived object (BSON)</a></p>",
        escape_html(&file),
    );
    body.push_str("<section aria-labelledby=\"payload-heading\"><h2 id=\"payload-heading\">Payload</h2>\n");
    body.push_str(&payload::payload_html(&r.media_type, record.payload()));
    body.push_str("</section>\n<section aria-labelledby=\"headers-heading\"><h2 id=\"headers-heading\">Headers</h2>\n");
    let mut table = String::from(
        "<table id=\"headers\"><thead><tr><th scope=\"col\">key</th><th scope=\"col\">value</th>\
         <th scope=\"col\">encoding</th></tr></thead><tbody>\n",
    );
    let headers: Vec<_> = record.metadata.headers.iter().flatten().collect();
    for (i, h) in headers.iter().enumerate() {
        if body.len() + table.len() > rows_max {
            let _ = writeln!(table, "<tr><td colspan=\"3\">{} more headers not shown</td></tr>", headers.len() - i);
            break;
        }
        let (value, encoding) = header_text(&h.key, &h.value);
        let value = value.as_str().map(str::to_owned).unwrap_or_else(|| "null".into());
        let _ = writeln!(
            table,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{encoding}</td></tr>",
            shown(&h.key, CELL_SHOWN_BYTES_MAX),
            shown(&value, TEXT_SHOWN_BYTES_MAX)
        );
    }
    table.push_str("</tbody></table>");
    body.push_str(&scroll_table("Headers", &table));
    body.push_str(
        "</section>\n<section aria-labelledby=\"annotations-heading\"><h2 id=\"annotations-heading\">Annotations</h2>\n",
    );
    let mut table = String::from("<table id=\"annotations\"><tbody>\n");
    let annotations = record.annotations.as_ref().map(|a| a.0.0.as_slice()).unwrap_or_default();
    for (i, (name, value)) in annotations.iter().enumerate() {
        if body.len() + table.len() > rows_max {
            let _ =
                writeln!(table, "<tr><td colspan=\"2\">{} more annotations not shown</td></tr>", annotations.len() - i);
            break;
        }
        let value = value_json(value);
        let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
        let _ = writeln!(
            table,
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            shown(name, CELL_SHOWN_BYTES_MAX),
            shown(&text, TEXT_SHOWN_BYTES_MAX)
        );
    }
    table.push_str("</tbody></table>");
    body.push_str(&scroll_table("Annotations", &table));
    body.push_str("</section>\n");
    let html = document(&format!("Message {uuid}"), &body);
    match html.len() as u64 > size_max {
        true => Err(ApiError::ResponseTooLarge { size_bytes_max: size_max }),
        false => Ok(html),
    }
}

/// The retracted and conflict notices at the top of a message page.
fn notices(row: &IndexRow) -> String {
    let mut notices = String::new();
    if row.retracted {
        notices.push_str(
            "<p class=\"notice retracted\" id=\"retracted\" role=\"note\"><strong>Retracted.</strong> Its sender or \
             the topic's owner withdrew this message; the archive keeps it, marked.</p>\n",
        );
    }
    if let Some(claimed) = row.claimed_uuid {
        let _ = writeln!(
            notices,
            "<p class=\"notice conflict\" id=\"conflict\" role=\"note\"><strong>UUID conflict.</strong> This message \
             claimed the UUID <a href=\"/browse/msg/{claimed}\">{claimed}</a>, which the archive already held for \
             different content, so it is stored under a UUID derived from its own content.</p>"
        );
    }
    notices
}
