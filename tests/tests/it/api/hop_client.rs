//! Real-client compatibility: hop-client (from PyPI, installed by
//! `scripts/deps.sh` into a private venv) reading the API with its own code.

use super::{PUBLIC, Server};
use archiver::record::{Header, Key, Message};
use std::process::Command;
use uuid::Uuid;

/// Feeds hop-client's consumer an `external` placeholder pointing at
/// `sys.argv[1]` (`/msg/{uuid}`) and lets its own `_unpack` →
/// `_fetch_external` path fetch and decode the archived message, with the
/// credential `configure(consumer)` sets; no broker is needed for this path.
const FETCH_PRELUDE: &str = r#"
import json, sys, uuid
from hop import io
url = sys.argv[1]

def fetch(configure):
    consumer = io.Consumer.__new__(io.Consumer)
    consumer.auth = None
    configure(consumer)
    consumer.fetch_external = True
    consumer._conf = type("Conf", (), {"error_callback": None})()
    placeholder = io.Consumer.ExternalMessage(
        data=json.dumps({"url": url}).encode(),
        headers=[("_id", uuid.uuid4().bytes), ("_format", b"external")],
        topic="public.alerts", partition=0, offset=7, timestamp=1, key=None)
    payload, meta = consumer._unpack(placeholder, metadata=True)
    if meta._raw.error() is not None:
        raise SystemExit(f"fetch failed: {meta._raw.error()}")
    return payload, meta
"#;

/// Runs [`FETCH_PRELUDE`] and then `script` on `url`.
async fn fetch_with_hop_client(script: &'static str, url: String) -> std::process::Output {
    let program = format!("{FETCH_PRELUDE}{script}");
    tokio::task::spawn_blocking(move || {
        Command::new(mockhop::testing::venv_python()).args(["-c", &program, &url]).output().expect("run python")
    })
    .await
    .expect("join")
}

/// What a subscriber would get, anonymously.
const FETCH_EXTERNAL: &str = r#"
payload, meta = fetch(lambda consumer: None)
print(json.dumps({
    "model": type(payload).__name__,
    "content": payload.content.hex() if isinstance(payload.content, bytes) else payload.content,
    "headers": [[k, v.hex()] for k, v in meta.headers],
    "timestamp": meta.timestamp,
    "key": meta.key.hex() if isinstance(meta.key, bytes) else meta.key,
}))
"#;

#[tokio::test]
async fn api_hop_client_fetch_external_gets_the_original_message() {
    let server = Server::start().await;
    let id = Uuid::new_v4();
    let original = Message {
        topic: PUBLIC.into(),
        timestamp: 1_700_000_000_123,
        key: Key::Bytes(b"key-1".to_vec()),
        headers: vec![
            Header::new("title", Some(b"GRB 231114A")),
            Header::new("_id", Some(id.as_bytes())),
            Header::new("_sender", Some(b"alice")),
            Header::new("_format", Some(b"json")),
        ],
        payload: Some(br#"{"alert": 1, "note": "large"}"#.to_vec()),
    };
    let uuid = server.seed(&original).await;
    let url = format!("{}/msg/{uuid}", server.base);
    let output = fetch_with_hop_client(FETCH_EXTERNAL, url).await;
    assert!(output.status.success(), "hop-client failed: {}", String::from_utf8_lossy(&output.stderr));
    let got: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON from the script");
    assert_eq!(got["model"], "JSONBlob");
    assert_eq!(got["content"], serde_json::json!({"alert": 1, "note": "large"}));
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let headers: Vec<serde_json::Value> =
        original.headers.iter().map(|h| serde_json::json!([h.key, hex(h.value.as_bytes().expect("bytes"))])).collect();
    assert_eq!(got["headers"], serde_json::Value::Array(headers), "headers in order, bytes intact");
    assert_eq!(got["timestamp"], 1_700_000_000_123_i64);
    assert_eq!(got["key"], hex(b"key-1"));
}

/// hop-client as configured for Hopskotch: a SCRAM credential (its default
/// mechanism) for the broker whose offload server is this archive, so
/// `_fetch_external` sends `Authorization: SCRAM-SHA-512 …`.
const FETCH_EXTERNAL_WITH_SCRAM: &str = r#"
from urllib.parse import urlparse
from hop.auth import Auth

def scram(consumer):
    consumer.auth = Auth("carol", "secret")  # SCRAM-SHA-512 unless told otherwise
    assert consumer.auth.is_scram
    consumer.trusted_offload_url = urlparse(url)  # what the broker would name

payload, meta = fetch(scram)
print(json.dumps({"content": payload.content}))
"#;

/// Point 14 of issue 11: a stock hop-client with its default (SCRAM)
/// credential fetches a public message.
#[tokio::test]
async fn api_hop_client_with_scram_credential_fetches_public_data() {
    let server = Server::start().await;
    let uuid = server.seed(&super::message(PUBLIC, 1_700_000_000_000, br#"{"alert": 2}"#)).await;
    let url = format!("{}/msg/{uuid}", server.base);
    let output = fetch_with_hop_client(FETCH_EXTERNAL_WITH_SCRAM, url).await;
    assert!(output.status.success(), "hop-client with SCRAM failed: {}", String::from_utf8_lossy(&output.stderr));
    let got: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON from the script");
    assert_eq!(got["content"], serde_json::json!({"alert": 2}));
}

/// Publishes one message with hop-client's own packing (as a client with a
/// credential, so `_sender` is set) into Kafka, unauthenticated (tansu);
/// prints the payload and headers it sent.
const PUBLISH: &str = r#"
import json, sys
from hop import io
from hop.auth import Auth
broker, topic = sys.argv[1], sys.argv[2]
payload, headers = io.Producer.pack({"alert": "GRB 231114A", "n": 1},
                                    headers=[("title", b"round trip")], auth=Auth("carol", "unused"))
# tansu does not describe topic configs; offload (which needs them) is not under test here.
with io.Stream(auth=False).open(f"kafka://{broker}/{topic}", "w", automatic_offload=False) as producer:
    producer.write_raw(payload, headers)
print(json.dumps({"payload": payload.hex(), "headers": [[k, v.hex()] for k, v in headers]}))
"#;

#[tokio::test]
async fn api_hop_client_publish_archive_fetch_round_trip() {
    use archiver::api::{Access, ApiLimits, ApiState};
    use archiver::config::{
        BackendsArgs, KafkaArgs, MetricsAddr, ObservabilityArgs, RunArgs, StopArgs, TopicSelection, load_from,
    };
    use std::sync::Arc;

    let broker = crate::support::service("ARCHIVER_TEST_KAFKA");
    let topic = format!("hopclient-{}-{}.alerts", std::process::id(), Uuid::new_v4().simple());
    let connection = archiver::source::KafkaConnection::plaintext(broker.clone());
    let marker = mockhop::Delivery {
        seq: 0,
        partition_hint: 0,
        message: Message { topic: topic.clone(), timestamp: 0, key: Key::Null, headers: vec![], payload: None },
        labels: vec![],
    };
    mockhop::produce::create_topics(&connection, &[marker], 1).await.expect("create topic");
    let (b, t) = (broker.clone(), topic.clone());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(mockhop::testing::venv_python()).args(["-c", PUBLISH, &b, &t]).output().expect("run python")
    })
    .await
    .expect("join");
    assert!(output.status.success(), "hop-client publish failed: {}", String::from_utf8_lossy(&output.stderr));
    let sent: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON from the script");

    let dir = tempfile::tempdir().expect("tempdir");
    let args = RunArgs {
        kafka: KafkaArgs {
            kafka_brokers: Some(broker),
            kafka_group_id: Some(format!("{topic}-group")),
            kafka_session_timeout_ms: Some(6_000),
            ..KafkaArgs::default()
        },
        backends: BackendsArgs {
            index_url: Some(format!("sqlite://{}", dir.path().join("index.db").display())),
            store_url: Some(format!("file://{}", dir.path().join("objects").display())),
        },
        observability: ObservabilityArgs { metrics_addr: Some(MetricsAddr(None)), ..ObservabilityArgs::default() },
        stop: StopArgs { until_eos: Some(true), ..StopArgs::default() },
        ..RunArgs::default()
    };
    let mut config = load_from(&args, &Default::default()).expect("config");
    config.topics.selection = TopicSelection::Explicit { names: vec![topic.clone()], veto: Vec::new() };
    let (summary, _) = archiver::ops::run::run(&config, std::future::pending()).await.expect("archiver run");
    assert_eq!(summary.archived, 1);

    let index = archiver::index::open(&config.backends.index_url).await.expect("index");
    let store = archiver::store::open(&config.backends.store_url).await.expect("store");
    let access = Access { public_topics: vec![topic.clone()], ..Access::default() };
    let state = Arc::new(ApiState::new(index, store, access, ApiLimits::default()));
    let (addr, _task) =
        archiver::api::spawn("127.0.0.1:0".parse().expect("addr"), state, std::future::pending()).await.expect("serve");

    let unhex = |s: &str| {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect::<Vec<u8>>()
    };
    let headers: Vec<(String, Vec<u8>)> = sent["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .map(|h| (h[0].as_str().expect("key").to_owned(), unhex(h[1].as_str().expect("value"))))
        .collect();
    let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, vec!["title", "_id", "_sender", "_format"]);
    let id = Uuid::from_slice(&headers[1].1).expect("_id is 16 bytes");
    let body = reqwest::get(format!("http://{addr}/msg/{id}")).await.expect("GET").bytes().await.expect("body");
    let record = archiver::record::Record::decode(&body).expect("archived object");
    let archived: Vec<(String, Vec<u8>)> = record
        .metadata
        .headers
        .iter()
        .flatten()
        .map(|h| (h.key.clone(), h.value.as_bytes().expect("bytes").to_vec()))
        .collect();
    assert_eq!(archived, headers, "_id, _sender, _format (and the rest) intact, in order");
    assert_eq!(record.payload(), Some(unhex(sent["payload"].as_str().expect("payload")).as_slice()));
    assert_eq!(headers[2].1, b"carol");
}

/// hop-client's large-message offload: `_offload_message` POSTs the packed
/// message to `{server}/topic/{topic}+oversized` with a bearer token and
/// returns the `external` placeholder it would publish instead.
const OFFLOAD: &str = r#"
import json, sys
from hop import io
from hop.auth import Auth
base, topic, token = sys.argv[1], sys.argv[2], sys.argv[3]
payload, headers = io.Producer.pack(b"\x00large binary\xff" * 1000, headers=[("file_name", b"big.bin")],
                                    auth=Auth("uploader", "unused"))
producer = io.Producer.__new__(io.Producer)  # no broker needed for this path
producer.offload_url = base
producer.auth = type("TokenAuth", (), {"is_scram": False, "is_token": True, "token": token, "username": "writer"})()
placeholder, placeholder_headers, err = producer._offload_message(payload, headers, topic, key=b"k")
if err is not None:
    raise SystemExit(f"offload failed: {err}")
print(json.dumps({"placeholder": placeholder.decode(), "headers": [[k, v.hex()] for k, v in headers]}))
"#;

#[tokio::test]
async fn api_hop_client_offload_upload_then_fetch_external() {
    let server = Server::start().await;
    let (base, token) = (server.base.clone(), super::WRITER.to_owned());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(mockhop::testing::venv_python())
            .args(["-c", OFFLOAD, &base, PUBLIC, &token])
            .output()
            .expect("run python")
    })
    .await
    .expect("join");
    assert!(output.status.success(), "hop-client offload failed: {}", String::from_utf8_lossy(&output.stderr));
    let sent: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON from the script");
    let placeholder: serde_json::Value =
        serde_json::from_str(sent["placeholder"].as_str().expect("placeholder")).expect("placeholder JSON");
    let url = placeholder["url"].as_str().expect("url").to_owned();
    let id: Uuid = url.rsplit('/').next().expect("uuid").parse().expect("uuid in url");
    let row = server.index.get(id).await.expect("index").expect("stored under the client's _id").row;
    assert_eq!(row.topic, format!("{PUBLIC}+oversized"));
    assert!(row.direct_upload && row.is_client_uuid);
    assert_eq!(row.sender, "uploader", "the message's own _sender is kept");

    let output = fetch_with_hop_client(FETCH_EXTERNAL, url).await;
    assert!(output.status.success(), "fetch_external failed: {}", String::from_utf8_lossy(&output.stderr));
    let got: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON from the script");
    assert_eq!(got["model"], "Blob");
    let original: String = b"\x00large binary\xff".repeat(1000).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(got["content"], original, "the payload comes back byte for byte");
    assert_eq!(got["headers"], sent["headers"], "the uploaded headers come back in order");
    assert_eq!(got["key"], "6b");
}
