//! The JSON Lines export: one object per message per line, keys in a fixed
//! order, bytes as standard base64 and null kept apart from empty:
//!
//! ```text
//! {"uuid":"…","topic":"…","partition":0,"offset":12,"timestamp":1700000000000,
//!  "key":"a2V5"|null,"headers":[["name","dmFsdWU="|null],…],"value":"…"|null}
//! ```
//!
//! A text key or header value is written as the base64 of its UTF-8, like
//! bytes: what a Kafka consumer would have received.

use super::{Outgoing, Sink, SinkError, TargetTopic};
use crate::record::Key;
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use serde::Serialize;
use std::fs::File;
use std::io::{BufWriter, Stdout, Write as _};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The path that means standard output.
const STDOUT: &str = "-";

/// One line, fields in output order.
#[derive(Serialize)]
struct Line<'a> {
    uuid: String,
    topic: &'a str,
    partition: Option<i32>,
    offset: Option<i64>,
    timestamp: Option<i64>,
    key: Option<String>,
    headers: Vec<(&'a str, Option<String>)>,
    value: Option<String>,
}

impl<'a> Line<'a> {
    fn of(message: &'a Outgoing) -> Line<'a> {
        let key = match &message.key {
            Key::Null => None,
            Key::Bytes(b) => Some(BASE64.encode(b)),
            Key::Text(t) => Some(BASE64.encode(t.as_bytes())),
        };
        Line {
            uuid: message.uuid.hyphenated().to_string(),
            topic: &message.topic,
            partition: message.partition,
            offset: message.offset,
            timestamp: message.timestamp_ms,
            key,
            headers: message
                .headers
                .iter()
                .map(|h| (h.key.as_str(), h.value.as_bytes().map(|v| BASE64.encode(v))))
                .collect(),
            value: message.payload.as_ref().map(|p| BASE64.encode(p)),
        }
    }
}

enum Output {
    File(BufWriter<File>),
    Stdout(BufWriter<Stdout>),
}

struct State {
    out: Output,
    /// After a failed write the output may end in a partial line: every
    /// later send and flush fails too.
    broken: bool,
    /// Bytes written so far (the file's length once flushed).
    written: u64,
}

pub struct JsonlSink {
    /// The path as given (`-` for stdout), for errors.
    path: String,
    state: Arc<Mutex<State>>,
}

impl JsonlSink {
    /// Creates (or truncates) the file at `path`; `-` is standard output.
    pub fn create(path: &str) -> Result<JsonlSink, SinkError> {
        let out = if path == STDOUT {
            Output::Stdout(BufWriter::new(std::io::stdout()))
        } else {
            let file =
                File::create(Path::new(path)).map_err(|source| SinkError::Write { path: path.to_owned(), source })?;
            Output::File(BufWriter::new(file))
        };
        Ok(JsonlSink { path: path.to_owned(), state: Arc::new(Mutex::new(State { out, broken: false, written: 0 })) })
    }

    /// Reopens the file of an interrupted export, cut back to `at` bytes
    /// (what its job checkpointed), to append what follows.
    pub fn resume(path: &str, at: u64) -> Result<JsonlSink, SinkError> {
        let error = |source| SinkError::Write { path: path.to_owned(), source };
        let file = std::fs::OpenOptions::new().write(true).open(path).map_err(error)?;
        let length = file.metadata().map_err(error)?.len();
        if length < at {
            let reason = format!("the file has {length} bytes, its job checkpointed {at}: it was changed");
            return Err(error(std::io::Error::other(reason)));
        }
        file.set_len(at).map_err(error)?;
        let mut file = file;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0)).map_err(error)?;
        let state = State { out: Output::File(BufWriter::new(file)), broken: false, written: at };
        Ok(JsonlSink { path: path.to_owned(), state: Arc::new(Mutex::new(state)) })
    }

    fn error(&self, source: std::io::Error) -> SinkError {
        SinkError::Write { path: self.path.clone(), source }
    }

    fn write_line(&self, message: &Outgoing) -> Result<(), SinkError> {
        let mut line = serde_json::to_vec(&Line::of(message))
            .map_err(|e| self.error(std::io::Error::other(format!("message {}: {e}", message.uuid))))?;
        line.push(b'\n');
        let mut state = self.state.lock().map_err(|_| self.error(poisoned()))?;
        if state.broken {
            return Err(self.error(std::io::Error::other("an earlier write failed")));
        }
        let written = match &mut state.out {
            Output::File(w) => w.write_all(&line),
            Output::Stdout(w) => w.write_all(&line),
        };
        state.broken = written.is_err();
        state.written += line.len() as u64;
        written.map_err(|e| self.error(e))
    }
}

fn poisoned() -> std::io::Error {
    std::io::Error::other("the writer's lock is poisoned")
}

/// Flushes the buffer and, for a file, fsyncs it.
fn flush(state: &Mutex<State>) -> std::io::Result<()> {
    let mut state = state.lock().map_err(|_| poisoned())?;
    if state.broken {
        return Err(std::io::Error::other("an earlier write failed"));
    }
    let flushed = match &mut state.out {
        Output::File(w) => w.flush().and_then(|()| w.get_ref().sync_all()),
        Output::Stdout(w) => w.flush(),
    };
    state.broken = flushed.is_err();
    flushed
}

#[async_trait]
impl Sink for JsonlSink {
    async fn prepare(&mut self, _topics: &[TargetTopic]) -> Result<(), SinkError> {
        Ok(())
    }

    fn send(&self, message: Outgoing) -> BoxFuture<'static, Result<(), SinkError>> {
        futures::future::ready(self.write_line(&message)).boxed()
    }

    async fn flush(&self) -> Result<(), SinkError> {
        let state = Arc::clone(&self.state);
        tokio::task::spawn_blocking(move || flush(&state))
            .await
            .map_err(|e| self.error(std::io::Error::other(e)))?
            .map_err(|e| self.error(e))
    }

    fn position(&self) -> Option<u64> {
        let state = self.state.lock().ok()?;
        matches!(state.out, Output::File(_)).then_some(state.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Header, HeaderValue};
    use serde_json::{Value, json};
    use uuid::Uuid;

    fn message(key: Key, payload: Option<Vec<u8>>, headers: Vec<Header>) -> Outgoing {
        Outgoing {
            uuid: Uuid::from_u128(0x0123_4567_89ab_4def_8123_4567_89ab_cdef),
            topic: "sci.alerts".into(),
            partition: Some(2),
            offset: Some(41),
            timestamp_ms: Some(1_700_000_000_123),
            key,
            headers,
            payload,
        }
    }

    async fn export(messages: Vec<Outgoing>) -> Vec<Value> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.jsonl");
        let path = path.to_str().expect("utf-8 path");
        let sink = JsonlSink::create(path).expect("create");
        for m in messages {
            sink.send(m).await.expect("send");
        }
        sink.flush().await.expect("flush");
        let text = std::fs::read_to_string(path).expect("read back");
        assert!(text.ends_with('\n'), "every line ends with a newline");
        text.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect()
    }

    #[tokio::test]
    async fn line_has_every_field_in_order_with_null_apart_from_empty() {
        let headers = vec![
            Header::new("_id", Some(b"\x00\x01".as_slice())),
            Header::new("_id", Some(b"".as_slice())),
            Header::new("n", None),
            Header { key: "t".into(), value: HeaderValue::Text("é".into()) },
        ];
        let lines = export(vec![
            message(Key::Bytes(b"k\xff".to_vec()), Some(b"hello".to_vec()), headers),
            message(Key::Bytes(Vec::new()), Some(Vec::new()), Vec::new()),
            Outgoing {
                partition: None,
                offset: None,
                timestamp_ms: None,
                ..message(Key::Null, None, vec![Header::new("e", None)])
            },
            message(Key::Text(String::new()), None, Vec::new()),
            message(Key::Text("clé".into()), None, Vec::new()),
        ])
        .await;
        assert_eq!(lines.len(), 5);
        let first = &lines[0];
        let names: Vec<&str> = first.as_object().expect("an object").keys().map(String::as_str).collect();
        assert_eq!(names, ["uuid", "topic", "partition", "offset", "timestamp", "key", "headers", "value"]);
        assert_eq!(
            *first,
            json!({
                "uuid": "01234567-89ab-4def-8123-456789abcdef",
                "topic": "sci.alerts",
                "partition": 2,
                "offset": 41,
                "timestamp": 1_700_000_000_123_i64,
                "key": BASE64.encode(b"k\xff"),
                "headers": [["_id", "AAE="], ["_id", ""], ["n", null], ["t", BASE64.encode("é")]],
                "value": "aGVsbG8=",
            })
        );
        // Empty key and value: empty strings, not null.
        assert_eq!((&lines[1]["key"], &lines[1]["value"], &lines[1]["headers"]), (&json!(""), &json!(""), &json!([])));
        // Null key, value, header value and unknown provenance: null.
        let third = &lines[2];
        for field in ["partition", "offset", "timestamp", "key", "value"] {
            assert_eq!(third[field], Value::Null, "{field}");
        }
        assert_eq!(third["headers"], json!([["e", null]]));
        // A text key is the base64 of its UTF-8, empty kept empty.
        assert_eq!(lines[3]["key"], json!(""));
        assert_eq!(lines[4]["key"], json!(BASE64.encode("clé")));
    }

    #[tokio::test]
    async fn create_truncates_and_an_unwritable_path_is_a_write_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.jsonl");
        std::fs::write(&path, "old contents\n").expect("seed");
        let sink = JsonlSink::create(path.to_str().expect("utf-8")).expect("create");
        sink.flush().await.expect("flush");
        assert_eq!(std::fs::read(&path).expect("read"), b"");
        let missing = dir.path().join("no/such/dir/out.jsonl");
        let Err(SinkError::Write { path, .. }) = JsonlSink::create(missing.to_str().expect("utf-8")) else {
            panic!("a path in a missing directory is a write error");
        };
        assert!(path.ends_with("out.jsonl"));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_full_disk_is_a_write_error_and_the_sink_stays_failed() {
        let sink = JsonlSink::create("/dev/full").expect("open /dev/full");
        let big = message(Key::Null, Some(vec![0; 64 << 10]), Vec::new());
        // The buffer takes small lines; a line larger than it is written
        // through, and a flush always reaches the device.
        let first = sink.send(big.clone()).await;
        assert!(matches!(first, Err(SinkError::Write { .. })), "{first:?}");
        let again = sink.send(message(Key::Null, None, Vec::new())).await;
        assert!(matches!(again, Err(SinkError::Write { .. })), "{again:?}");
        assert!(matches!(sink.flush().await, Err(SinkError::Write { .. })));
    }
}
