//! Point 9 of issue 11: every response stays within
//! `response_size_bytes_max` (listings page earlier instead), however long
//! the annotations or payloads it is built from, and annotation text taken
//! from headers is bounded in the index row while the object keeps it whole.
//! Topic lists (`/topics`, the browse index) page by topic name (`after`).

use archiver::api::ApiLimits;
use archiver::config::ServeLimits;
use archiver::record::{Header, Record};
use uuid::Uuid;

use super::endpoints::row;
use super::{Call, PUBLIC, READER, Server, message};

const BOUND: u64 = 1 << 20;

fn bounded() -> ApiLimits {
    ApiLimits {
        clients: ServeLimits { response_size_bytes_max: BOUND, ..ServeLimits::default() },
        ..ApiLimits::default()
    }
}

/// `GET path` (JSON or not) must be answered 200 within [`BOUND`] bytes.
async fn check(server: &Server, path: &str, json: bool) -> super::Reply {
    check_as(server, path, json, None).await
}

/// [`check`] with a bearer `token`.
async fn check_as(server: &Server, path: &str, json: bool, token: Option<&str>) -> super::Reply {
    let call = Call::get(path).token(token);
    let reply = server.call(if json { call.json() } else { call }).await;
    assert_eq!(reply.status, 200, "{path} (json: {json}): {}", reply.text().chars().take(200).collect::<String>());
    assert!(
        reply.body.len() as u64 <= BOUND,
        "{path} (json: {json}) sent {} bytes, over the {BOUND}-byte response bound",
        reply.body.len()
    );
    reply
}

/// Rows archived before annotation texts were bounded: 50 titles of 100 KiB
/// of `"`, which HTML escaping makes six times longer.
#[tokio::test]
async fn api_pages_and_metadata_listings_of_huge_annotations_stay_bounded() {
    let server = Server::start_with(bounded()).await;
    let rows: Vec<_> = (0..50)
        .map(|i| {
            let uuid = Uuid::new_v4();
            let mut r = row(uuid, PUBLIC, &format!("{PUBLIC}/x/{uuid}.bson"), 10);
            r.timestamp += i;
            r.title = "\"".repeat(100 * 1024);
            r.sender = "<".repeat(20 * 1024);
            r
        })
        .collect();
    server.index.insert_batch(&rows).await.expect("rows");
    check(&server, &format!("/browse/topic/{PUBLIC}"), false).await;
    for json in [false, true] {
        check(&server, &format!("/topic/{PUBLIC}?meta=true&limit=1000"), json).await;
        check(&server, "/messages?meta=true&limit=1000", json).await;
    }
    let listed = check(&server, &format!("/topic/{PUBLIC}?meta=true&limit=1000"), true).await.json();
    let title = listed["messages"][0]["title"].as_str().expect("title");
    assert_eq!(title.len(), 1024, "a row's title is sent cut to 1 KiB");
}

/// Full-message listings of 40 messages with 100 KiB payloads of control
/// characters (600 KiB each as JSON) page within the bound and, followed
/// `next` by `next`, still give every message once.
#[tokio::test]
async fn api_full_listings_page_within_the_bound() {
    let server = Server::start_with(bounded()).await;
    let mut seeded = Vec::new();
    for i in 0..40 {
        seeded.push(server.seed(&message(PUBLIC, 1_000 + i, &[0x01; 100 * 1024])).await);
    }
    for json in [false, true] {
        let mut seen = Vec::new();
        let mut path = format!("/topic/{PUBLIC}?limit=64");
        for _ in 0..40 {
            let reply = check(&server, &path, json).await;
            let (uuids, next) = if json {
                let v = reply.json();
                let messages = v["messages"].as_array().expect("messages");
                let uuids: Vec<String> =
                    messages.iter().map(|m| m["uuid"].as_str().expect("uuid").to_owned()).collect();
                (uuids, v["next"].as_str().map(str::to_owned))
            } else {
                let doc = reply.bson();
                let messages = doc.get_array("messages").expect("messages");
                let uuid = |m: &bson::Bson| {
                    let annotations = m.as_document()?.get_document("annotations").ok()?;
                    annotations.get_str("con_text_uuid").ok().map(str::to_owned)
                };
                let uuids: Vec<String> = messages.iter().map(|m| uuid(m).expect("con_text_uuid")).collect();
                (uuids, doc.get_str("next").ok().map(str::to_owned))
            };
            assert!(!uuids.is_empty(), "json {json}: a page holds at least one message");
            seen.extend(uuids);
            match next {
                Some(token) => path = format!("/topic/{PUBLIC}?limit=64&page={token}"),
                None => break,
            }
        }
        let mut want: Vec<String> = seeded.iter().map(Uuid::to_string).collect();
        want.sort();
        seen.sort();
        assert_eq!(seen, want, "json {json}: paging gives every message once");
    }
    // One message whose JSON alone exceeds the bound: refused, not built.
    let big = server.seed(&message(PUBLIC, 5_000, &[0x01; 400 * 1024])).await;
    let reply = server.call(Call::get(format!("/msg/{big}")).json()).await;
    assert_eq!(reply.status, 406, "a 2.4 MB JSON rendering over a 1 MiB bound: {}", reply.text());
    assert_eq!(server.get(&format!("/msg/{big}")).await.status, 200, "the BSON object is still served");
}

/// Annotation texts from headers are cut to 1 KiB (at a character
/// boundary) in the index row; the stored object keeps the headers whole.
#[tokio::test]
async fn api_index_rows_bound_annotation_text_and_objects_keep_it() {
    let server = Server::start().await;
    let mut msg = message(PUBLIC, 1, b"x");
    let title = "t".repeat(5000);
    let sender = "é".repeat(3000);
    msg.headers.retain(|h| h.key != "_sender");
    msg.headers.push(Header::new("title", Some(title.as_bytes())));
    msg.headers.push(Header::new("_sender", Some(sender.as_bytes())));
    msg.headers.push(Header::new("originator", Some("o".repeat(2000).as_bytes())));
    let uuid = server.seed(&msg).await;
    let entry = server.index.get(uuid).await.expect("index").expect("row");
    let lengths = |r: &archiver::index::IndexRow| (r.title.len(), r.sender.len(), r.originator.len());
    assert_eq!(lengths(&entry.row), (1024, 1024, 1024), "title, sender, originator in the index row (bytes)");
    assert_eq!(entry.row.sender, "é".repeat(512), "cut at a character boundary");
    let object = server.store.get(&entry.row.key).await.expect("store").expect("object");
    let record = Record::decode(&object).expect("object decodes");
    let stored: Vec<_> =
        record.metadata.headers.iter().flatten().map(|h| h.value.as_bytes().map(<[u8]>::len)).collect();
    assert!(stored.contains(&Some(5000)) && stored.contains(&Some(6000)), "headers kept whole: {stored:?}");
    let annotations = record.annotations.expect("annotations");
    let stored_title = match annotations.0.get("title") {
        Some(archiver::record::bson::Value::String(t)) => t.len(),
        other => panic!("title annotation: {other:?}"),
    };
    assert_eq!(stored_title, 5000, "the object's annotations keep the whole title");
}

/// 6000 topics with names of about 240 bytes, some private and some
/// `+oversized`: every listing of them (BSON ~1.4 MB, JSON ~2 MB, HTML
/// ~3.5 MB) is over the bound. Followed page by page (`next` → `after`, or
/// the browse index's link), each list stays within it and gives every
/// topic the caller may read exactly once, in name order.
#[tokio::test]
async fn api_topic_lists_page_within_the_bound() {
    let server = Server::start_with(bounded()).await;
    let topics: Vec<String> = (0..6000)
        .map(|i| {
            let kind = if i % 10 == 0 { "private" } else { "public" };
            let suffix = if i % 7 == 0 { "+oversized" } else { "" };
            format!("{kind}.{i:05}.{}{suffix}", "t".repeat(230))
        })
        .collect();
    let rows: Vec<_> = topics.iter().map(|t| row(Uuid::new_v4(), t, &format!("{t}/x.bson"), 10)).collect();
    server.index.insert_batch(&rows).await.expect("rows");
    let mut everything = topics.clone();
    everything.sort();
    let public: Vec<String> = everything.iter().filter(|t| t.starts_with("public.")).cloned().collect();
    for (json, token, want) in [(false, None, &public), (true, None, &public), (false, Some(READER), &everything)] {
        let (seen, pages) = topic_pages(&server, json, token).await;
        assert!(pages > 1, "json {json}, token {token:?}: the list needs more than one page");
        assert_eq!(&seen, want, "json {json}, token {token:?}: every readable topic once, in order");
    }
    let (seen, pages) = browse_index_pages(&server).await;
    assert!(pages > 1, "the browse index needs more than one page");
    assert_eq!(seen, public, "browse index: every public topic once, in order");
    for path in ["/topics?after=a%20b", "/topics?after=", "/?after=..", "/topics?after=a&after=b"] {
        let reply = server.get(path).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.text());
        assert!(reply.text().contains("`after`"), "{path}: the answer names the parameter: {}", reply.text());
    }
}

/// The topics `/topics` lists, page by page, and how many pages it took.
async fn topic_pages(server: &Server, json: bool, token: Option<&str>) -> (Vec<String>, usize) {
    let mut seen = Vec::new();
    let mut path = "/topics".to_owned();
    for pages in 1..=50 {
        let reply = check_as(server, &path, json, token).await;
        let (names, next): (Vec<String>, _) = if json {
            let v = reply.json();
            let topics = v["topics"].as_array().expect("topics");
            (topics.iter().map(|t| t["topic"].as_str().expect("topic").to_owned()).collect(), v["next"].clone())
        } else {
            let doc = reply.bson();
            let topics = doc.get_array("topics").expect("topics");
            let next = doc.get_str("next").map_or(serde_json::Value::Null, |n| n.into());
            (topics.iter().map(|t| t.as_str().expect("topic name").to_owned()).collect(), next)
        };
        assert!(!names.is_empty(), "json {json}: a page lists at least one topic");
        seen.extend(names);
        let Some(next) = next.as_str() else { return (seen, pages) };
        assert_eq!(seen.last().map(String::as_str), Some(next), "`next` is the last topic sent");
        // `+` would read back as a space.
        path = format!("/topics?after={}", next.replace('+', "%2B"));
    }
    panic!("/topics (json: {json}) did not end within 50 pages");
}

/// The topics the browse index links to, page by page, and how many pages.
async fn browse_index_pages(server: &Server) -> (Vec<String>, usize) {
    let mut seen = Vec::new();
    let mut path = "/".to_owned();
    for pages in 1..=50 {
        let html = check(server, &path, false).await.text();
        let links = html.split("<a href=\"/browse/topic/").skip(1);
        seen.extend(links.map(|link| link.split('"').next().expect("link").to_owned()));
        let next = html.split("<a id=\"next\" href=\"").nth(1).and_then(|rest| rest.split('"').next());
        let Some(next) = next else { return (seen, pages) };
        path = next.to_owned();
    }
    panic!("the browse index did not end within 50 pages");
}
