//! Access control: every endpoint × every kind of caller × public and
//! private topics, and upstream's inverted-permission bug pinned as fixed.

use super::{Call, OWNER, PRIVATE, PUBLIC, READER, Server, WRITER, WRONG, message, upload_body};
use reqwest::Method;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Read,
    Write,
    Owner,
}

/// Every endpoint that touches a topic, with the permission it needs.
fn endpoints(topic: &str, uuid: Uuid) -> Vec<(Need, Method, String)> {
    vec![
        (Need::Read, Method::GET, format!("/msg/{uuid}")),
        (Need::Read, Method::GET, format!("/msg/{uuid}/raw_file/payload.bin")),
        (Need::Read, Method::GET, format!("/topic/{topic}")),
        (Need::Read, Method::GET, format!("/topic/{topic}+oversized?meta=true")),
        (Need::Read, Method::GET, format!("/messages?topic={topic}")),
        (Need::Read, Method::GET, format!("/messages/count?topic={topic}")),
        (Need::Read, Method::GET, format!("/browse/topic/{topic}")),
        (Need::Read, Method::GET, format!("/browse/msg/{uuid}")),
        (Need::Write, Method::POST, format!("/topic/{topic}")),
        (Need::Write, Method::POST, format!("/topic/{topic}+oversized")),
        (Need::Owner, Method::PUT, format!("/msg/{uuid}/retraction?retracted=false")),
    ]
}

/// The status a caller must get. Credentials: reader reads `private.*`;
/// writer writes both (and cannot read private); owner owns both.
fn expected(caller: Option<&str>, need: Need, public: bool) -> u16 {
    let ok = match need {
        Need::Write => 201,
        _ => 200,
    };
    match (caller, need) {
        (Some(WRONG), _) => 401,
        (_, Need::Read) if public => ok,
        (None, _) => 401,
        (Some(READER), Need::Read) | (Some(OWNER), _) | (Some(WRITER), Need::Write) => ok,
        (Some(_), _) => 403,
    }
}

#[tokio::test]
async fn api_permission_matrix_every_endpoint_every_caller() {
    let server = Server::start().await;
    let callers = [None, Some(READER), Some(WRITER), Some(OWNER), Some(WRONG)];
    let mut failures = Vec::new();
    let mut checked = 0;
    for topic in [PUBLIC, PRIVATE] {
        let uuid = server.seed(&message(topic, 1_000, b"x")).await;
        for (need, method, path) in endpoints(topic, uuid) {
            for caller in callers {
                let mut call = Call::new(method.clone(), path.clone()).token(caller);
                if method == Method::POST {
                    call = call.body(upload_body(Uuid::new_v4().as_bytes(), &[], None));
                }
                let reply = server.call(call).await;
                let want = expected(caller, need, topic == PUBLIC);
                checked += 1;
                if reply.status != want {
                    failures.push(format!("{method} {path} as {caller:?}: got {}, want {want}", reply.status));
                }
                if reply.status == 401 && reply.headers.get("www-authenticate").is_none() {
                    failures.push(format!("{method} {path} as {caller:?}: 401 without WWW-Authenticate"));
                }
            }
        }
    }
    assert_eq!(checked, 2 * 11 * 5);
    assert!(failures.is_empty(), "{} of {checked} wrong:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test]
async fn api_listings_across_topics_filter_to_what_the_caller_may_read() {
    let server = Server::start().await;
    server.seed(&message(PUBLIC, 1, b"p")).await;
    server.seed(&message(PRIVATE, 2, b"q")).await;
    let s = &server;
    let topics_of = |token| async move {
        let json = s.call(Call::get("/messages?meta=true").token(token).json()).await.json();
        let mut topics: Vec<String> = json["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["topic"].as_str().expect("topic").to_owned())
            .collect();
        topics.sort();
        topics
    };
    assert_eq!(topics_of(None).await, vec![PUBLIC]);
    assert_eq!(topics_of(Some(WRITER)).await, vec![PUBLIC], "write does not imply read");
    assert_eq!(topics_of(Some(READER)).await, vec![PRIVATE, PUBLIC]);
    // Naming a topic the caller cannot read rejects the request (as /topic/{topic} does).
    let reply = server.call(Call::get(format!("/messages?topic={PUBLIC}&topic={PRIVATE}"))).await;
    assert_eq!(reply.status, 401);
    let reply = server.call(Call::get(format!("/messages?topic={PUBLIC}&topic={PRIVATE}")).token(Some(WRITER))).await;
    assert_eq!(reply.status, 403);
    let html = server.get("/").await.text();
    assert!(html.contains(PUBLIC) && !html.contains(PRIVATE), "the browse page lists public topics only");
}

/// Upstream §11 item 20: `GET /topic/{topic}` gave callers *without* Read
/// the non-public messages and callers *with* Read only the public ones.
#[tokio::test]
async fn api_regression_upstream_inverted_topic_permission_is_fixed() {
    let server = Server::start().await;
    let private = server.seed(&message(PRIVATE, 1, b"secret")).await;
    let path = format!("/topic/{PRIVATE}?meta=true");
    let with_read = server.call(Call::get(path.clone()).token(Some(READER)).json()).await;
    assert_eq!(with_read.status, 200);
    assert_eq!(with_read.json()["messages"][0]["uuid"], private.to_string(), "Read sees the topic's messages");
    for caller in [None, Some(WRITER)] {
        let reply = server.call(Call::get(path.clone()).token(caller).json()).await;
        assert!(matches!(reply.status, 401 | 403), "{caller:?} without Read got {}", reply.status);
        assert!(!reply.text().contains(&private.to_string()), "{caller:?} without Read must see nothing");
    }
}

#[tokio::test]
async fn api_retraction_by_sender_needs_write() {
    let server = Server::start().await;
    let mut msg = message(PRIVATE, 1, b"mine");
    msg.headers.retain(|h| h.key != "_sender");
    msg.headers.push(archiver::record::Header::new("_sender", Some(b"writer")));
    let uuid = server.seed(&msg).await;
    let put = |token| Call::new(Method::PUT, format!("/msg/{uuid}/retraction?retracted=true")).token(token);
    assert_eq!(server.call(put(Some(READER))).await.status, 403, "reader is not the sender");
    assert_eq!(server.call(put(Some(WRITER))).await.status, 200, "the sender with write may retract");
}
