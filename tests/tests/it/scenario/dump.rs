//! What an archive holds, two ways: a full byte dump (to compare two runs
//! exactly) and a readable view (the insta snapshot a reviewer reads).
//!
//! Redacted by name, because they follow the wall clock: `ingested_at`, and
//! for rows whose `timestamp_type` is `not_available` the `timestamp` and the
//! day in the object key (both are the ingest time for such messages).

use archiver::index::{Cursor, Index, IndexEntry, ListQuery, PAGE_ROWS_MAX, TimestampType};
use archiver::record::bson::Value;
use archiver::record::{Body, Header, HeaderValue, Key, Record};
use archiver::store::ObjectStore;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How many payload bytes the readable view shows.
const PREFIX_BYTES: usize = 40;
/// Longer header values and keys are shown as size + SHA-256 + prefix.
const VALUE_BYTES_MAX: usize = 64;

const INGEST_TIME: &str = "[ingest time]";
const INGEST_DAY: &str = "[ingest day]";

/// The archive as read back: rows in id order, objects by key.
pub struct Archive {
    pub rows: Vec<IndexEntry>,
    pub objects: BTreeMap<String, Vec<u8>>,
}

/// Reads every row (retracted included) and every object.
pub async fn read(index: &dyn Index, store: &dyn ObjectStore) -> Archive {
    let mut rows = Vec::new();
    let mut query = ListQuery::every_row(vec![], PAGE_ROWS_MAX);
    loop {
        let page = index.list(&query).await.unwrap_or_else(|e| panic!("listing the index to read the archive: {e}"));
        rows.extend(page.entries);
        match page.next {
            Some(Cursor { timestamp, id }) => query.after = Some(Cursor { timestamp, id }),
            None => break,
        }
    }
    rows.sort_by_key(|e| e.id);
    let mut objects = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list("", after.as_deref(), 1000)
            .await
            .unwrap_or_else(|e| panic!("listing the store to read the archive: {e}"));
        for meta in &page.objects {
            let bytes = store
                .get(&meta.key)
                .await
                .unwrap_or_else(|e| panic!("reading {}: {e}", meta.key))
                .expect("listed object exists");
            objects.insert(meta.key.clone(), bytes.to_vec());
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Archive { rows, objects }
}

/// `key` with its day replaced when the day is the ingest day.
fn stable_key(key: &str, timestamp_type: TimestampType) -> String {
    if timestamp_type != TimestampType::NotAvailable {
        return key.to_owned();
    }
    let parts: Vec<&str> = key.rsplitn(4, '/').collect();
    match parts.as_slice() {
        [file, _, _, rest] => match rest.rsplit_once('/') {
            Some((topic, _year)) => format!("{topic}/{INGEST_DAY}/{file}"),
            None => key.to_owned(),
        },
        _ => key.to_owned(),
    }
}

impl Archive {
    /// `text` (a fault or history line) with ingest days redacted from the
    /// object keys it names.
    pub fn redact(&self, text: &str) -> String {
        self.shown_keys()
            .iter()
            .filter(|(k, shown)| *k != shown)
            .fold(text.to_owned(), |t, (k, shown)| t.replace(k, shown))
    }

    /// Object key → the key as shown (ingest days redacted).
    fn shown_keys(&self) -> BTreeMap<&str, String> {
        let mut keys: BTreeMap<&str, String> = self.objects.keys().map(|k| (k.as_str(), k.clone())).collect();
        for e in &self.rows {
            keys.insert(&e.row.key, stable_key(&e.row.key, e.row.timestamp_type));
        }
        keys
    }

    /// Every byte of the archive except the redacted values, as text.
    pub fn full_dump(&self) -> String {
        let keys = self.shown_keys();
        let mut out = String::new();
        for e in &self.rows {
            let mut row = e.row.clone();
            row.ingested_at = 0;
            if row.timestamp_type == TimestampType::NotAvailable {
                row.timestamp = 0;
            }
            row.key = keys.get(e.row.key.as_str()).cloned().unwrap_or_default();
            let _ = writeln!(out, "row {}: {row:?}", e.id);
        }
        let shown: BTreeMap<&String, &Vec<u8>> =
            self.objects.iter().map(|(k, bytes)| (keys.get(k.as_str()).unwrap_or(k), bytes)).collect();
        for (key, bytes) in shown {
            let _ = writeln!(out, "object {key}: {}", hex(bytes));
        }
        out
    }

    /// The readable view: rows sorted by object key, then every object decoded.
    pub fn view(&self) -> (Vec<Json>, Vec<Json>) {
        let keys = self.shown_keys();
        let mut rows: Vec<(&String, &IndexEntry)> =
            self.rows.iter().map(|e| (keys.get(e.row.key.as_str()).unwrap_or(&e.row.key), e)).collect();
        rows.sort_by(|a, b| a.0.cmp(b.0).then(a.1.id.cmp(&b.1.id)));
        let rows = rows.into_iter().map(|(key, e)| row_view(e, key)).collect();
        let mut objects: Vec<(&String, &Vec<u8>)> =
            self.objects.iter().map(|(k, b)| (keys.get(k.as_str()).unwrap_or(k), b)).collect();
        objects.sort();
        let objects = objects.into_iter().map(|(key, bytes)| object_view(key, bytes)).collect();
        (rows, objects)
    }
}

fn row_view(e: &IndexEntry, key: &str) -> Json {
    let r = &e.row;
    let timestamp =
        if r.timestamp_type == TimestampType::NotAvailable { json!(INGEST_TIME) } else { json!(r.timestamp) };
    json!({
        "id": e.id,
        "uuid": r.uuid.to_string(),
        "topic": r.topic,
        "timestamp": timestamp,
        "size": r.size,
        "key": key,
        "bucket": r.bucket,
        "crc32": format!("{:#010x}", r.crc32),
        "is_client_uuid": r.is_client_uuid,
        "public": r.public,
        "direct_upload": r.direct_upload,
        "message_crc32": format!("{:#010x}", r.message_crc32),
        "title": r.title,
        "sender": r.sender,
        "media_type": r.media_type,
        "file_name": r.file_name,
        "originator": r.originator,
        "retracted": r.retracted,
        "partition": r.partition,
        "kafka_offset": r.kafka_offset,
        "timestamp_type": r.timestamp_type.as_str(),
        "ingested_at": INGEST_TIME,
        "fingerprint": hex(&r.fingerprint),
        "claimed_uuid": r.claimed_uuid.map(|u| u.to_string()),
    })
}

fn object_view(key: &str, bytes: &[u8]) -> Json {
    let record = match Record::decode(bytes) {
        Ok(record) => record,
        Err(e) => return json!({ "key": key, "size": bytes.len(), "undecodable": e.to_string() }),
    };
    let meta = &record.metadata;
    let message = match &record.body {
        Body::Bytes(b) => blob(b, PREFIX_BYTES),
        Body::Null => Json::Null,
        Body::Legacy(_) => json!("legacy layout"),
    };
    let headers = meta.headers.as_ref().map(|hs| hs.iter().map(header_view).collect::<Vec<_>>());
    let kafka_key = match &meta.key {
        None => json!("absent"),
        Some(Key::Null) => Json::Null,
        Some(Key::Bytes(b)) => readable(b),
        Some(Key::Text(t)) => json!({ "text": t }),
    };
    let annotations: serde_json::Map<String, Json> = record
        .annotations
        .as_ref()
        .map(|a| a.0.0.iter().map(|(k, v)| (k.clone(), value_view(v))).collect())
        .unwrap_or_default();
    json!({
        "key": key,
        "size": bytes.len(),
        "sha256": hex(&Sha256::digest(bytes)),
        "message": message,
        "metadata": { "topic": meta.topic, "timestamp": meta.timestamp, "key": kafka_key, "headers": headers },
        "annotations": annotations,
    })
}

fn header_view(h: &Header) -> Json {
    let value = match &h.value {
        HeaderValue::Bytes(b) => readable(b),
        HeaderValue::Null => Json::Null,
        HeaderValue::Text(t) => json!({ "text": t }),
    };
    json!([h.key, value])
}

fn value_view(v: &Value) -> Json {
    match v {
        Value::String(s) => json!(s),
        Value::Bool(b) => json!(b),
        Value::Int32(i) => json!(i),
        Value::Int64(i) => json!(i),
        Value::Null => Json::Null,
        Value::Binary { bytes, .. } => readable(bytes),
        other => json!(format!("{other:?}")),
    }
}

/// Short printable values as text; anything else as size, hash and prefix.
fn readable(bytes: &[u8]) -> Json {
    match std::str::from_utf8(bytes) {
        Ok(text) if bytes.len() <= VALUE_BYTES_MAX && !text.chars().any(char::is_control) => json!(text),
        _ => blob(bytes, 16),
    }
}

/// Size + SHA-256 + a short printable prefix.
fn blob(bytes: &[u8], prefix_bytes: usize) -> Json {
    let head = &bytes[..bytes.len().min(prefix_bytes)];
    let prefix: String = String::from_utf8_lossy(head)
        .chars()
        .map(|c| if c.is_control() || c == char::REPLACEMENT_CHARACTER { '.' } else { c })
        .collect();
    json!({ "size": bytes.len(), "sha256": hex(&Sha256::digest(bytes)), "prefix": prefix })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[test]
fn ingest_days_are_redacted_only_for_rows_without_a_timestamp() {
    let key = "gcn.notice/2026/11/28/0196a1b2-0000-8000-8000-000000000000.bson";
    assert_eq!(stable_key(key, TimestampType::Create), key);
    assert_eq!(
        stable_key(key, TimestampType::NotAvailable),
        "gcn.notice/[ingest day]/0196a1b2-0000-8000-8000-000000000000.bson"
    );
}
