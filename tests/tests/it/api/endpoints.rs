//! Each endpoint's contract: upstream-compatible BSON, JSON for people,
//! keyset paging, uploads through the ingest identity path, retraction.

use super::{Call, OWNER, PRIVATE, PUBLIC, READER, Server, WRITER, message, upload_body};
use crate::twisted::{Twist, Twisted};
use archiver::api::ApiLimits;
use archiver::index::{IndexRow, TimestampType};
use archiver::record::Record;
use archiver::store::{MemoryStore, ObjectStore as _, StoreError};
pub(super) use hop_archiver_tests::rows::row;
use reqwest::Method;
use uuid::Uuid;

#[tokio::test]
async fn api_msg_serves_the_stored_object_verbatim() {
    let server = Server::start().await;
    let uuid = server.seed(&message(PUBLIC, 1_700_000_000_123, br#"{"a": 1}"#)).await;
    let reply = server.get(&format!("/msg/{uuid}")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type(), "application/bson");
    let row = server.index.get(uuid).await.expect("index").expect("row");
    let stored = server.store.get(&row.row.key).await.expect("store").expect("object");
    assert_eq!(reply.body, stored.to_vec(), "bytes are the stored object's");
    assert_eq!(server.get(&format!("/msg/{}", Uuid::new_v4())).await.status, 404);
    assert_eq!(server.get("/msg/not-a-uuid").await.status, 400);
}

#[tokio::test]
async fn api_msg_renders_json_for_people() {
    let server = Server::start().await;
    let mut msg = message(PUBLIC, 1_700_000_000_000, b"hello \xff binary");
    msg.headers.push(archiver::record::Header::new("title", Some(b"A title")));
    let uuid = server.seed(&msg).await;
    let reply = server.call(Call::get(format!("/msg/{uuid}")).json()).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type(), "application/json");
    let json = reply.json();
    assert_eq!(json["uuid"], uuid.to_string());
    assert_eq!(json["payload_encoding"], "base64");
    assert_eq!(json["headers"][0]["key"], "_id");
    assert_eq!(json["headers"][0]["encoding"], "uuid");
    assert_eq!(json["headers"][0]["value"], uuid.to_string());
    assert_eq!(json["headers"][3]["value"], "A title");
    assert_eq!(json["annotations"]["title"], "A title");

    let text = server.seed(&message(PUBLIC, 1_700_000_000_001, br#"{"b": 2}"#)).await;
    let json = server.call(Call::get(format!("/msg/{text}")).json()).await.json();
    assert_eq!((json["payload"].as_str(), json["payload_encoding"].as_str()), (Some(r#"{"b": 2}"#), Some("utf-8")));
}

#[tokio::test]
async fn api_raw_file_returns_the_payload_current_and_legacy() {
    let server = Server::start().await;
    let uuid = server.seed(&message(PUBLIC, 1_700_000_000_000, b"payload bytes")).await;
    let reply = server.get(&format!("/msg/{uuid}/raw_file/alert.json")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"payload bytes");
    assert_eq!(reply.headers["content-disposition"], "attachment; filename=\"alert.json\"");

    // A legacy object (message = {format, content}): upstream answers with an empty body.
    let legacy = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/upstream/e1-simplebson-legacy.bson"))
        .expect("legacy fixture");
    let record = Record::decode(&legacy).expect("legacy decodes");
    let content = record.payload().expect("legacy content").to_vec();
    let uuid = Uuid::new_v4();
    let key = format!("{PUBLIC}/2023/01/01/{uuid}.bson");
    server.store.put_if_absent(&key, legacy.clone().into()).await.expect("put legacy");
    server.index.insert_batch(&[row(uuid, PUBLIC, &key, legacy.len())]).await.expect("index legacy");
    let reply = server.get(&format!("/msg/{uuid}/raw_file/legacy.bin")).await;
    assert_eq!(reply.status, 200);
    assert!(!content.is_empty());
    assert_eq!(reply.body, content);
    assert_eq!(server.get(&format!("/msg/{uuid}")).await.body, legacy, "legacy objects are served verbatim too");
}

/// The UUIDs of a BSON listing, with its tokens.
fn listed(reply: &super::Reply) -> (Vec<String>, Option<String>, Option<String>) {
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.content_type(), "application/bson");
    let doc = reply.bson();
    let messages = doc.get_array("messages").expect("messages");
    let uuids = messages
        .iter()
        .map(|m| {
            let m = m.as_document().expect("document");
            m.get_document("annotations").expect("annotations").get_str("con_text_uuid").expect("uuid").to_owned()
        })
        .collect();
    let token = |name| doc.get_str(name).ok().map(str::to_owned);
    (uuids, token("next"), token("prev"))
}

#[tokio::test]
async fn api_topic_listing_pages_forward_and_back_by_keyset_tokens() {
    let server = Server::start().await;
    let mut seeded = Vec::new();
    for i in 0..10 {
        seeded.push(server.seed(&message(PUBLIC, 1_000 + i, format!("m{i}").as_bytes())).await.to_string());
    }
    for meta in [true, false] {
        let mut pages = Vec::new();
        let mut path = format!("/topic/{PUBLIC}?limit=3&meta={meta}");
        loop {
            let (uuids, next, prev) = listed(&server.get(&path).await);
            pages.push((uuids, prev.clone()));
            match next {
                Some(next) => path = format!("/topic/{PUBLIC}?limit=3&meta={meta}&page={next}"),
                None => break,
            }
        }
        let all: Vec<String> = pages.iter().flat_map(|(u, _)| u.clone()).collect();
        assert_eq!(all, seeded, "meta={meta}: every message once, oldest first");
        assert_eq!(pages.len(), 4);
        assert_eq!(pages[0].1, None, "the first page has no prev");
        // prev of the last page is the third page.
        let prev = pages[3].1.clone().expect("prev token");
        let (uuids, next, _) = listed(&server.get(&format!("/topic/{PUBLIC}?limit=3&meta={meta}&page={prev}")).await);
        assert_eq!(uuids, pages[2].0);
        assert!(next.is_some());
    }
    // Descending, half-open time range [1002, 1005).
    let (uuids, _, _) = listed(&server.get(&format!("/topic/{PUBLIC}?asc=false&start_time=1002&end_time=1005")).await);
    assert_eq!(uuids, vec![seeded[4].clone(), seeded[3].clone(), seeded[2].clone()]);
    // A huge limit is capped (64 full messages, upstream's cap), not refused.
    let (uuids, _, _) = listed(&server.get(&format!("/topic/{PUBLIC}?limit=4000000000")).await);
    assert_eq!(uuids.len(), 10);
}

#[tokio::test]
async fn api_meta_records_carry_correct_values() {
    let server = Server::start().await;
    let payload = br#"{"a": 1}"#;
    let uuid = server.seed(&message(PUBLIC, 1_700_000_000_123, payload)).await;
    let reply = server.get(&format!("/topic/{PUBLIC}?meta=true")).await;
    let doc = reply.bson();
    let record = doc.get_array("messages").expect("messages")[0].as_document().expect("doc").clone();
    let annotations = record.get_document("annotations").expect("annotations");
    // Upstream puts `public` here (§11 item 21) and a binary UUID (item 24).
    assert_eq!(annotations.get_i64("con_message_crc32").expect("int64 crc"), i64::from(crc32fast::hash(payload)));
    assert_eq!(annotations.get_str("con_text_uuid").expect("string uuid"), uuid.to_string());
    assert!(annotations.get_bool("public").expect("public"));
    assert!(!annotations.get_bool("retracted").expect("retracted"));
    assert_eq!(annotations.get_str("sender").expect("sender"), "alice");
    let row = server.index.get(uuid).await.expect("index").expect("row").row;
    assert_eq!(annotations.get_i32("size").expect("size"), row.size);
    let metadata = record.get_document("metadata").expect("metadata");
    assert_eq!(metadata.get_i64("timestamp").expect("timestamp"), 1_700_000_000_123);
    assert_eq!(metadata.get_str("topic").expect("topic"), PUBLIC);
    // Array keys are canonical ("0", "1", …), unlike upstream's all-"0" (item 22).
    server.seed(&message(PUBLIC, 1_700_000_000_124, b"second")).await;
    let raw = server.get(&format!("/topic/{PUBLIC}?meta=true")).await.body;
    let raw = bson::RawDocument::from_bytes(&raw).expect("raw");
    assert_eq!(raw.get_array("messages").expect("array").into_iter().count(), 2);
    assert!(archiver::record::bson::decode(raw.as_bytes()).is_ok(), "our strict decoder accepts it: canonical keys");
}

#[tokio::test]
async fn api_messages_count_and_topics() {
    let server = Server::start().await;
    for i in 0..3 {
        server.seed(&message(PUBLIC, 10 + i, b"p")).await;
    }
    server.seed(&message(PRIVATE, 20, b"q")).await;
    let count = |path: &str, token| {
        let call = Call::get(path.to_owned()).token(token);
        async { server.call(call).await.bson().get_i32("count").expect("count") }
    };
    assert_eq!(count("/messages/count", None).await, 3, "anonymous counts public topics only");
    assert_eq!(count("/messages/count", Some(READER)).await, 4);
    assert_eq!(count(&format!("/messages/count?topic={PUBLIC}&start_time=11"), None).await, 2);
    let topics = server.get("/topics").await.bson();
    let names: Vec<&str> = topics.get_array("topics").expect("topics").iter().filter_map(|t| t.as_str()).collect();
    assert_eq!(names, vec![PUBLIC]);
    let json = server.call(Call::get("/topics").token(Some(READER)).json()).await.json();
    assert_eq!(json["topics"].as_array().expect("array").len(), 2);
    assert_eq!(json["topics"][1]["topic"], PUBLIC);
    assert_eq!(json["topics"][1]["count"], 3);
    // Multi-topic listing without names: only what the caller can read.
    let reply = server.call(Call::get("/messages?meta=true").json()).await.json();
    assert_eq!(reply["messages"].as_array().expect("messages").len(), 3);
}

#[tokio::test]
async fn api_upload_goes_through_the_identity_path() {
    let server = Server::start().await;
    let id = Uuid::new_v4();
    let body = upload_body(b"big alert", &[("_id", id.as_bytes()), ("_format", b"blob")], None);
    let post =
        |topic: &str, body: Vec<u8>| Call::new(Method::POST, format!("/topic/{topic}")).token(Some(WRITER)).body(body);
    let reply = server.call(post(PUBLIC, body.clone())).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.content_type(), "application/bson");
    let answer = reply.bson();
    assert_eq!(answer.get_str("archive_uuid").expect("uuid"), id.to_string());
    assert!(answer.get_bool("is_client_uuid").expect("flag"));
    // Stored as ingest would, plus what uploads add: _sender, direct_upload, upload timestamp type.
    let entry = server.index.get(id).await.expect("index").expect("row");
    assert!(entry.row.direct_upload);
    assert_eq!(entry.row.timestamp_type, TimestampType::Upload);
    assert_eq!(entry.row.sender, "writer");
    let object = server.store.get(&entry.row.key).await.expect("store").expect("object");
    let record = Record::decode(&object).expect("decodes");
    assert_eq!(record.payload(), Some(&b"big alert"[..]));
    assert_eq!(record.annotations.as_ref().and_then(|a| a.flag("direct_upload")), Some(true));

    // The same upload again (a retry, with a later server timestamp) is a duplicate.
    let reply = server.call(post(PUBLIC, body)).await;
    assert_eq!(reply.status, 422, "{}", reply.text());
    // The same _id with other content is a conflict: stored under its derived UUID.
    let other = upload_body(b"other alert", &[("_id", id.as_bytes())], None);
    let answer = server.call(post(PUBLIC, other)).await.bson();
    assert!(!answer.get_bool("is_client_uuid").expect("flag"));
    let derived: Uuid = answer.get_str("archive_uuid").expect("uuid").parse().expect("uuid");
    assert_ne!(derived, id);
    assert_eq!(server.index.get(derived).await.expect("index").expect("row").row.claimed_uuid, Some(id));
    // hop-client's offload target: access checked on the base topic, stored under the pseudo-topic.
    let reply = server.call(post(&format!("{PRIVATE}+oversized"), upload_body(b"huge", &[], Some(b"k")))).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let uuid: Uuid = reply.bson().get_str("archive_uuid").expect("uuid").parse().expect("uuid");
    assert_eq!(server.index.get(uuid).await.expect("index").expect("row").row.topic, format!("{PRIVATE}+oversized"));
}

#[tokio::test]
async fn api_upload_limits_and_read_only() {
    let limits = ApiLimits { upload_size_bytes_max: 2048, ..ApiLimits::default() };
    let server = Server::start_with(limits).await;
    let big = upload_body(&vec![7u8; 4096], &[], None);
    let reply = server.call(Call::new(Method::POST, format!("/topic/{PUBLIC}")).token(Some(WRITER)).body(big)).await;
    assert_eq!(reply.status, 413);
    let read_only = Server::start_with(ApiLimits { read_only: true, ..ApiLimits::default() }).await;
    let body = upload_body(b"x", &[], None);
    let reply =
        read_only.call(Call::new(Method::POST, format!("/topic/{PUBLIC}")).token(Some(WRITER)).body(body)).await;
    assert_eq!(reply.status, 501);
    let uuid = read_only.seed(&message(PUBLIC, 5, b"x")).await;
    let put = Call::new(Method::PUT, format!("/msg/{uuid}/retraction?retracted=true")).token(Some(OWNER));
    assert_eq!(read_only.call(put).await.status, 501);
}

#[tokio::test]
async fn api_retraction_hides_a_message_from_listings_on_request() {
    let server = Server::start().await;
    let uuid = server.seed(&message(PUBLIC, 5, b"x")).await;
    let put =
        |value: &str| Call::new(Method::PUT, format!("/msg/{uuid}/retraction?retracted={value}")).token(Some(OWNER));
    let reply = server.call(put("true")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.bson(), bson::Document::new());
    assert!(server.index.get(uuid).await.expect("index").expect("row").row.retracted);
    let s = &server;
    let count = |path: String| async move { s.get(&path).await.bson().get_i32("count").expect("count") };
    assert_eq!(count(format!("/messages/count?topic={PUBLIC}&include_retracted=false")).await, 0);
    assert_eq!(count(format!("/messages/count?topic={PUBLIC}")).await, 1, "upstream's default includes them");
    assert_eq!(server.call(put("maybe")).await.status, 400);
    assert_eq!(server.call(put("false")).await.status, 200);
    assert!(!server.index.get(uuid).await.expect("index").expect("row").row.retracted);
}

#[tokio::test]
async fn api_health_check_and_metrics() {
    let server = Server::start().await;
    let reply = server.get("/health_check").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), serde_json::json!({"DatabaseOK": true, "ObjectStoreOK": true}));
    server.get("/msg/not-a-uuid").await;
    let metrics = server.get("/metrics").await.text();
    assert!(
        metrics.contains(r#"archiver_api_requests_total{route="/msg/{uuid}",method="GET",status="400"} 1"#),
        "{metrics}"
    );
}

/// `/messages/count` relies on `Index::count`: one `COUNT(*)` per backend,
/// which must select exactly the rows `list` pages through.
#[tokio::test]
async fn api_index_count_agrees_with_listing_on_both_backends() {
    use archiver::index::ListQuery;
    let postgres = crate::support::fresh_database("api_count").await;
    for url in ["sqlite::memory:".to_owned(), postgres] {
        let index = archiver::index::open(&url).await.expect("index");
        let rows: Vec<IndexRow> = (0..8)
            .map(|i| {
                let uuid = Uuid::new_v4();
                let topic = if i < 5 { "a" } else { "b" };
                IndexRow { timestamp: i, ..row(uuid, topic, &format!("{topic}/{uuid}.bson"), 10) }
            })
            .collect();
        index.insert_batch(&rows).await.expect("insert");
        index.set_retracted(rows[2].uuid, true).await.expect("retract");
        let all = ListQuery::every_row(vec![], 3);
        let queries = [
            (all.clone(), 8),
            (ListQuery { topics: vec!["a".into()], ..all.clone() }, 5),
            (ListQuery { topics: vec!["a".into()], start_ms: Some(1), end_ms: Some(4), ..all.clone() }, 3),
            (ListQuery { include_retracted: false, ..all.clone() }, 7),
            (ListQuery { topics: vec!["none".into()], ..all.clone() }, 0),
        ];
        for (query, expected) in queries {
            let mut listed = 0;
            let mut page_query = query.clone();
            loop {
                let page = index.list(&page_query).await.expect("list");
                listed += page.entries.len() as u64;
                match page.next {
                    Some(next) => page_query.after = Some(next),
                    None => break,
                }
            }
            assert_eq!(listed, expected, "{url}: listing {query:?}");
            assert_eq!(index.count(&query).await.expect("count"), expected, "{url}: count {query:?}");
        }
    }
}

/// Reads that take `delay_ms`: the slow backend a deadline is for.
#[derive(Debug)]
struct Slow {
    delay_ms: u64,
}

#[async_trait::async_trait]
impl Twist for Slow {
    async fn get(&self, inner: &MemoryStore, key: &str) -> Result<Option<bytes::Bytes>, StoreError> {
        tokio::time::sleep(std::time::Duration::from_millis(self.delay_ms)).await;
        inner.get(key).await
    }
}

#[tokio::test]
async fn api_request_deadline_answers_408() {
    let store = std::sync::Arc::new(Twisted::new(Slow { delay_ms: 2_000 }));
    let limits = ApiLimits { request_timeout_ms: 200, ..ApiLimits::default() };
    let server = Server::start_on(limits, store).await;
    let uuid = server.seed(&message(PUBLIC, 1, b"x")).await;
    let started = std::time::Instant::now();
    let reply = server.get(&format!("/msg/{uuid}")).await;
    assert_eq!(reply.status, 408, "{}", reply.text());
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1_500),
        "answered at the deadline, not after the read"
    );
}

#[tokio::test]
async fn api_requests_beyond_the_in_flight_limit_get_503() {
    let store = std::sync::Arc::new(Twisted::new(Slow { delay_ms: 1_500 }));
    let server = std::sync::Arc::new(Server::start_on(ApiLimits::default(), store).await);
    let uuid = server.seed(&message(PUBLIC, 1, b"x")).await;
    let slow: Vec<_> = (0..archiver::api::REQUESTS_IN_FLIGHT_MAX)
        .map(|_| {
            let server = std::sync::Arc::clone(&server);
            tokio::spawn(async move { server.get(&format!("/msg/{uuid}")).await.status })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let reply = server.get("/health_check").await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    for task in slow {
        assert_eq!(task.await.expect("join"), 200, "the requests within the limit are answered");
    }
    assert_eq!(server.get("/health_check").await.status, 200, "capacity is back");
}
