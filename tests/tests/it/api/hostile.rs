//! Hostile input: every malformed request gets a clear 4xx and changes
//! nothing; a seeded stream of random requests finds no 5xx and no panic.

use super::{Call, OWNER, PUBLIC, Server, WRITER, message, upload_body};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use reqwest::Method;

/// Rows in the index and objects in the store: what "changes nothing" compares.
async fn archive_size(server: &Server) -> (u64, usize) {
    let query = archiver::index::ListQuery::every_row(vec![], 1);
    let rows = server.index.count(&query).await.expect("count");
    let objects = server.store.list("", None, 1000).await.expect("list").objects.len();
    (rows, objects)
}

#[tokio::test]
async fn api_hostile_requests_get_clear_4xx_and_change_nothing() {
    let server = Server::start().await;
    let uuid = server.seed(&message(PUBLIC, 1, b"x")).await;
    let long_topic = "a".repeat(250);
    let nested = {
        // 200 levels of nested documents: deeper than the decoder allows.
        let mut doc = vec![5, 0, 0, 0, 0];
        for _ in 0..200 {
            let mut outer = vec![0u8; 4];
            outer.push(0x03);
            outer.extend_from_slice(b"a\0");
            outer.extend_from_slice(&doc);
            outer.push(0);
            let len = (outer.len() as i32).to_le_bytes();
            outer[..4].copy_from_slice(&len);
            doc = outer;
        }
        doc
    };
    let mut truncated = upload_body(b"payload", &[], None);
    truncated.truncate(truncated.len() - 3);
    let wrong_type = {
        let mut out = Vec::new();
        bson::doc! {"message": "text, not binary"}.to_writer(&mut out).expect("encode");
        out
    };
    let extra_field = {
        let mut out = Vec::new();
        let binary = bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: b"x".to_vec() };
        bson::doc! {"message": binary, "evil": 1}.to_writer(&mut out).expect("encode");
        out
    };
    let cases: Vec<(Method, String, Option<Vec<u8>>)> = vec![
        (Method::GET, "/topic/..%2F..%2Fetc%2Fpasswd".into(), None),
        // (A bare `..` segment, even as %2e%2e, is resolved by the client's URL parser before sending.)
        (Method::GET, "/topic/%2e%2e%2fsecret".into(), None),
        (Method::GET, format!("/topic/{long_topic}"), None),
        (Method::GET, "/topic/x'%3B%20DROP%20TABLE%20messages%3B--".into(), None),
        (Method::GET, "/topic/%FF%FE".into(), None),
        (Method::GET, format!("/topic/{PUBLIC}?start_time=%FF"), None),
        (Method::GET, format!("/topic/{PUBLIC}?start_time=1%27%20OR%201%3D1"), None),
        (Method::GET, format!("/topic/{PUBLIC}?limit=99999999999999999999999"), None),
        (Method::GET, format!("/topic/{PUBLIC}?limit=-1"), None),
        (Method::GET, format!("/topic/{PUBLIC}?limit=0"), None),
        (Method::GET, format!("/topic/{PUBLIC}?page=not-a-token"), None),
        (Method::GET, format!("/topic/{PUBLIC}?page=djIubi5hLjEuMg"), None),
        (Method::GET, format!("/topic/{PUBLIC}?page=djEubi5hLnguMg"), None),
        (Method::GET, format!("/topic/{PUBLIC}?page={}", "A".repeat(5000)), None),
        (Method::GET, format!("/topic/{PUBLIC}?start_time=10&end_time=5"), None),
        (Method::GET, format!("/topic/{PUBLIC}?asc=sideways"), None),
        (Method::GET, format!("/topic/{PUBLIC}?{}", "x=1&".repeat(3000)), None),
        (Method::GET, "/messages?topic=..%2Fx".into(), None),
        (Method::GET, "/messages/count?topic=a%00b".into(), None),
        (Method::GET, format!("/msg/{uuid}/raw_file/..%2F..%2Fetc%2Fpasswd"), None),
        (Method::GET, format!("/msg/{uuid}/raw_file/a%22b"), None),
        (Method::GET, format!("/msg/{uuid}/raw_file/%FF"), None),
        (Method::GET, "/msg/%7B00000000-0000-0000-0000-000000000000%7D".into(), None),
        (Method::GET, format!("/msg/{}", "1".repeat(10_000)), None),
        (Method::PUT, format!("/msg/{uuid}/retraction"), None),
        (Method::PUT, format!("/msg/{uuid}/retraction?retracted=true&retracted=false"), None),
        (Method::POST, format!("/topic/{PUBLIC}"), Some(b"not bson at all".to_vec())),
        (Method::POST, format!("/topic/{PUBLIC}"), Some(Vec::new())),
        (Method::POST, format!("/topic/{PUBLIC}"), Some(truncated)),
        (Method::POST, format!("/topic/{PUBLIC}"), Some(nested)),
        (Method::POST, format!("/topic/{PUBLIC}"), Some(wrong_type)),
        (Method::POST, format!("/topic/{PUBLIC}"), Some(extra_field)),
        (Method::POST, "/topic/..%2Fpublic.alerts".into(), Some(upload_body(b"x", &[], None))),
        (Method::POST, format!("/topic/{PUBLIC}"), Some(vec![0xff; 70 * 1024 * 1024])),
        (Method::DELETE, format!("/msg/{uuid}"), None),
    ];
    let before = archive_size(&server).await;
    let mut failures = Vec::new();
    for (method, path, body) in cases {
        let token = if method == Method::GET {
            None
        } else if method == Method::PUT {
            Some(OWNER)
        } else {
            Some(WRITER)
        };
        let mut call = Call::new(method.clone(), path.clone()).token(token);
        if let Some(body) = body {
            call = call.body(body);
        }
        let reply = server.call(call).await;
        let shown: String = path.chars().take(80).collect();
        if !(400..500).contains(&reply.status) {
            failures.push(format!("{method} {shown}: {} {}", reply.status, reply.text()));
        } else if reply.body.is_empty() && reply.status != 405 && reply.status != 414 {
            failures.push(format!("{method} {shown}: {} without an explanation", reply.status));
        }
    }
    assert!(failures.is_empty(), "not a clear 4xx:\n{}", failures.join("\n"));
    assert_eq!(archive_size(&server).await, before, "a refused request changed the archive");
    assert!(!server.index.get(uuid).await.expect("index").expect("row").row.retracted);
}

/// Pieces random requests are made of: real paths, broken paths, odd bytes.
const SEGMENTS: &[&str] = &[
    "msg",
    "topic",
    "messages",
    "count",
    "topics",
    "raw_file",
    "retraction",
    "browse",
    "health_check",
    "metrics",
    PUBLIC,
    "private.alerts",
    "public.alerts+oversized",
    "..",
    ".",
    "%2e%2e",
    "%2F",
    "%00",
    "%FF",
    "%C3%28",
    "'",
    "\"",
    "<script>",
    "00000000-0000-0000-0000-000000000000",
    "x",
    "",
];
const PARAMS: &[&str] =
    &["topic", "start_time", "end_time", "limit", "page", "asc", "meta", "include_retracted", "retracted"];
const VALUES: &[&str] = &[
    "1",
    "-1",
    "0",
    "true",
    "no",
    "9223372036854775808",
    "%FF",
    "djEubi5hLjEuMg",
    "public.alerts",
    "",
    "%27%3B--",
    "1e9",
];

fn pick<'a>(rng: &mut ChaCha8Rng, items: &[&'a str]) -> &'a str {
    items[(rng.next_u32() as usize) % items.len()]
}

fn random_request(rng: &mut ChaCha8Rng) -> (Method, String, Option<Vec<u8>>, Option<&'static str>) {
    let method =
        [Method::GET, Method::GET, Method::POST, Method::PUT, Method::HEAD][(rng.next_u32() % 5) as usize].clone();
    let mut path = String::new();
    for _ in 0..1 + rng.next_u32() % 4 {
        path.push('/');
        path.push_str(pick(rng, SEGMENTS));
    }
    for i in 0..rng.next_u32() % 4 {
        path.push(if i == 0 { '?' } else { '&' });
        path.push_str(pick(rng, PARAMS));
        path.push('=');
        path.push_str(pick(rng, VALUES));
    }
    let body = (method == Method::POST).then(|| match rng.next_u32() % 3 {
        0 => upload_body(pick(rng, VALUES).as_bytes(), &[("_id", &[1u8; 16][..])], None),
        1 => (0..rng.next_u32() % 64).map(|_| rng.next_u32() as u8).collect(),
        _ => {
            let mut valid = upload_body(b"x", &[], Some(b"k"));
            let at = rng.next_u32() as usize % valid.len();
            valid[at] ^= 1 << (rng.next_u32() % 8);
            valid
        }
    });
    let token =
        [None, Some(super::READER), Some(WRITER), Some(OWNER), Some(super::WRONG)][(rng.next_u32() % 5) as usize];
    (method, path, body, token)
}

#[tokio::test]
async fn api_fuzz_random_requests_never_get_a_5xx() {
    let server = Server::start().await;
    for i in 0..5 {
        server.seed(&message(PUBLIC, i, format!("m{i}").as_bytes())).await;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed);
    for n in 0..400 {
        let (method, path, body, token) = random_request(&mut rng);
        let mut call = Call::new(method.clone(), path.clone()).token(token);
        if let Some(body) = body {
            call = call.body(body);
        }
        let reply = server.call(call).await;
        assert!(reply.status < 500, "request {n}: {method} {path} as {token:?} got {}: {}", reply.status, reply.text());
    }
    assert_eq!(server.get("/health_check").await.status, 200, "the server still answers");
}
