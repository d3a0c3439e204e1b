//! `archiver serve`: the HTTP API, driven over real HTTP against an
//! in-memory archive (in-memory SQLite index + `MemoryStore`).

mod access;
mod browse;
mod browser;
mod cli;
mod clients;
mod endpoints;
mod hop_client;
mod hostile;
mod responses;
mod search;
mod streaming;

use archiver::text::TextIndexing;
use std::sync::Arc;

use archiver::api::{self, Access, ApiLimits, ApiState, Credentials, token_sha256_hex};
use archiver::index::{self, Index, TimestampType};
use archiver::pipeline::{Provenance, UploadOutcome, place_upload};
use archiver::record::{Header, Key, Message};
use archiver::store::{MemoryStore, ObjectStore};
use reqwest::Method;
use uuid::Uuid;

pub const PUBLIC: &str = "public.alerts";
pub const PRIVATE: &str = "private.alerts";

/// Bearer tokens of the fixture's credentials file.
pub const READER: &str = "reader-token-5f1d7a0c9b2e4d6f8a1c3e5b7d9f0a2c";
pub const WRITER: &str = "writer-token-0a2c4e6f8b1d3f5a7c9e1b3d5f7a9c0e";
pub const OWNER: &str = "owner-token-9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b";
pub const WRONG: &str = "wrong-token-00000000000000000000000000000000";

fn credentials() -> Credentials {
    let text = format!(
        r#"
[[token]]
name = "reader"
sha256 = "{}"
read = ["private.*"]

[[token]]
name = "writer"
sha256 = "{}"
write = ["private.*", "public.*"]

[[token]]
name = "owner"
sha256 = "{}"
owner = ["private.*", "public.*"]
"#,
        token_sha256_hex(READER),
        token_sha256_hex(WRITER),
        token_sha256_hex(OWNER)
    );
    Credentials::parse(&text).expect("fixture credentials parse")
}

/// A running server over a fresh in-memory archive.
pub struct Server {
    pub base: String,
    pub index: Arc<dyn Index>,
    pub store: Arc<dyn ObjectStore>,
    /// Every topic's text is indexed, for seeded messages and uploads alike.
    pub text: TextIndexing,
    client: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// An HTTP answer, read completely.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn bson(&self) -> bson::Document {
        bson::Document::from_reader(&mut self.body.as_slice())
            .unwrap_or_else(|e| panic!("not BSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request: method, path (with query), optional token, JSON or BSON, body.
pub struct Call<'a> {
    pub method: Method,
    pub path: String,
    pub token: Option<&'a str>,
    pub json: bool,
    pub body: Option<Vec<u8>>,
}

impl<'a> Call<'a> {
    pub fn get(path: impl Into<String>) -> Call<'a> {
        Call { method: Method::GET, path: path.into(), token: None, json: false, body: None }
    }
    pub fn new(method: Method, path: impl Into<String>) -> Call<'a> {
        Call { method, ..Call::get(path) }
    }
    pub fn token(mut self, token: Option<&'a str>) -> Self {
        self.token = token;
        self
    }
    pub fn json(mut self) -> Self {
        self.json = true;
        self
    }
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }
}

impl Server {
    pub async fn start() -> Server {
        Server::start_with(ApiLimits::default()).await
    }

    pub async fn start_with(limits: ApiLimits) -> Server {
        Server::start_on(limits, Arc::new(MemoryStore::new())).await
    }

    /// A server over `store` (a fault-injecting wrapper, say).
    pub async fn start_on(limits: ApiLimits, store: Arc<dyn ObjectStore>) -> Server {
        let text = TextIndexing { topics: vec!["*".into()], limits: Default::default() };
        Server::start_text(limits, store, text).await
    }

    /// A server that indexes the text of `text`'s topics only.
    pub async fn start_text(limits: ApiLimits, store: Arc<dyn ObjectStore>, text: TextIndexing) -> Server {
        let index = index::open("sqlite::memory:").await.expect("in-memory index");
        let access =
            Access { public_topics: vec!["public.*".into()], credentials: credentials(), realm: "test-realm".into() };
        let state =
            Arc::new(ApiState::new(Arc::clone(&index), Arc::clone(&store), access, limits).with_text(text.clone()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let addr = "127.0.0.1:0".parse().expect("address");
        let (bound, _task) = api::spawn(addr, state, async {
            let _ = stopped.await;
        })
        .await
        .expect("server starts");
        Server { base: format!("http://{bound}"), index, store, text, client: reqwest::Client::new(), _stop: stop }
    }

    /// Archives `message` the way ingest does (a Kafka message, not an upload).
    pub async fn seed(&self, message: &Message) -> Uuid {
        let provenance = Provenance {
            partition: Some(0),
            offset: Some(0),
            timestamp_type: TimestampType::Create,
            ingested_at_ms: message.timestamp,
            public: message.topic.starts_with("public."),
            direct_upload: false,
            text: self.text.for_topic(&message.topic),
        };
        let locks = archiver::pipeline::KeyLocks::default();
        match place_upload(self.store.as_ref(), self.index.as_ref(), &locks, message, &provenance).await.expect("seed")
        {
            UploadOutcome::Stored { uuid, .. } => uuid,
            other => panic!("seeding stored nothing: {other:?}"),
        }
    }

    pub async fn call(&self, call: Call<'_>) -> Reply {
        let mut request = self.client.request(call.method, format!("{}{}", self.base, call.path));
        if let Some(token) = call.token {
            request = request.bearer_auth(token);
        }
        if call.json {
            request = request.header("accept", "application/json");
        }
        if let Some(body) = call.body {
            request = request.header("content-type", "application/bson").body(body);
        }
        let response = request.send().await.expect("request is answered");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("body").to_vec();
        Reply { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Call::get(path)).await
    }
}

/// A hop-client-like message: `_id`, `_sender`, `_format`, JSON payload.
pub fn message(topic: &str, timestamp: i64, payload: &[u8]) -> Message {
    let id = Uuid::new_v4();
    Message {
        topic: topic.into(),
        timestamp,
        key: Key::Null,
        headers: vec![
            Header::new("_id", Some(id.as_bytes())),
            Header::new("_sender", Some(b"alice")),
            Header::new("_format", Some(b"json")),
        ],
        payload: Some(payload.to_vec()),
    }
}

/// An upload body as hop-client sends it: `{message, headers: [[k, v]…], key?}`.
pub fn upload_body(payload: &[u8], headers: &[(&str, &[u8])], key: Option<&[u8]>) -> Vec<u8> {
    let binary =
        |b: &[u8]| bson::Bson::Binary(bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: b.to_vec() });
    let headers: Vec<bson::Bson> =
        headers.iter().map(|(k, v)| bson::Bson::Array(vec![bson::Bson::String((*k).into()), binary(v)])).collect();
    let mut doc = bson::doc! { "message": binary(payload), "headers": headers };
    if let Some(key) = key {
        doc.insert("key", binary(key));
    }
    let mut out = Vec::new();
    doc.to_writer(&mut out).expect("encode upload body");
    out
}
