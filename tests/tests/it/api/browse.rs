//! The browse pages as HTML over plain HTTP (no browser): time-window
//! filters and paging, the search box's capability, activity charts and
//! their bounds, payloads by type, retracted and conflict marks, the
//! status view, access rules and escaping. `browser.rs` opens the same
//! pages in Chromium.

use archiver::record::{Header, Message};
use uuid::Uuid;

use super::{Call, PRIVATE, PUBLIC, READER, Server, message};

/// 2023-11-14 22:13:20 UTC.
const T0: i64 = 1_700_000_000_000;
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// `GET path` (with `token`) must be a 200 HTML page under the browse
/// pages' Content-Security-Policy; returns its text.
async fn page_as(server: &Server, path: &str, token: Option<&str>) -> String {
    let reply = server.call(Call::get(path).token(token)).await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    assert!(reply.content_type().starts_with("text/html"), "{path}: {}", reply.content_type());
    let csp = reply.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"), "{path}: CSP {csp:?}");
    let html = reply.text();
    assert!(!html.contains("<script"), "{path}: a script element in\n{html}");
    html
}

async fn page(server: &Server, path: &str) -> String {
    page_as(server, path, None).await
}

/// `GET path` must be refused with a 400 whose text names `parameter`.
async fn refused(server: &Server, path: &str, parameter: &str) {
    let reply = server.get(path).await;
    assert_eq!(reply.status, 400, "{path}: {}", reply.text());
    assert!(reply.text().contains(parameter), "{path}: the answer names {parameter}: {}", reply.text());
}

/// The text between the first `start` and the next `end` after it.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html.find(start).unwrap_or_else(|| panic!("no {start:?} in\n{html}")) + start.len();
    let len = html[from..].find(end).unwrap_or_else(|| panic!("no {end:?} after {start:?} in\n{html}"));
    &html[from..from + len]
}

/// HTML text back to the characters it stands for (the five the pages escape).
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

/// The message UUIDs a list page links to, in page order.
fn listed(html: &str) -> Vec<Uuid> {
    let table = between(html, "<table id=\"messages\">", "</table>");
    table
        .split("<a href=\"/browse/msg/")
        .skip(1)
        .map(|rest| Uuid::parse_str(&rest[..36]).unwrap_or_else(|e| panic!("{e}: {rest}")))
        .collect()
}

/// The path of the paging link `rel` ("next" or "prev"), if there is one.
fn link(html: &str, rel: &str) -> Option<String> {
    let marker = format!("<a rel=\"{rel}\" href=\"");
    html.contains(&marker).then(|| unescape(between(html, &marker, "\"")))
}

/// A message like [`message`]'s with `_format` `format`.
fn formatted(topic: &str, timestamp: i64, format: &str, payload: &[u8]) -> Message {
    let mut msg = message(topic, timestamp, payload);
    msg.headers.retain(|h| h.key != "_format");
    msg.headers.push(Header::new("_format", Some(format.as_bytes())));
    msg
}

/// Seeds one message per timestamp on `topic`; returns the UUIDs in timestamp order.
async fn seed_at(server: &Server, topic: &str, stamps: impl IntoIterator<Item = i64>) -> Vec<(i64, Uuid)> {
    let mut seeded = Vec::new();
    for ts in stamps {
        seeded.push((ts, server.seed(&message(topic, ts, b"{}")).await));
    }
    seeded
}

#[tokio::test]
async fn browse_topic_page_filters_by_time_window_and_pages_within_it() {
    let server = Server::start().await;
    let seeded = seed_at(&server, PUBLIC, (0..120).map(|i| T0 + i * MINUTE_MS)).await;
    let (from, until) = (T0 + 10 * MINUTE_MS, T0 + 80 * MINUTE_MS);
    // Newest first, `until` excluded: the oracle is the seeded list itself.
    let want: Vec<Uuid> = seeded.iter().rev().filter(|(ts, _)| (from..until).contains(ts)).map(|&(_, u)| u).collect();
    assert_eq!(want.len(), 70);
    let path = format!("/browse/topic/{PUBLIC}?from=2023-11-14T22%3A23%3A20&until=2023-11-14T23%3A33%3A20");
    let first = page(&server, &path).await;
    assert!(first.contains("value=\"2023-11-14T22:23:20\"") && first.contains("value=\"2023-11-14T23:33:20\""));
    assert_eq!(listed(&first), want[..50], "the first 50 of the window, newest first");
    assert!(link(&first, "prev").is_none(), "the first page has no newer page");
    let older = link(&first, "next").expect("an older page");
    assert!(
        older.contains("from=2023-11-14T22%3A23%3A20") && older.contains("until="),
        "paging keeps the window: {older}"
    );
    let second = page(&server, &older).await;
    assert_eq!(listed(&second), want[50..], "the rest of the window, and nothing outside it");
    assert!(link(&second, "next").is_none(), "the window ends here");
    let newer = link(&second, "prev").expect("a newer page");
    assert_eq!(listed(&page(&server, &newer).await), want[..50], "back to the first page");
    // The window as the API gives it (ms) selects the same messages.
    let in_ms = page(&server, &format!("/browse/topic/{PUBLIC}?from={from}&until={until}")).await;
    assert_eq!(listed(&in_ms), want[..50]);
    let all = page(&server, &format!("/browse/topic/{PUBLIC}")).await;
    assert!(all.contains("<p id=\"window\">Newest first, 50 a page; all time.</p>"), "{all}");
    assert_eq!(listed(&all)[0], seeded[119].1);
}

#[tokio::test]
async fn browse_bad_filters_are_refused_naming_the_parameter() {
    let server = Server::start().await;
    let topic = format!("/browse/topic/{PUBLIC}");
    for (query, parameter) in [
        ("from=yesterday", "`from`"),
        ("until=2023-02-30", "`until`"),
        ("from=0000-01-01", "`from`"),
        ("from=2023-11-15&until=2023-11-14", "`from` is after `until`"),
        ("from=1&from=2", "`from`"),
        ("page=garbage", "page token"),
    ] {
        refused(&server, &format!("{topic}?{query}"), parameter).await;
        refused(&server, &format!("/browse/messages?{query}"), parameter).await;
    }
    refused(&server, "/browse/messages?topic=a%20b", "topic").await;
    refused(&server, "/browse/messages?topic=%3Cscript%3E", "topic").await;
}

/// Seeds one message per minute from [`T0`] on `topic`, every third about
/// S231114a and the others about GRB 231114A; returns (timestamp, UUID,
/// whether it is about the GRB).
async fn seed_alerts(server: &Server, topic: &str, count: i64) -> Vec<(i64, Uuid, bool)> {
    let mut seeded = Vec::new();
    for i in 0..count {
        let grb = i % 3 != 0;
        let event = if grb { "GRB 231114A" } else { "S231114a" };
        let payload = format!("{{\"event\": \"{event}\", \"n\": {i}}}");
        let ts = T0 + i * MINUTE_MS;
        seeded.push((ts, server.seed(&message(topic, ts, payload.as_bytes())).await, grb));
    }
    seeded
}

#[tokio::test]
async fn browse_search_finds_matches_within_the_window_and_keeps_both_across_pages() {
    let server = Server::start().await;
    let seeded = seed_alerts(&server, PUBLIC, 130).await;
    let (from, until) = (T0 + 10 * MINUTE_MS, T0 + 120 * MINUTE_MS);
    let want: Vec<Uuid> =
        seeded.iter().rev().filter(|(ts, _, grb)| *grb && (from..until).contains(ts)).map(|&(_, u, _)| u).collect();
    assert_eq!(want.len(), 74);
    let path = format!("/browse/topic/{PUBLIC}?from={from}&until={until}&search_query=GRB");
    let first = page(&server, &path).await;
    assert!(first.contains("value=\"GRB\""), "the query stays in the box");
    assert!(first.contains("matching the search “GRB”."), "{first}");
    assert_eq!(listed(&first), want[..50]);
    let older = link(&first, "next").expect("an older page");
    assert!(older.contains("search_query=GRB") && older.contains("from="), "{older}");
    assert_eq!(listed(&page(&server, &older).await), want[50..], "the rest of the matches in the window");
    let others: Vec<Uuid> = seeded.iter().rev().filter(|(_, _, grb)| !grb).map(|&(_, u, _)| u).collect();
    let all_others = page(&server, &format!("/browse/topic/{PUBLIC}?search_query=S231114a")).await;
    assert_eq!(listed(&all_others), others[..others.len().min(50)], "a search without a window");
    // A phrase, an exclusion with a word, and a phrase that is not there.
    let phrase = page(&server, &format!("/browse/topic/{PUBLIC}?search_query=%22GRB+231114A%22+-S231114a")).await;
    assert_eq!(listed(&phrase).len(), 50);
    let nothing = page(&server, &format!("/browse/topic/{PUBLIC}?search_query=%22231114A+GRB%22")).await;
    assert!(nothing.contains("No messages in this window."), "words out of order are no phrase");
}

/// Private messages match only for readers of their topic, on the
/// cross-topic page as everywhere.
#[tokio::test]
async fn browse_search_across_topics_never_shows_private_matches_to_others() {
    let server = Server::start().await;
    let public = seed_alerts(&server, PUBLIC, 3).await;
    let private = seed_alerts(&server, PRIVATE, 3).await;
    let grb = |seeded: &[(i64, Uuid, bool)]| -> Vec<Uuid> { seeded.iter().filter(|s| s.2).map(|s| s.1).collect() };
    let anonymous = page(&server, "/browse/messages?search_query=GRB").await;
    let mut want = grb(&public);
    want.reverse();
    assert_eq!(listed(&anonymous), want);
    assert!(!anonymous.contains(PRIVATE));
    let reader = page_as(&server, "/browse/messages?search_query=GRB", Some(READER)).await;
    let mut got = listed(&reader);
    got.sort();
    let mut want: Vec<Uuid> = grb(&public).into_iter().chain(grb(&private)).collect();
    want.sort();
    assert_eq!(got, want, "the reader finds the private matches too");
    let reply = server.get(&format!("/browse/messages?search_query=GRB&topic={PRIVATE}")).await;
    assert_eq!(reply.status, 401, "naming a private topic anonymously: {}", reply.text());
}

/// Hostile queries: refused with a 400 naming the parameter when no index
/// could answer them, else answered — and echoed only escaped.
#[tokio::test]
async fn browse_hostile_searches_are_refused_or_escaped() {
    let server = Server::start().await;
    seed_alerts(&server, PUBLIC, 3).await;
    let topic = format!("/browse/topic/{PUBLIC}");
    // (The query string itself is bounded at 8 KiB, before any parameter is read.)
    for query in ["-GRB", "-GRB+or+-S231114a", &"x".repeat(2 * 1024), "a%00b"] {
        refused(&server, &format!("{topic}?search_query={query}"), "search_query").await;
        refused(&server, &format!("/browse/messages?search_query={query}"), "search_query").await;
    }
    for query in
        ["%22unterminated", "%27%3B+DROP+TABLE+messages%3B+--", "a+or+or+b", "%3Cscript%3Ealert(1)%3C%2Fscript%3E", "*"]
    {
        let html = page(&server, &format!("{topic}?search_query={query}")).await;
        assert!(!html.contains("<script>alert"), "{query}: echoed unescaped");
    }
    let html = page(&server, &format!("{topic}?search_query=%3Cscript%3Ealert(1)%3C%2Fscript%3E")).await;
    assert!(html.contains("value=\"&lt;script&gt;alert(1)&lt;/script&gt;\""), "{html}");
    assert!(html.contains("“&lt;script&gt;alert(1)&lt;/script&gt;”"));
}

/// A topic whose text is not indexed has its search box disabled, with a note.
#[tokio::test]
async fn browse_search_box_is_disabled_on_topics_without_indexed_text() {
    let text = archiver::text::TextIndexing { topics: vec!["public.*".into()], limits: Default::default() };
    let server =
        Server::start_text(Default::default(), std::sync::Arc::new(archiver::store::MemoryStore::new()), text).await;
    seed_alerts(&server, PUBLIC, 1).await;
    seed_alerts(&server, PRIVATE, 1).await;
    let box_of = |html: &str| between(html, "<input type=\"search\"", ">").to_owned();
    let public = page(&server, &format!("/browse/topic/{PUBLIC}")).await;
    assert!(!box_of(&public).contains("disabled"), "{}", box_of(&public));
    let private = page_as(&server, &format!("/browse/topic/{PRIVATE}"), Some(READER)).await;
    assert!(box_of(&private).contains(" disabled"), "{}", box_of(&private));
    assert!(private.contains("This topic's text is not indexed, so it cannot be searched."));
    assert!(page(&server, "/browse/messages").await.contains("Only topics whose text is indexed are searched."));
}

#[tokio::test]
async fn browse_cross_topic_page_lists_only_readable_topics() {
    let server = Server::start().await;
    let public = seed_at(&server, PUBLIC, [T0, T0 + 2]).await;
    let private = seed_at(&server, PRIVATE, [T0 + 1]).await;
    let anonymous = page(&server, "/browse/messages").await;
    assert_eq!(listed(&anonymous), [public[1].1, public[0].1]);
    assert!(!anonymous.contains(PRIVATE), "nothing of the private topic, not even in the topic picker");
    assert!(anonymous.contains(&format!("<option>{PUBLIC}</option>")), "the picker offers the public topic");
    let reader = page_as(&server, "/browse/messages", Some(READER)).await;
    assert_eq!(listed(&reader), [public[1].1, private[0].1, public[0].1], "every readable topic, newest first");
    assert!(reader.contains(&format!("<td><a href=\"/browse/topic/{PRIVATE}\">{PRIVATE}</a></td>")), "a topic column");
    let chosen = page_as(&server, &format!("/browse/messages?topic={PRIVATE}"), Some(READER)).await;
    assert_eq!(listed(&chosen), [private[0].1]);
    assert!(chosen.contains(&format!("<option selected>{PRIVATE}</option>")), "the choice is kept in the form");
    let reply = server.get(&format!("/browse/messages?topic={PRIVATE}")).await;
    assert_eq!(reply.status, 401, "naming a private topic anonymously: {}", reply.text());
    let windowed = page(&server, &format!("/browse/messages?from={}&until={}", T0 + 1, T0 + 3)).await;
    assert_eq!(listed(&windowed), [public[1].1]);
}

/// The (label, count) rows of the activity table.
fn activity_rows(html: &str) -> Vec<(String, i64)> {
    let table = between(html, "<table id=\"activity-table\">", "</table>");
    table
        .split("<tr><td>")
        .skip(1)
        .map(|row| {
            let label = row.split("</td>").next().expect("label").to_owned();
            let count = between(row, "<td class=\"n\">", "</td>").parse().expect("count");
            (label, count)
        })
        .collect()
}

#[tokio::test]
async fn browse_topic_chart_counts_the_window_per_hour_or_day() {
    let server = Server::start().await;
    let hour = T0 - T0 % HOUR_MS; // 2023-11-14 22:00 UTC
    let stamps = [hour - 1, hour, hour + 5, hour + HOUR_MS - 1, hour + 2 * HOUR_MS, hour + 5 * HOUR_MS + 1];
    seed_at(&server, PUBLIC, stamps).await;
    seed_at(&server, PRIVATE, [hour + 10]).await;
    // 21:30 to 04:00 (not included): hourly, the first hour cut by the window.
    let html =
        page(&server, &format!("/browse/topic/{PUBLIC}?from={}&until={}", hour - HOUR_MS / 2, hour + 6 * HOUR_MS))
            .await;
    let want: Vec<(String, i64)> = [
        ("2023-11-14 21:00", 1),
        ("2023-11-14 22:00", 3),
        ("2023-11-14 23:00", 0),
        ("2023-11-15 00:00", 1),
        ("2023-11-15 01:00", 0),
        ("2023-11-15 02:00", 0),
        ("2023-11-15 03:00", 1),
    ]
    .iter()
    .map(|&(label, count)| (label.to_owned(), count))
    .collect();
    assert_eq!(activity_rows(&html), want);
    let summary = "Messages per hour from 2023-11-14 21:30 to 2023-11-15 04:00 UTC: 6 in total; the busiest hour, \
                   from 2023-11-14 22:00, had 3.";
    assert!(html.contains(&format!("<p id=\"activity-summary\">{summary}</p>")), "{html}");
    let svg = between(&html, "<svg class=\"chart\"", "</svg>");
    assert!(svg.contains("role=\"img\"") && svg.contains(&format!("<title id=\"activity-title\">{summary}</title>")));
    assert_eq!(svg.matches("<rect class=\"bar\"").count(), 4, "one bar per hour with messages");
    // A year: per 3 days, within the bucket bound; ten thousand years too.
    let year = page(&server, &format!("/browse/topic/{PUBLIC}?from=2023-01-01&until=2024-01-01")).await;
    assert!(year.contains("Messages per 3 days from 2023-01-01 to 2024-01-01 UTC: 6 in total"), "{year}");
    assert_eq!(activity_rows(&year).iter().map(|r| r.1).sum::<i64>(), 6);
    let ages = page(&server, &format!("/browse/topic/{PUBLIC}?from=0001-01-01&until=9999-12-31")).await;
    let rows = activity_rows(&ages);
    assert!(rows.len() <= 180 && rows.iter().map(|r| r.1).sum::<i64>() == 6, "{} buckets", rows.len());
    // Without a window: the topic's own span (under 30 days), per hour.
    let default = page(&server, &format!("/browse/topic/{PUBLIC}")).await;
    assert!(
        default.contains("Messages per hour from 2023-11-14 21:59 to 2023-11-15 03:00 UTC: 6 in total"),
        "{default}"
    );
    let empty = page(&server, &format!("/browse/topic/{PUBLIC}?from={hour}&until={hour}")).await;
    assert!(empty.contains("The time window is empty.") && !empty.contains("<svg"));
}

#[tokio::test]
async fn browse_front_page_charts_recent_days_of_readable_topics_only() {
    let server = Server::start().await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    seed_at(&server, PUBLIC, [now - DAY_MS, now - 60_000, now - 20 * DAY_MS]).await;
    seed_at(&server, PRIVATE, [now - 60_000]).await;
    let anonymous = page(&server, "/").await;
    assert_eq!(anonymous.matches("<svg class=\"spark\"").count(), 1, "{anonymous}");
    let label = between(&anonymous, "<svg class=\"spark\"", ">");
    assert!(label.contains("role=\"img\"") && label.contains("aria-label=\"Messages per day from "), "{label}");
    assert!(label.contains(": 2 in total; the busiest day, from "), "the 20-day-old message is outside: {label}");
    assert!(!anonymous.contains(PRIVATE));
    let reader = page_as(&server, "/", Some(READER)).await;
    assert_eq!(reader.matches("<svg class=\"spark\"").count(), 2);
    let private_row = between(&reader, &format!("<a href=\"/browse/topic/{PRIVATE}\">"), "</tr>");
    assert!(private_row.contains(": 1 in total;"), "{private_row}");
}

#[tokio::test]
async fn browse_front_page_pages_a_bounded_number_of_topics() {
    let server = Server::start().await;
    let rows: Vec<_> = (0..250)
        .map(|i| {
            let topic = format!("public.t{i:03}");
            super::endpoints::row(Uuid::new_v4(), &topic, &format!("{topic}/x.bson"), 10)
        })
        .collect();
    server.index.insert_batch(&rows).await.expect("rows");
    let first = page(&server, "/").await;
    assert_eq!(first.matches("<a href=\"/browse/topic/").count(), 200);
    let next = between(&first, "<a id=\"next\" href=\"", "\"").to_owned();
    assert_eq!(next, "/?after=public.t199");
    let second = page(&server, &next).await;
    assert_eq!(second.matches("<a href=\"/browse/topic/").count(), 50);
    assert!(!second.contains("id=\"next\""));
}

/// The text of the payload's `<pre>` as a browser shows it, and how it is shown.
fn payload_of(html: &str) -> (String, String) {
    let pre = between(html, "<pre id=\"payload\" data-encoding=\"", "</pre>");
    let (encoding, rest) = pre.split_once('"').expect("encoding");
    (encoding.to_owned(), unescape(&rest[rest.find('>').expect("tag end") + 1..]))
}

#[tokio::test]
async fn browse_message_pages_show_payloads_by_type() {
    let server = Server::start().await;
    let json = br#"{"event":"S231114a","far":1.50e-10,"tags":["<b>",{}],"nested":{"ok":true}}"#;
    let xml = b"<?xml version=\"1.0\"?><voe:VOEvent role=\"test\"><What><Param name=\"ra\" value=\"1.5\"/></What></voe:VOEvent>";
    let circular = b"TITLE:   GCN CIRCULAR\nSUBJECT: GRB 231114A <maybe> & more\n";
    let blob: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    // (`_format`, payload, how it is shown, the text shown)
    let cases: [(&str, &[u8], &str, &str); 4] = [
        (
            "json",
            json,
            "json",
            "{\n  \"event\": \"S231114a\",\n  \"far\": 1.50e-10,\n  \"tags\": [\n    \"<b>\",\n    {}\n  ],\n  \
             \"nested\": {\n    \"ok\": true\n  }\n}",
        ),
        (
            "voevent",
            xml,
            "xml",
            "<?xml version=\"1.0\"?>\n<voe:VOEvent role=\"test\">\n  <What>\n    <Param name=\"ra\" value=\"1.5\"/>\n  \
             </What>\n</voe:VOEvent>",
        ),
        ("circular", circular, "text", "TITLE:   GCN CIRCULAR\nSUBJECT: GRB 231114A <maybe> & more\n"),
        ("blob", &blob, "hex", ""),
    ];
    for (name, payload, encoding, shown) in cases {
        let uuid = server.seed(&formatted(PUBLIC, T0, name, payload)).await;
        let html = page(&server, &format!("/browse/msg/{uuid}")).await;
        let (got_encoding, text) = payload_of(&html);
        assert_eq!(got_encoding, encoding, "{name}");
        if encoding == "hex" {
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), 4096 / 16, "{name}: a bounded dump");
            assert_eq!(lines[1], "00000010  70 77 7e 85 8c 93 9a a1  a8 af b6 bd c4 cb d2 d9  |pw~.............|");
            assert!(html.contains("Showing the first 4096 of 10000 bytes"), "{name}");
        } else {
            assert_eq!(text, shown, "{name}");
        }
        // The download links lead to the raw payload and to the stored object.
        let raw = unescape(between(&html, "<a id=\"download\" href=\"", "\""));
        assert_eq!(server.get(&raw).await.body, payload, "{name}: {raw}");
        let object = unescape(between(&html, "<a id=\"download-bson\" href=\"", "\""));
        assert_eq!(object, format!("/msg/{uuid}"));
        let stored = server.store.get(&server.index.get(uuid).await.expect("index").expect("row").row.key).await;
        assert_eq!(server.get(&object).await.body, stored.expect("store").expect("object"), "{name}");
    }
}

#[tokio::test]
async fn browse_marks_retracted_and_conflicting_messages() {
    let server = Server::start().await;
    let first = message(PUBLIC, T0, b"{\"n\": 1}");
    let claimed = server.seed(&first).await;
    // Another message under the same `_id`: stored under its derived UUID.
    let mut second = message(PUBLIC, T0 + 1, b"{\"n\": 2}");
    second.headers = first.headers.clone();
    let derived = server.seed(&second).await;
    assert_ne!(derived, claimed);
    assert!(server.index.set_retracted(claimed, true).await.expect("retract"));
    let listing = page(&server, &format!("/browse/topic/{PUBLIC}")).await;
    let row = |uuid: Uuid| between(&listing, &format!("<a href=\"/browse/msg/{uuid}\">"), "</tr>").to_owned();
    assert!(row(claimed).contains("<span class=\"mark retracted\">retracted</span>"), "{}", row(claimed));
    assert!(!row(claimed).contains("conflict"));
    assert!(row(derived).contains("<span class=\"mark conflict\">UUID conflict</span>"), "{}", row(derived));
    assert!(!row(derived).contains("retracted"));
    let retracted = page(&server, &format!("/browse/msg/{claimed}")).await;
    assert!(retracted.contains("<p class=\"notice retracted\" id=\"retracted\" role=\"note\">"));
    assert!(!retracted.contains("id=\"conflict\""));
    let conflict = page(&server, &format!("/browse/msg/{derived}")).await;
    let notice = between(&conflict, "<p class=\"notice conflict\" id=\"conflict\" role=\"note\">", "</p>");
    assert!(notice.contains(&format!("<a href=\"/browse/msg/{claimed}\">{claimed}</a>")), "{notice}");
    assert!(!conflict.contains("id=\"retracted\""));
}

/// The numbers of the status table's row for `topic`, or of its totals row.
fn status_row(html: &str, topic: Option<&str>) -> Vec<i64> {
    let row = match topic {
        Some(topic) => between(html, &format!("<a href=\"/browse/topic/{topic}\">{topic}</a></th>"), "</tr>"),
        None => between(html, "<tfoot><tr><th scope=\"row\">every topic you can read</th>", "</tr>"),
    };
    row.split("<td class=\"n\">")
        .skip(1)
        .map(|cell| cell.split('<').next().expect("cell").parse().expect("number"))
        .collect()
}

#[tokio::test]
async fn browse_status_counts_the_last_hour_day_and_all_time() {
    let server = Server::start().await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    // A future-dated message counts in every window, as in `archiver status`.
    seed_at(&server, PUBLIC, [now - 10 * MINUTE_MS, now - 3 * HOUR_MS, now - 3 * DAY_MS, now + HOUR_MS]).await;
    seed_at(&server, PRIVATE, [now - 10 * MINUTE_MS]).await;
    let stats = server.index.topic_stats().await.expect("stats");
    let size = |topic: &str| stats.iter().find(|s| s.topic == topic).map_or(0, |s| s.size_bytes);
    let (public_bytes, private_bytes) = (size(PUBLIC), size(PRIVATE));
    let anonymous = page(&server, "/browse/status").await;
    assert_eq!(status_row(&anonymous, Some(PUBLIC)), [2, 3, 4, public_bytes, 0, 0]);
    assert_eq!(status_row(&anonymous, None), [2, 3, 4, public_bytes, 0, 0], "totals of what the visitor can read");
    assert!(!anonymous.contains(PRIVATE));
    let reader = page_as(&server, "/browse/status", Some(READER)).await;
    assert_eq!(status_row(&reader, Some(PRIVATE)), [1, 1, 1, private_bytes, 0, 0]);
    assert_eq!(status_row(&reader, None), [3, 4, 5, public_bytes + private_bytes, 0, 0]);
}

/// Markup from the archive (titles, senders, header keys and values,
/// payloads) is shown as text on every page, never interpreted.
#[tokio::test]
async fn browse_pages_escape_everything_from_the_archive() {
    let server = Server::start().await;
    let mut hostile = formatted(PUBLIC, T0, "json", b"</pre><script>alert(1)</script>");
    hostile.headers.push(Header::new("title", Some(b"<script>alert('t')</script>")));
    hostile.headers.push(Header::new("<b onmouseover=x>", Some(b"\"><img src=x onerror=alert(1)>")));
    let uuid = server.seed(&hostile).await;
    for path in [format!("/browse/topic/{PUBLIC}"), "/browse/messages".to_owned(), format!("/browse/msg/{uuid}")] {
        let html = page(&server, &path).await;
        assert!(!html.contains("<img") && !html.contains("<b onmouseover"), "{path}: markup from the archive\n{html}");
        assert!(html.contains("&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;"), "{path}: the title, escaped");
    }
    let message = page(&server, &format!("/browse/msg/{uuid}")).await;
    assert_eq!(payload_of(&message), ("text".to_owned(), "</pre><script>alert(1)</script>".to_owned()));
    assert!(message.contains("&lt;b onmouseover=x&gt;") && message.contains("&quot;&gt;&lt;img src=x"));
}

/// Binary payloads as hex, 50 messages a page, and paging back and forth
/// without a filter.
#[tokio::test]
async fn browse_pages_show_hex_and_page_without_a_filter() {
    let server = Server::start().await;
    let binary = server.seed(&message(PUBLIC, 5, b"\x00\x01bin\xff")).await;
    for i in 0..56 {
        server.seed(&message(PUBLIC, 100 + i, b"filler")).await;
    }
    let html = page(&server, &format!("/browse/msg/{binary}")).await;
    assert!(html.contains("data-encoding=\"hex\" class=\"hex\" tabindex=\"0\">00000000  00 01 62 69 6e ff"), "{html}");
    assert!(html.contains(&format!("href=\"/msg/{binary}/raw_file/{binary}.bin\"")), "download link");
    let first = page(&server, &format!("/browse/topic/{PUBLIC}")).await;
    assert_eq!(listed(&first).len(), 50, "50 per page, newest first");
    let older = link(&first, "next").expect("an older page");
    assert!(older.starts_with(&format!("/browse/topic/{PUBLIC}?page=")), "{older}");
    let second = page(&server, &older).await;
    assert_eq!(listed(&second).len(), 7);
    assert_eq!(listed(&second).last(), Some(&binary));
    assert!(link(&second, "prev").is_some());
}
