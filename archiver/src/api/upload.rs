//! `POST /topic/{topic}`: direct upload (also hop-client's large-message
//! offload target, `{topic}+oversized`), through the ingest identity path.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use serde_json::json;

use super::auth::Permission;
use super::render::{self, bson_document, json_response, wants_json};
use super::{ApiError, ApiLimits, ApiState, params};
use crate::index::TimestampType;
use crate::pipeline::{Provenance, UploadOutcome, place_upload};
use crate::record::bson::{self, Document, Value};
use crate::record::{Header, HeaderValue, Key, Message};

pub async fn upload(
    State(state): State<Arc<ApiState>>,
    Path(topic): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if state.limits.read_only {
        return Err(ApiError::ReadOnly);
    }
    let topic = params::topic(&topic)?.to_owned();
    let principal = state.access.principal(&headers)?;
    state.access.require(principal, Permission::Write, &topic)?;
    let bytes = read_body(&headers, body, &state.limits).await?;
    let mut upload = parse(&bytes)?;
    // As upstream: the uploader's name is the sender unless the message names one.
    if let Some(name) = principal.name()
        && !upload.headers.iter().any(|h| h.key == "_sender")
    {
        upload.headers.push(Header::new("_sender", Some(name.as_bytes())));
    }
    let now_ms = crate::pipeline::now_ms();
    let message = Message {
        topic: topic.clone(),
        timestamp: now_ms,
        key: upload.key,
        headers: upload.headers,
        payload: Some(upload.payload),
    };
    let provenance = Provenance {
        partition: None,
        offset: None,
        timestamp_type: TimestampType::Upload,
        ingested_at_ms: now_ms,
        public: state.access.is_public(&topic),
        direct_upload: true,
        text: state.text.for_topic(&topic),
    };
    match place_upload(state.store.as_ref(), state.index.as_ref(), &state.key_locks, &message, &provenance).await? {
        UploadOutcome::Duplicate { uuid } => Err(ApiError::Duplicate { uuid }),
        UploadOutcome::Stored { uuid, is_client_uuid } => {
            tracing::info!(%topic, %uuid, is_client_uuid, by = principal.name().unwrap_or(""), "direct upload stored");
            let uuid = uuid.hyphenated().to_string();
            let response = if wants_json(&headers) {
                json_response(&json!({"archive_uuid": uuid, "is_client_uuid": is_client_uuid}))
            } else {
                render::bson_response(bson_document(&Document(vec![
                    ("archive_uuid".into(), Value::String(uuid)),
                    ("is_client_uuid".into(), Value::Bool(is_client_uuid)),
                ])))
            };
            Ok((StatusCode::CREATED, response).into_response())
        }
    }
}

/// The whole body, refusing early when `Content-Length` already says it is
/// too large, stopping at the bound otherwise, and giving up (408) on a
/// client that sends less than `client_rate_bytes_per_s_min` over a window
/// of `client_rate_window_ms` (the request deadline bounds the whole read).
async fn read_body(headers: &HeaderMap, body: Body, limits: &ApiLimits) -> Result<bytes::Bytes, ApiError> {
    let size_bytes_max = limits.upload_size_bytes_max;
    let too_large = || ApiError::PayloadTooLarge { size_bytes_max };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > size_bytes_max) {
        return Err(too_large());
    }
    let window = Duration::from_millis(limits.clients.client_rate_window_ms.max(1));
    let window_bytes_min =
        limits.clients.client_rate_bytes_per_s_min.saturating_mul(limits.clients.client_rate_window_ms) / 1000;
    let mut frames = body.into_data_stream();
    let mut out = bytes::BytesMut::new();
    loop {
        let window_end = tokio::time::Instant::now() + window;
        let window_start_len = out.len();
        loop {
            match tokio::time::timeout_at(window_end, frames.next()).await {
                Err(_) => break,
                Ok(None) => return Ok(out.freeze()),
                Ok(Some(Err(e))) => return Err(ApiError::bad_request(format!("cannot read the request body: {e}"))),
                Ok(Some(Ok(chunk))) => {
                    if (out.len() + chunk.len()) as u64 > size_bytes_max {
                        return Err(too_large());
                    }
                    out.extend_from_slice(&chunk);
                }
            }
        }
        let received = (out.len() - window_start_len) as u64;
        if received < window_bytes_min {
            return Err(ApiError::TooSlow(format!(
                "upload body arrived at {received} bytes in {} ms; at least {} bytes/s are required",
                window.as_millis(),
                limits.clients.client_rate_bytes_per_s_min
            )));
        }
    }
}

/// What an upload body carries.
#[derive(Debug)]
struct Upload {
    payload: Vec<u8>,
    headers: Vec<Header>,
    key: Key,
}

/// `{message: binary, headers?: [[str, binary]…] | {str: binary}, key?: binary | str}`;
/// any other field, a missing `message` or a wrongly typed value is a 400.
fn parse(bytes: &[u8]) -> Result<Upload, ApiError> {
    let doc = bson::decode(bytes).map_err(|e| ApiError::bad_request(format!("body is not BSON: {e}")))?;
    let mut payload = None;
    let mut headers = None;
    // Upstream stores an absent key as empty bytes.
    let mut key = None;
    for (name, value) in doc.0 {
        let slot_taken = match name.as_str() {
            "message" => payload.replace(message(value)?).is_some(),
            "headers" => headers.replace(header_list(value)?).is_some(),
            "key" => key.replace(key_value(value)?).is_some(),
            other => return Err(ApiError::bad_request(format!("unexpected field {other:?} in upload body"))),
        };
        if slot_taken {
            return Err(ApiError::bad_request(format!("field {name:?} appears twice")));
        }
    }
    let payload = payload.ok_or_else(|| ApiError::bad_request("upload body lacks `message`"))?;
    Ok(Upload { payload, headers: headers.unwrap_or_default(), key: key.unwrap_or(Key::Bytes(Vec::new())) })
}

fn message(value: Value) -> Result<Vec<u8>, ApiError> {
    match value {
        Value::Binary { subtype: 0, bytes } => Ok(bytes),
        other => Err(ApiError::bad_request(format!("`message` must be binary, not {}", other.type_name()))),
    }
}

fn key_value(value: Value) -> Result<Key, ApiError> {
    match value {
        Value::Binary { subtype: 0, bytes } => Ok(Key::Bytes(bytes)),
        Value::String(text) => Ok(Key::Text(text)),
        Value::Null => Ok(Key::Null),
        other => Err(ApiError::bad_request(format!("`key` must be binary or a string, not {}", other.type_name()))),
    }
}

fn header_list(value: Value) -> Result<Vec<Header>, ApiError> {
    let pairs: Vec<(String, Value)> = match value {
        Value::Document(doc) => doc.0,
        Value::Array(items) => items.into_iter().map(pair).collect::<Result<_, _>>()?,
        Value::Null => Vec::new(),
        other => {
            return Err(ApiError::bad_request(format!(
                "`headers` must be a list or a document, not {}",
                other.type_name()
            )));
        }
    };
    pairs
        .into_iter()
        .map(|(key, value)| match value {
            Value::Binary { subtype: 0, bytes } => Ok(Header { key, value: HeaderValue::Bytes(bytes) }),
            other => Err(ApiError::bad_request(format!(
                "header {key:?} must have a binary value, not {}",
                other.type_name()
            ))),
        })
        .collect()
}

fn pair(item: Value) -> Result<(String, Value), ApiError> {
    let bad = || ApiError::bad_request("each header must be a [name, value] pair");
    let Value::Array(pair) = item else { return Err(bad()) };
    let [name, value]: [Value; 2] = pair.try_into().map_err(|_| bad())?;
    match name {
        Value::String(name) => Ok((name, value)),
        _ => Err(bad()),
    }
}
