//! Access control: every endpoint × every kind of caller × public and
//! private topics, and upstream's inverted-permission bug pinned as fixed.

use super::{Call, OWNER, PRIVATE, PUBLIC, READER, Server, WRITER, WRONG, message, upload_body};
use reqwest::Method;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Read,
    /// Read one message by UUID: without permission the answer is the
    /// "no such message" 404, so UUIDs of private messages do not leak.
    ReadMessage,
    Write,
    Owner,
}

/// Every endpoint that touches a topic, with the permission it needs.
fn endpoints(topic: &str, uuid: Uuid) -> Vec<(Need, Method, String)> {
    vec![
        (Need::ReadMessage, Method::GET, format!("/msg/{uuid}")),
        (Need::ReadMessage, Method::GET, format!("/msg/{uuid}/raw_file/payload.bin")),
        (Need::Read, Method::GET, format!("/topic/{topic}")),
        (Need::Read, Method::GET, format!("/topic/{topic}+oversized?meta=true")),
        (Need::Read, Method::GET, format!("/messages?topic={topic}")),
        (Need::Read, Method::GET, format!("/messages/count?topic={topic}")),
        (Need::Read, Method::GET, format!("/browse/topic/{topic}")),
        (Need::Read, Method::GET, format!("/browse/messages?topic={topic}")),
        (Need::ReadMessage, Method::GET, format!("/browse/msg/{uuid}")),
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
        (_, Need::Read | Need::ReadMessage) if public => ok,
        (Some(READER), Need::Read | Need::ReadMessage) | (Some(OWNER), _) | (Some(WRITER), Need::Write) => ok,
        // Neither readable nor retractable: indistinguishable from an unknown UUID.
        (_, Need::ReadMessage) => 404,
        (Some(WRITER), Need::Owner) if !public => 404,
        (None, _) => 401,
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
    assert_eq!(checked, 2 * 12 * 5);
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

/// Point 13 of issue 11: a caller who may not read a message gets exactly
/// the answer an unknown UUID gets, on every endpoint that takes a UUID.
#[tokio::test]
async fn api_private_message_existence_does_not_leak() {
    let server = Server::start().await;
    let private = server.seed(&message(PRIVATE, 1, b"secret")).await;
    let unknown = Uuid::new_v4();
    let paths =
        |uuid: Uuid| [format!("/msg/{uuid}"), format!("/msg/{uuid}/raw_file/a.bin"), format!("/browse/msg/{uuid}")];
    for caller in [None, Some(WRITER)] {
        for (private_path, unknown_path) in paths(private).into_iter().zip(paths(unknown)) {
            let a = server.call(Call::get(private_path.clone()).token(caller)).await;
            let b = server.call(Call::get(unknown_path).token(caller)).await;
            let text = |r: &super::Reply, uuid: Uuid| r.text().replace(&uuid.to_string(), "<uuid>");
            assert_eq!(
                (a.status, text(&a, private), a.headers.get("www-authenticate")),
                (b.status, text(&b, unknown), b.headers.get("www-authenticate")),
                "{private_path} as {caller:?}: a private message must look like an unknown one"
            );
            assert_eq!(a.status, 404);
        }
        let retract =
            |uuid: Uuid| Call::new(Method::PUT, format!("/msg/{uuid}/retraction?retracted=true")).token(caller);
        let (a, b) = (server.call(retract(private)).await, server.call(retract(unknown)).await);
        assert_eq!(a.status, b.status, "retraction as {caller:?}: private {} vs unknown {}", a.status, b.status);
    }
    assert_eq!(server.call(Call::get(format!("/msg/{private}")).token(Some(READER))).await.status, 200);
}

/// Point 13: page tokens are opaque. One public message, 30 private ones,
/// another public one: the anonymous caller's `next` token must not carry
/// the row id (which counts the private rows in between), two tokens for
/// one position differ, and an altered token is refused.
#[tokio::test]
async fn api_page_tokens_are_opaque() {
    use base64::Engine as _;
    let server = Server::start().await;
    let first = server.seed(&message(PUBLIC, 1, b"a")).await;
    for i in 0..30 {
        server.seed(&message(PRIVATE, 2 + i, b"p")).await;
    }
    let second = server.seed(&message(PUBLIC, 100, b"b")).await;
    let row = server.index.get(first).await.expect("index").expect("row");
    let (row_id, timestamp) = (row.id, row.row.timestamp);
    let next = || async {
        let json = server.call(Call::get(format!("/topic/{PUBLIC}?meta=true&limit=1")).json()).await.json();
        json["next"].as_str().expect("a next token").to_owned()
    };
    let (token, again) = (next().await, next().await);
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&token).unwrap_or_default();
    let shows = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
    // The clear-text layout was "v1.n.a.<timestamp>.<id>"; binary layouts would carry 8-byte integers.
    let clear = format!("{timestamp}.{row_id}");
    assert!(
        !shows(clear.as_bytes()) && !shows(&row_id.to_be_bytes()) && !shows(&row_id.to_le_bytes()),
        "token {token} shows the row id {row_id}"
    );
    assert_ne!(token, again, "tokens are sealed with a fresh nonce, not a function of the row");
    let page = server.call(Call::get(format!("/topic/{PUBLIC}?meta=true&limit=1&page={token}")).json()).await;
    assert_eq!(page.json()["messages"][0]["uuid"], second.to_string(), "the token still pages");
    let mut altered = token.into_bytes();
    altered[30] = if altered[30] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).expect("ascii");
    let reply = server.call(Call::get(format!("/topic/{PUBLIC}?meta=true&page={altered}"))).await;
    assert_eq!(reply.status, 400, "an altered token is refused");
}

/// Point 14: an `Authorization` header of another scheme than Bearer (what
/// hop-client sends by default is SCRAM) reads public data like no header;
/// private data then asks for a bearer token.
#[tokio::test]
async fn api_unsupported_authorization_schemes_read_public_data() {
    let server = Server::start().await;
    let public = server.seed(&message(PUBLIC, 1, b"open")).await;
    let client = reqwest::Client::new();
    for value in ["SCRAM-SHA-512 data=biwsbj1jYXJvbCxyPW5vbmNl", "Basic Y2Fyb2w6c2VjcmV0", "Negotiate abc", "Bearer"] {
        let get = |path: String| client.get(format!("{}{path}", server.base)).header("authorization", value).send();
        let msg = get(format!("/msg/{public}")).await.expect("answer");
        let status = msg.status().as_u16();
        let expected = if value == "Bearer" { 401 } else { 200 };
        assert_eq!(status, expected, "/msg with `Authorization: {value}`");
        if value == "Bearer" {
            continue;
        }
        assert_eq!(get(format!("/topic/{PUBLIC}")).await.expect("answer").status(), 200, "{value}");
        let private = get(format!("/topic/{PRIVATE}")).await.expect("answer");
        assert_eq!(private.status(), 401, "{value}: private data needs a credential");
        let challenge = private.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(challenge.starts_with("Bearer "), "{value}: the challenge names Bearer: {challenge:?}");
    }
    let wrong = client.get(format!("{}/msg/{public}", server.base)).bearer_auth(WRONG).send().await.expect("answer");
    assert_eq!(wrong.status(), 401, "an unknown bearer token is still refused");
}
