//! `search_query` over HTTP: combined with topics, time windows and paging;
//! never matching what the caller cannot read, counts included; hostile
//! queries answered 200 or 400, never 500. On the embedded index (SQLite
//! FTS5); PostgreSQL's answers are compared with it in `search::real`.

use super::{Call, OWNER, PRIVATE, PUBLIC, READER, Server, WRITER, message};
use std::collections::BTreeSet;

/// An archive where the same word is in public and private messages.
async fn seeded() -> (Server, BTreeSet<String>, BTreeSet<String>) {
    let server = Server::start().await;
    let (mut public, mut private) = (BTreeSet::new(), BTreeSet::new());
    for i in 0..6i64 {
        let body = format!(
            r#"{{"event": "S240101ab neutrino candidate {i}", "note": "{}"}}"#,
            ["quiet", "noisy"][i as usize % 2]
        );
        public.insert(server.seed(&message(PUBLIC, 1_000 + i, body.as_bytes())).await.to_string());
        private.insert(server.seed(&message(PRIVATE, 1_000 + i, body.as_bytes())).await.to_string());
    }
    server.seed(&message(PUBLIC, 2_000, br#"{"event": "unrelated"}"#)).await;
    (server, public, private)
}

/// The UUIDs of a JSON metadata listing, following `next` to the end.
async fn listed(server: &Server, path: &str, token: Option<&str>) -> Result<BTreeSet<String>, (u16, String)> {
    let mut found = BTreeSet::new();
    let mut next: Option<String> = None;
    loop {
        let page = next.as_ref().map(|t| format!("&page={t}")).unwrap_or_default();
        let reply = server.call(Call::get(format!("{path}&meta=true&limit=2{page}")).token(token).json()).await;
        if reply.status != 200 {
            return Err((reply.status, reply.text()));
        }
        let json = reply.json();
        for m in json["messages"].as_array().expect("messages") {
            found.insert(m["uuid"].as_str().expect("uuid").to_owned());
        }
        match json["next"].as_str() {
            Some(token) => next = Some(url_encode(token)),
            None => return Ok(found),
        }
    }
}

/// `text` percent-encoded for a query string (every byte but letters and digits).
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") })
        .collect()
}

async fn count(server: &Server, path: &str, token: Option<&str>) -> Result<u64, u16> {
    let reply = server.call(Call::get(path.to_owned()).token(token).json()).await;
    match reply.status {
        200 => Ok(reply.json()["count"].as_u64().expect("count")),
        status => Err(status),
    }
}

#[tokio::test]
async fn search_never_matches_what_the_caller_cannot_read() {
    let (server, public, private) = seeded().await;
    let both: BTreeSet<String> = public.union(&private).cloned().collect();
    let q = url_encode("neutrino S240101ab");
    // Anonymous and a writer (no read on private.*) see the public matches only.
    for caller in [None, Some(WRITER)] {
        assert_eq!(
            listed(&server, &format!("/messages?search_query={q}"), caller).await,
            Ok(public.clone()),
            "{caller:?}"
        );
        assert_eq!(count(&server, &format!("/messages/count?search_query={q}"), caller).await, Ok(6), "{caller:?}");
        let named = format!("/messages/count?topic={PRIVATE}&search_query={q}");
        assert!(matches!(count(&server, &named, caller).await, Err(401 | 403)), "{caller:?}: naming a private topic");
        let topic = format!("/topic/{PRIVATE}?search_query={q}");
        assert!(matches!(listed(&server, &topic, caller).await, Err((401 | 403, _))), "{caller:?}");
    }
    for caller in [READER, OWNER] {
        assert_eq!(listed(&server, &format!("/messages?search_query={q}"), Some(caller)).await, Ok(both.clone()));
        assert_eq!(count(&server, &format!("/messages/count?search_query={q}"), Some(caller)).await, Ok(12));
        let topic = format!("/topic/{PRIVATE}?search_query={q}");
        assert_eq!(listed(&server, &topic, Some(caller)).await, Ok(private.clone()));
    }
}

#[tokio::test]
async fn search_combines_with_topics_time_windows_exclusion_and_paging() {
    let (server, public, _) = seeded().await;
    let get = |query: &str| {
        let path = format!("/messages?topic={PUBLIC}&{query}");
        let server = &server;
        async move { listed(server, &path, None).await }
    };
    assert_eq!(get("search_query=candidates").await.map(|s| s.len()), Ok(6), "stems, paged two at a time");
    assert_eq!(get("search_query=neutrino&start_time=1002&end_time=1004").await.map(|s| s.len()), Ok(2));
    assert_eq!(get("search_query=neutrino+-noisy").await.map(|s| s.len()), Ok(3));
    assert_eq!(get("search_query=noisy+or+unrelated").await.map(|s| s.len()), Ok(4));
    assert_eq!(get("search_query=%22candidate+neutrino%22").await.map(|s| s.len()), Ok(0), "phrase order");
    assert_eq!(get("search_query=the").await, Ok(BTreeSet::new()), "stop words only: nothing");
    assert_eq!(get("search_query=").await.map(|s| s.len()), Ok(7), "an empty query is no search");
    let desc = listed(&server, &format!("/messages?topic={PUBLIC}&asc=false&search_query=neutrino"), None).await;
    assert_eq!(desc, Ok(public), "descending pages too");
}

#[tokio::test]
async fn hostile_search_queries_are_answered_200_or_400_never_500() {
    let (server, _, _) = seeded().await;
    let long = "neutrino ".repeat(1200);
    let hostile = [
        "\"",
        "'",
        "neutrino' OR 1=1; --",
        "'; DROP TABLE messages; --",
        "neutrino & | ! ( ) <-> :*",
        "NEAR(neutrino candidate)",
        "neutrino AND OR NOT",
        "-neutrino",
        "-neutrino or candidate",
        "--",
        "\\",
        "💥 neutrino",
        "\u{202e}neutrino",
        "neutrino\u{0}",
        "message_text MATCH 'x'",
        "*",
        "^neutrino",
        &long,
        "a b c d e f g h i j k l m n o p q r s t u v w x y z aa bb cc dd ee ff gg",
    ];
    for query in hostile {
        for path in ["/messages", "/messages/count", &format!("/topic/{PUBLIC}")] {
            let url = format!("{path}?search_query={}", url_encode(query));
            let reply = server.call(Call::get(url).json()).await;
            assert!(
                [200, 400].contains(&reply.status),
                "{path} {:?}: {} {}",
                &query[..query.len().min(40)],
                reply.status,
                reply.text()
            );
            if reply.status == 400 {
                assert!(
                    reply.text().contains("search_query") || reply.text().contains("query string"),
                    "{}",
                    reply.text()
                );
            }
        }
    }
    let refused = server.call(Call::get(format!("/messages?search_query={}", url_encode("-neutrino")))).await;
    assert_eq!(refused.status, 400, "a query of exclusions only would read every row");
    let twice = server.call(Call::get("/messages?search_query=a&search_query=b")).await;
    assert_eq!(twice.status, 400, "given twice");
}
