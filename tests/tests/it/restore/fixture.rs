//! What the restore tests share: an archive built the way production builds
//! one — the real ingest loop (`pipeline::run` over a `MemorySource` fed a
//! seeded mockhop stream: every era, odd headers, duplicates, timestamp
//! edges) plus direct uploads (`pipeline::place_upload`), written to an
//! `FsStore` and a SQLite file in a temporary directory of the test's own —
//! and the independent readings the tests compare `archiver restore`'s
//! output with: the index rows by plain SQL, the stored objects by the
//! `bson` crate, and the messages the log delivered.

use crate::support;
use archiver::index::{self, Index, TimestampType};
use archiver::pipeline::{self, Context, KeyLocks, Provenance, RunLimits, UploadOutcome, place_upload};
use archiver::record::{Header, HeaderValue, Key, Message};
use archiver::source::memory::MemoryLog;
use archiver::store::{FsStore, ObjectStore};
use archiver::telemetry::metrics::Metrics;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use uuid::Uuid;

/// Partitions of every topic of the log.
pub const PARTITIONS: u32 = 3;
/// A stream whose 200 deliveries carry every mockhop label (checked by
/// `the_standard_stream_exercises_every_traffic_feature`).
pub const SEED: u64 = 2;
pub const COUNT: usize = 200;
/// Hand-made messages with every null/empty distinction Kafka can carry.
pub const EDGES: &str = "restore.edges";
/// Hand-made partitions whose timestamps go back and forth.
pub const ORDER: &str = "restore.order";
/// A topic that only direct uploads reach.
pub const UPLOADS: &str = "restore.uploads";
/// Where hop-client offloads a large message: an archived topic that is
/// not a Kafka topic name.
pub const OVERSIZED: &str = "restore.uploads+oversized";
/// Around mockhop's clock start (2026-01-01), away from its messages.
const BASE_MS: i64 = 1_767_000_000_000;
/// How long one `archiver restore` may take before the test fails.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// What to archive.
pub struct Spec {
    /// A mockhop `default` stream: (seed, deliveries).
    pub stream: Option<(u64, usize)>,
    /// Messages appended to the log after the stream: (partition, message).
    pub extras: Vec<(i32, Message)>,
    /// Direct uploads, placed after the ingest run.
    pub uploads: Vec<Message>,
}

impl Spec {
    /// The stream, the edge and order topics, and four uploads.
    pub fn standard() -> Spec {
        let mut extras = edges();
        extras.extend(disordered());
        Spec { stream: Some((SEED, COUNT)), extras, uploads: uploads() }
    }
}

fn header(key: &str, value: Option<&[u8]>) -> Header {
    Header::new(key, value)
}

/// Null versus empty for value, key and header value, duplicate header
/// names, timestamps 0 and absent (-1).
pub fn edges() -> Vec<(i32, Message)> {
    let message = |timestamp, key, headers, payload| Message { topic: EDGES.into(), timestamp, key, headers, payload };
    vec![
        (
            0,
            message(
                BASE_MS,
                Key::Null,
                vec![
                    header("null", None),
                    header("empty", Some(b"")),
                    header("dup", Some(b"1")),
                    header("dup", None),
                    header("dup", Some(b"")),
                    header("dup", Some(b"\xff\x00")),
                ],
                None,
            ),
        ),
        (0, message(BASE_MS + 1, Key::Bytes(Vec::new()), Vec::new(), Some(Vec::new()))),
        (0, message(0, Key::Bytes(b"k".to_vec()), vec![header("empty", Some(b""))], Some(b"at the epoch".to_vec()))),
        (1, message(-1, Key::Null, vec![header("n", None)], Some(b"no timestamp".to_vec()))),
        (1, message(BASE_MS + 2, Key::Bytes(vec![0, 255]), vec![header("only", Some(b"\x00"))], None)),
    ]
}

/// Per partition, timestamps that are not monotonic in offset order.
pub fn disordered() -> Vec<(i32, Message)> {
    let steps: [i64; 8] = [50, 10, 40, 10, 90, 0, 30, 20];
    (0..3)
        .flat_map(|partition| {
            steps.iter().enumerate().map(move |(i, step)| {
                let payload = format!("order p{partition} #{i}").into_bytes();
                let timestamp = BASE_MS + 10_000 + step * 1_000 + i64::from(partition);
                (
                    partition,
                    Message {
                        topic: ORDER.into(),
                        timestamp,
                        key: Key::Null,
                        headers: Vec::new(),
                        payload: Some(payload),
                    },
                )
            })
        })
        .collect()
}

/// Direct uploads: a text key, a client `_id`, one into a Kafka topic, one
/// into an `+oversized` topic.
pub fn uploads() -> Vec<Message> {
    let upload = |topic: &str, timestamp, key, headers, payload: &[u8]| Message {
        topic: topic.into(),
        timestamp,
        key,
        headers,
        payload: Some(payload.to_vec()),
    };
    let id = Uuid::from_u128(0x3d10_fac6_359f_48e6_b042_e4d6_dda8_9875);
    vec![
        upload(
            UPLOADS,
            BASE_MS + 100,
            Key::Text("a string key".into()),
            vec![header("_sender", Some(b"alice"))],
            b"up 1",
        ),
        upload(UPLOADS, BASE_MS + 101, Key::Bytes(Vec::new()), vec![header("_id", Some(id.as_bytes()))], b"up 2"),
        upload(EDGES, BASE_MS + 102, Key::Bytes(b"kb".to_vec()), Vec::new(), b"uploaded into a Kafka topic"),
        upload(OVERSIZED, BASE_MS + 103, Key::Bytes(Vec::new()), Vec::new(), b"offloaded"),
    ]
}

/// An archive on disk: `<dir>/index.db` and `<dir>/objects`.
pub struct Archive {
    dir: TempDir,
    /// What the log held at each (topic, partition, offset).
    pub log: BTreeMap<(String, i32, i64), Message>,
    /// The uploads stored, by UUID.
    pub uploads: BTreeMap<Uuid, Message>,
}

/// An index row as SQL reads it, independent of the archiver's index code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub id: i64,
    pub uuid: Uuid,
    pub topic: String,
    pub timestamp: i64,
    pub size: u64,
    pub key: String,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    pub retracted: bool,
    pub direct_upload: bool,
    pub timestamp_type: String,
}

/// How one `archiver restore` ended.
#[derive(Debug)]
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Ran {
    /// Asserts success and returns stdout.
    pub fn ok(&self) -> &str {
        assert!(self.status.success(), "archiver restore failed ({}):\n{}", self.status, self.stderr);
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        &self.stdout
    }

    /// The `--json` summary (or dry run) on stdout.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok().trim()).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    /// Asserts an orderly failure: non-zero exit, no panic, quick, and
    /// stderr naming the problem with every one of `needles`.
    pub fn fails_naming(&self, needles: &[&str]) {
        assert!(!self.status.success(), "expected a failure; stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        assert!(!self.stderr.contains("panicked"), "a panic, not an error:\n{}", self.stderr);
        assert!(self.elapsed < Duration::from_secs(10), "took {:?} to fail", self.elapsed);
        for needle in needles {
            assert!(self.stderr.contains(needle), "stderr does not name {needle:?}:\n{}", self.stderr);
        }
    }
}

/// Runs `future` to completion on a runtime of its own (for sync tests).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime").block_on(future)
}

impl Archive {
    /// Archives `spec` through the real ingest loop and upload path.
    pub async fn build(spec: Spec) -> Archive {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn ObjectStore> =
            Arc::new(FsStore::create(dir.path().join("objects")).await.expect("fs store"));
        let index = index::open(&format!("sqlite://{}", dir.path().join("index.db").display())).await.expect("sqlite");
        let log = MemoryLog::new();
        let mut held = BTreeMap::new();
        let mut append = |partition: i32, message: Message| {
            let offset = log.append(partition, message.clone());
            held.insert((message.topic.clone(), partition, offset), message);
        };
        if let Some((seed, count)) = spec.stream {
            let options =
                mockhop::StreamOptions { seed, count, profile: "default".into(), topic_prefix: String::new() };
            for delivery in mockhop::generate::generate(&options).expect("generates") {
                append(delivery.partition(PARTITIONS), delivery.message);
            }
        }
        for (partition, message) in spec.extras {
            append(partition, message);
        }
        let context = Arc::new(Context {
            store: Arc::clone(&store),
            index: Arc::clone(&index),
            metrics: Arc::new(Metrics::new()),
            archive_test_messages: false,
            public_topics: vec!["gcn.*".into()],
            text: Default::default(),
            retry_initial_backoff_ms: 1,
            retry_max_backoff_ms: 5,
            key_locks: KeyLocks::default(),
        });
        let limits = RunLimits {
            in_flight_max: 16,
            batch_rows_max: 32,
            batch_wait_ms: 5,
            max_messages: None,
            drain_timeout_ms: 5_000,
        };
        pipeline::run(context, &limits, &mut log.consumer(), std::future::pending()).await.expect("ingest runs");
        let mut uploads = BTreeMap::new();
        let locks = KeyLocks::default();
        for message in spec.uploads {
            let provenance = Provenance {
                partition: None,
                offset: None,
                timestamp_type: TimestampType::Upload,
                ingested_at_ms: message.timestamp,
                public: false,
                direct_upload: true,
                text: None,
            };
            match place_upload(&*store, &*index, &locks, &message, &provenance).await.expect("upload") {
                UploadOutcome::Stored { uuid, .. } => uploads.insert(uuid, message),
                other => panic!("upload not stored: {other:?}"),
            };
        }
        Archive { dir, log: held, uploads }
    }

    /// [`Archive::build`] from a sync test.
    pub fn build_blocking(spec: Spec) -> Archive {
        block_on(Archive::build(spec))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn index_path(&self) -> PathBuf {
        self.dir().join("index.db")
    }

    pub fn index_url(&self) -> String {
        format!("sqlite://{}", self.index_path().display())
    }

    pub fn objects(&self) -> PathBuf {
        self.dir().join("objects")
    }

    /// A path in the test's directory (outside the archive).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    /// Every index row, by plain SQL, in id order.
    pub async fn rows(&self) -> Vec<Row> {
        use sqlx::Row as _;
        let pool = sqlx::SqlitePool::connect(&self.index_url()).await.expect("sqlite for reading");
        let sql = "SELECT id, uuid, topic, \"timestamp\", size, \"key\", \"partition\", kafka_offset, retracted, \
                   direct_upload, timestamp_type FROM messages ORDER BY id";
        let rows = sqlx::query(sql).fetch_all(&pool).await.expect("select rows");
        pool.close().await;
        rows.iter()
            .map(|r| Row {
                id: r.get("id"),
                uuid: Uuid::parse_str(r.get::<&str, _>("uuid")).expect("uuid"),
                topic: r.get("topic"),
                timestamp: r.get("timestamp"),
                size: u64::try_from(r.get::<i64, _>("size")).expect("size"),
                key: r.get("key"),
                partition: r.get::<Option<i64>, _>("partition").map(|p| i32::try_from(p).expect("partition")),
                offset: r.get("kafka_offset"),
                retracted: r.get::<i64, _>("retracted") != 0,
                direct_upload: r.get::<i64, _>("direct_upload") != 0,
                timestamp_type: r.get("timestamp_type"),
            })
            .collect()
    }

    pub fn rows_blocking(&self) -> Vec<Row> {
        block_on(self.rows())
    }

    /// Retracts these messages through the archiver's index.
    pub fn retract(&self, uuids: &[Uuid]) {
        block_on(async {
            let index = self.open_index().await;
            for uuid in uuids {
                assert!(index.set_retracted(*uuid, true).await.expect("retract"), "{uuid} retracted");
            }
        });
    }

    pub async fn open_index(&self) -> Arc<dyn Index> {
        index::open(&self.index_url()).await.expect("sqlite")
    }

    /// The stored object of `key`, read from the directory directly.
    pub fn object(&self, key: &str) -> Vec<u8> {
        std::fs::read(self.objects().join(key)).unwrap_or_else(|e| panic!("object {key}: {e}"))
    }

    /// `archiver restore` with this archive's backends, job directory
    /// `<dir>/jobs` and `args`, nothing taken from the environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = archiver_restore();
        command
            .arg(format!("--index-url={}", self.index_url()))
            .arg(format!("--store-url=file://{}", self.objects().display()))
            .arg(format!("--state-dir={}", self.path("jobs").display()))
            .args(args);
        command
    }

    /// Runs `archiver restore … args` to its end (failing the test after
    /// [`RUN_TIMEOUT`]).
    pub fn restore(&self, args: &[&str]) -> Ran {
        run(self.command(args))
    }

    /// Exports with `args` to a fresh file `name`; returns its lines.
    pub fn export(&self, name: &str, args: &[&str]) -> Vec<Value> {
        let path = self.path(name);
        let to = format!("--to=file:{}", path.display());
        let mut all = vec![to.as_str()];
        all.extend_from_slice(args);
        self.restore(&all).ok();
        read_jsonl(&path)
    }
}

/// `archiver restore` with piped output and no `ARCHIVER_*` variable of
/// the test's environment.
pub fn archiver_restore() -> Command {
    let mut command = Command::new(support::binary("archiver"));
    command.arg("restore").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ARCHIVER_") {
            command.env_remove(name);
        }
    }
    command
}

/// Runs `command` to its end, collecting its output.
pub fn run(mut command: Command) -> Ran {
    let started = Instant::now();
    let mut child = command.spawn().expect("start archiver restore");
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            panic!("archiver restore did not end within {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = started.elapsed();
    Ran { status, stdout: stdout.join().expect("stdout"), stderr: stderr.join().expect("stderr"), elapsed }
}

/// One JSON object per line.
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(text.is_empty() || text.ends_with('\n'), "the last line is complete");
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
}

pub fn b64(bytes: &[u8]) -> Value {
    json!(BASE64.encode(bytes))
}

/// A line's UUID.
pub fn uuid_of(line: &Value) -> Uuid {
    Uuid::parse_str(line["uuid"].as_str().expect("uuid is a string")).expect("uuid")
}

/// The JSONL line `archiver restore` must write for `row`, decoded from its
/// stored object by the `bson` crate (not the archiver's codec), following
/// the README's mapping: the current layout as stored; the legacy layout's
/// `message.content` as the value, a string header value `""` as null and
/// another string as its UTF-8, a missing key as null; a timestamp Kafka
/// did not give (negative, or the row says `not_available`) as null.
/// `partition`/`offset` are the row's (`None` from the store alone).
pub fn line_from_object(
    uuid: Uuid,
    topic: &str,
    partition: Option<i32>,
    offset: Option<i64>,
    not_available: bool,
    object: &[u8],
) -> Value {
    use bson::RawBsonRef as B;
    let doc = bson::RawDocument::from_bytes(object).expect("the bson crate reads the object");
    let (value, legacy) = match doc.get("message").expect("message") {
        Some(B::Binary(b)) => (b64(b.bytes), false),
        Some(B::Null) => (Value::Null, false),
        Some(B::Document(d)) => (b64(d.get_binary("content").expect("legacy content").bytes), true),
        other => panic!("message: {other:?}"),
    };
    let meta = doc.get_document("metadata").expect("metadata");
    let timestamp = match meta.get("timestamp").expect("timestamp") {
        Some(B::Int32(t)) => i64::from(t),
        Some(B::Int64(t)) => t,
        other => panic!("timestamp: {other:?}"),
    };
    assert_eq!(meta.get_str("topic").expect("metadata.topic"), topic, "the object's topic is the row's");
    let key = match meta.get("key").expect("key") {
        None | Some(B::Null) => Value::Null,
        Some(B::Binary(b)) => b64(b.bytes),
        Some(B::String(s)) => b64(s.as_bytes()),
        other => panic!("key: {other:?}"),
    };
    let headers: Vec<Value> = match meta.get("headers").expect("headers") {
        Some(B::Null) => Vec::new(),
        Some(B::Array(items)) => items
            .into_iter()
            .map(|item| {
                let pair = item.expect("header").as_array().expect("[name, value]");
                let name = pair.get_str(0).expect("header name");
                let value = match pair.get(1).expect("header value") {
                    Some(B::Binary(b)) => b64(b.bytes),
                    Some(B::Null) => Value::Null,
                    Some(B::String(s)) if legacy && s.is_empty() => Value::Null,
                    Some(B::String(s)) if legacy => b64(s.as_bytes()),
                    other => panic!("header value of a current-layout object: {other:?}"),
                };
                json!([name, value])
            })
            .collect(),
        other => panic!("headers: {other:?}"),
    };
    let timestamp = if timestamp < 0 || not_available { Value::Null } else { json!(timestamp) };
    json!({
        "uuid": uuid.hyphenated().to_string(),
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "timestamp": timestamp,
        "key": key,
        "headers": headers,
        "value": value,
    })
}

/// The line for `row` from its object on disk.
pub fn line_of_row(archive: &Archive, row: &Row) -> Value {
    let not_available = row.timestamp_type == "not_available";
    line_from_object(row.uuid, &row.topic, row.partition, row.offset, not_available, &archive.object(&row.key))
}

/// The JSONL line for a message as its producer sent it.
pub fn line_from_message(uuid: Uuid, partition: Option<i32>, offset: Option<i64>, message: &Message) -> Value {
    let bytes = |b: &[u8]| b64(b);
    let key = match &message.key {
        Key::Null => Value::Null,
        Key::Bytes(b) => bytes(b),
        Key::Text(t) => bytes(t.as_bytes()),
    };
    let headers: Vec<Value> = message
        .headers
        .iter()
        .map(|h| {
            let value = match &h.value {
                HeaderValue::Null => Value::Null,
                HeaderValue::Bytes(b) => bytes(b),
                HeaderValue::Text(t) => bytes(t.as_bytes()),
            };
            json!([h.key, value])
        })
        .collect();
    json!({
        "uuid": uuid.hyphenated().to_string(),
        "topic": message.topic,
        "partition": partition,
        "offset": offset,
        "timestamp": (message.timestamp >= 0).then_some(message.timestamp),
        "key": key,
        "headers": headers,
        "value": message.payload.as_deref().map(bytes),
    })
}

/// `line` without its partition and offset (what a store walk cannot know).
pub fn without_provenance(line: &Value) -> Value {
    let mut line = line.clone();
    let object = line.as_object_mut().expect("a line is an object");
    object.remove("partition");
    object.remove("offset");
    line
}

/// Writes a UUID file and returns its path.
pub fn uuid_file(archive: &Archive, name: &str, text: &str) -> String {
    let path = archive.path(name);
    std::fs::write(&path, text).expect("write uuid file");
    path.display().to_string()
}
