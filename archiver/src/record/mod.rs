//! The archived record: one BSON object per message, byte-compatible with
//! upstream's current encoder (PRODUCT.md §3.1), and readable in upstream's
//! legacy layout too.
//!
//! Decoding is lossless: for any object this module accepts,
//! `Record::decode(b)?.encode()? == b` holds for objects written by upstream's
//! encoders (current and legacy), because element order, integer widths and
//! unknown annotations are all kept.

pub mod bson;

use self::bson::{DecodeError, Document, EncodeError, Value};

/// A Kafka header value. Kafka gives bytes or null; legacy archive objects
/// also hold `""` strings where the value was null.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HeaderValue {
    Bytes(Vec<u8>),
    Null,
    Text(String),
}

impl HeaderValue {
    /// The value's bytes, if it has any (text is its UTF-8).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            HeaderValue::Bytes(b) => Some(b),
            HeaderValue::Text(t) => Some(t.as_bytes()),
            HeaderValue::Null => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    pub key: String,
    pub value: HeaderValue,
}

impl Header {
    pub fn new(key: impl Into<String>, value: Option<&[u8]>) -> Header {
        let value = value.map_or(HeaderValue::Null, |v| HeaderValue::Bytes(v.to_vec()));
        Header { key: key.into(), value }
    }
}

/// The Kafka message key. Direct uploads may give a string key, which is
/// stored as a BSON string (upstream does the same).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Null,
    Bytes(Vec<u8>),
    Text(String),
}

/// Bytes a Kafka message puts on the wire as key, headers (names and
/// values) and value: what a restore counts (and bounds in flight) per
/// message, and what `make bench` rates restores and producers by.
pub fn kafka_bytes(key: &Key, headers: &[Header], payload: Option<&[u8]>) -> usize {
    let key = match key {
        Key::Null => 0,
        Key::Bytes(b) => b.len(),
        Key::Text(t) => t.len(),
    };
    let headers: usize = headers.iter().map(|h| h.key.len() + h.value.as_bytes().map_or(0, <[u8]>::len)).sum();
    key + headers + payload.map_or(0, <[u8]>::len)
}

/// A message as Kafka (or a direct upload) delivers it: what is archived and
/// what identity is computed over.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Message {
    pub topic: String,
    /// Kafka timestamp in ms; negative when Kafka had none.
    pub timestamp: i64,
    pub key: Key,
    /// In order, duplicate keys kept; empty when the record has none.
    pub headers: Vec<Header>,
    /// `None` for a tombstone (null value).
    pub payload: Option<Vec<u8>>,
}

/// The `message` field of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Current layout: the Kafka value bytes exactly as received.
    Bytes(Vec<u8>),
    /// A tombstone.
    Null,
    /// Legacy layout: `{format, content}` as re-serialized by old hop clients.
    Legacy(Document),
}

/// The `metadata` field of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub timestamp: i64,
    /// `None` is BSON null (the record had no headers).
    pub headers: Option<Vec<Header>>,
    /// `None` when the field is absent (legacy objects before 2023-11).
    pub key: Option<Key>,
    pub topic: String,
}

/// The `annotations` field: ordered, unknown keys kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Annotations(pub Document);

/// The annotations the archiver writes, in upstream's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotationFields {
    pub text_uuid: uuid::Uuid,
    pub is_client_uuid: bool,
    pub message_crc32: u32,
    pub public: bool,
    pub direct_upload: bool,
    pub media_type: String,
    pub title: String,
    pub sender: String,
    pub file_name: String,
    pub originator: String,
    /// Upstream's `text_fully_indexed`, written last and only for a topic
    /// whose text is indexed: other topics' objects stay byte-identical
    /// to upstream's.
    pub text_fully_indexed: Option<bool>,
}

impl AnnotationFields {
    pub fn to_annotations(&self) -> Annotations {
        let text = |s: &str| Value::String(s.to_owned());
        Annotations(Document(
            vec![
                ("con_text_uuid".into(), Value::String(self.text_uuid.hyphenated().to_string())),
                ("con_is_client_uuid".into(), Value::Bool(self.is_client_uuid)),
                ("con_message_crc32".into(), Value::int(i64::from(self.message_crc32))),
                ("public".into(), Value::Bool(self.public)),
                ("direct_upload".into(), Value::Bool(self.direct_upload)),
                ("media_type".into(), text(&self.media_type)),
                ("title".into(), text(&self.title)),
                ("sender".into(), text(&self.sender)),
                ("file_name".into(), text(&self.file_name)),
                ("originator".into(), text(&self.originator)),
            ]
            .into_iter()
            .chain(self.text_fully_indexed.map(|full| ("text_fully_indexed".into(), Value::Bool(full))))
            .collect(),
        ))
    }
}

impl Annotations {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    pub fn text(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    pub fn flag(&self, key: &str) -> Option<bool> {
        match self.get(key) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// `con_text_uuid`, if present and a valid UUID.
    pub fn text_uuid(&self) -> Option<uuid::Uuid> {
        self.text("con_text_uuid").and_then(|s| uuid::Uuid::parse_str(s).ok())
    }

    /// `con_message_crc32` in either integer width.
    pub fn message_crc32(&self) -> Option<u32> {
        self.get("con_message_crc32").and_then(Value::as_i64).and_then(|v| u32::try_from(v).ok())
    }
}

/// One archived object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub body: Body,
    pub metadata: Metadata,
    /// `None` only for the earliest upstream objects, which had none.
    pub annotations: Option<Annotations>,
    shape: Shape,
}

/// Field order and fields this archiver does not know, as found in a decoded
/// object, so that decode → encode is the identity for every upstream era.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shape {
    top: Vec<String>,
    top_extra: Document,
    metadata: Vec<String>,
    metadata_extra: Document,
}

impl Shape {
    fn current() -> Shape {
        let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
        Shape {
            top: names(&["message", "metadata", "annotations"]),
            top_extra: Document::default(),
            metadata: names(&["timestamp", "headers", "key", "topic"]),
            metadata_extra: Document::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Bson(#[from] DecodeError),
    #[error("not an archive object: {field}: {problem}")]
    Layout { field: String, problem: String },
}

fn layout(field: impl Into<String>, problem: impl Into<String>) -> RecordError {
    RecordError::Layout { field: field.into(), problem: problem.into() }
}

fn wrong_type(field: &str, expected: &str, found: &Value) -> RecordError {
    layout(field, format!("expected {expected}, found {}", found.type_name()))
}

impl Record {
    /// The current-layout object for a delivered message.
    pub fn new(message: &Message, annotations: Annotations) -> Record {
        let body = message.payload.clone().map_or(Body::Null, Body::Bytes);
        let headers = (!message.headers.is_empty()).then(|| message.headers.clone());
        let metadata = Metadata {
            timestamp: message.timestamp,
            headers,
            key: Some(message.key.clone()),
            topic: message.topic.clone(),
        };
        Record { body, metadata, annotations: Some(annotations), shape: Shape::current() }
    }

    /// Whether the object uses a layout older than the current one.
    pub fn is_legacy(&self) -> bool {
        self.shape != Shape::current() || matches!(self.body, Body::Legacy(_))
    }

    /// The payload bytes: the Kafka value, or a legacy object's `content`.
    pub fn payload(&self) -> Option<&[u8]> {
        match &self.body {
            Body::Bytes(b) => Some(b),
            Body::Null => None,
            Body::Legacy(doc) => match doc.get("content") {
                Some(Value::Binary { bytes, .. }) => Some(bytes),
                _ => None,
            },
        }
    }

    /// The message as delivered, for identity and restore. Legacy objects
    /// give their re-serialized content, which is all that survives of them.
    pub fn message(&self) -> Message {
        let meta = &self.metadata;
        Message {
            topic: meta.topic.clone(),
            timestamp: meta.timestamp,
            key: meta.key.clone().unwrap_or(Key::Null),
            headers: meta.headers.clone().unwrap_or_default(),
            payload: self.payload().map(<[u8]>::to_vec),
        }
    }

    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        bson::encode(&self.to_document())
    }

    pub fn to_document(&self) -> Document {
        let mut doc = Document::default();
        for name in &self.shape.top {
            let value = match name.as_str() {
                "message" => Some(self.body_value()),
                "metadata" => Some(Value::Document(self.metadata_document())),
                "annotations" => self.annotations.as_ref().map(|a| Value::Document(a.0.clone())),
                other => self.shape.top_extra.get(other).cloned(),
            };
            if let Some(value) = value {
                doc.push(name.clone(), value);
            }
        }
        doc
    }

    fn body_value(&self) -> Value {
        match &self.body {
            Body::Bytes(b) => Value::bytes(b.clone()),
            Body::Null => Value::Null,
            Body::Legacy(doc) => Value::Document(doc.clone()),
        }
    }

    fn metadata_document(&self) -> Document {
        let meta = &self.metadata;
        let mut doc = Document::default();
        for name in &self.shape.metadata {
            let value = match name.as_str() {
                "timestamp" => Some(Value::int(meta.timestamp)),
                "headers" => Some(match &meta.headers {
                    None => Value::Null,
                    Some(list) => Value::Array(list.iter().map(header_to_value).collect()),
                }),
                "key" => meta.key.as_ref().map(key_to_value),
                "topic" => Some(Value::String(meta.topic.clone())),
                other => self.shape.metadata_extra.get(other).cloned(),
            };
            if let Some(value) = value {
                doc.push(name.clone(), value);
            }
        }
        doc
    }

    /// Decodes an archive object in the current or a legacy layout.
    pub fn decode(bytes: &[u8]) -> Result<Record, RecordError> {
        Record::from_document(bson::decode(bytes)?)
    }

    pub fn from_document(doc: Document) -> Result<Record, RecordError> {
        let (top, mut fields, top_extra) = split_fields(doc, "top level", &["message", "metadata", "annotations"])?;
        let body = match fields[0].take() {
            Some(Value::Binary { subtype: 0, bytes }) => Body::Bytes(bytes),
            Some(Value::Null) => Body::Null,
            Some(Value::Document(doc)) => Body::Legacy(legacy_body(doc)?),
            Some(other) => return Err(wrong_type("message", "binary, null or {format, content}", &other)),
            None => return Err(layout("message", "missing")),
        };
        let (metadata, metadata_order, metadata_extra) = match fields[1].take() {
            Some(Value::Document(doc)) => Metadata::from_document(doc)?,
            Some(other) => return Err(wrong_type("metadata", "document", &other)),
            None => return Err(layout("metadata", "missing")),
        };
        let annotations = match fields[2].take() {
            Some(Value::Document(doc)) => Some(Annotations(doc)),
            Some(other) => return Err(wrong_type("annotations", "document", &other)),
            None => None,
        };
        let shape = Shape { top, top_extra, metadata: metadata_order, metadata_extra };
        Ok(Record { body, metadata, annotations, shape })
    }
}

/// Splits `doc` into the values of the `known` fields (by position in
/// `known`), the others, and the order of all field names. A known field
/// that appears twice is an error: which one counts would be a guess.
#[allow(clippy::type_complexity)]
fn split_fields<const N: usize>(
    doc: Document,
    path: &str,
    known: &[&str; N],
) -> Result<(Vec<String>, [Option<Value>; N], Document), RecordError> {
    let mut order = Vec::with_capacity(doc.0.len());
    let mut values: [Option<Value>; N] = std::array::from_fn(|_| None);
    let mut extra = Document::default();
    for (name, value) in doc.0 {
        if order.contains(&name) {
            return Err(layout(path, format!("field {name:?} appears twice")));
        }
        order.push(name.clone());
        match known.iter().position(|k| *k == name) {
            Some(i) => values[i] = Some(value),
            None => extra.push(name, value),
        }
    }
    Ok((order, values, extra))
}

fn legacy_body(doc: Document) -> Result<Document, RecordError> {
    match (doc.get("format"), doc.get("content")) {
        (Some(Value::String(_)), Some(Value::Binary { .. })) => Ok(doc),
        _ => Err(layout("message", "a legacy message must hold a string `format` and binary `content`")),
    }
}

impl Metadata {
    fn from_document(doc: Document) -> Result<(Metadata, Vec<String>, Document), RecordError> {
        let (order, mut fields, extra) = split_fields(doc, "metadata", &["timestamp", "headers", "key", "topic"])?;
        let timestamp = match fields[0].take() {
            Some(value) => value.as_i64().ok_or_else(|| wrong_type("metadata.timestamp", "integer", &value))?,
            None => return Err(layout("metadata.timestamp", "missing")),
        };
        let headers = match fields[1].take() {
            Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                Some(items.into_iter().enumerate().map(header_from_value).collect::<Result<_, _>>()?)
            }
            Some(other) => return Err(wrong_type("metadata.headers", "array or null", &other)),
            None => return Err(layout("metadata.headers", "missing")),
        };
        let key = fields[2].take().map(key_from_value).transpose()?;
        let topic = match fields[3].take() {
            Some(Value::String(s)) => s,
            Some(other) => return Err(wrong_type("metadata.topic", "string", &other)),
            None => return Err(layout("metadata.topic", "missing")),
        };
        Ok((Metadata { timestamp, headers, key, topic }, order, extra))
    }
}

fn key_to_value(key: &Key) -> Value {
    match key {
        Key::Null => Value::Null,
        Key::Bytes(b) => Value::bytes(b.clone()),
        Key::Text(t) => Value::String(t.clone()),
    }
}

fn header_to_value(header: &Header) -> Value {
    let value = match &header.value {
        HeaderValue::Bytes(b) => Value::bytes(b.clone()),
        HeaderValue::Null => Value::Null,
        HeaderValue::Text(t) => Value::String(t.clone()),
    };
    Value::Array(vec![Value::String(header.key.clone()), value])
}

fn header_from_value((index, value): (usize, Value)) -> Result<Header, RecordError> {
    let field = format!("metadata.headers.{index}");
    let Value::Array(pair) = value else {
        return Err(wrong_type(&field, "[key, value] array", &value));
    };
    let [key, value]: [Value; 2] =
        pair.try_into().map_err(|p: Vec<Value>| layout(&field, format!("expected 2 elements, found {}", p.len())))?;
    let Value::String(key) = key else {
        return Err(wrong_type(&format!("{field}.0"), "string", &key));
    };
    let value = match value {
        Value::Binary { subtype: 0, bytes } => HeaderValue::Bytes(bytes),
        Value::Null => HeaderValue::Null,
        Value::String(t) => HeaderValue::Text(t),
        other => return Err(wrong_type(&format!("{field}.1"), "binary, null or string", &other)),
    };
    Ok(Header { key, value })
}

fn key_from_value(value: Value) -> Result<Key, RecordError> {
    match value {
        Value::Null => Ok(Key::Null),
        Value::Binary { subtype: 0, bytes } => Ok(Key::Bytes(bytes)),
        Value::String(t) => Ok(Key::Text(t)),
        other => Err(wrong_type("metadata.key", "binary, null or string", &other)),
    }
}
