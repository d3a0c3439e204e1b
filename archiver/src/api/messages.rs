//! One message: the stored object, its payload, its retraction flag; and the
//! health check.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt as _;
use serde_json::json;

use super::auth::Permission;
use super::render::{self, bson_document, json_response, message_json, wants_json};
use super::{ApiError, ApiState, decode, params};
use crate::index::IndexEntry;
use crate::record::bson::Document;
use crate::record::{Body as RecordBody, Record};

/// `GET /health_check`: whether the index and the store answer.
pub async fn health_check(State(state): State<Arc<ApiState>>) -> Response {
    let database_ok = state.index.get(uuid::Uuid::nil()).await.is_ok();
    let store_ok = state.store.head("health_check/probe").await.is_ok();
    let status = if database_ok && store_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, json_response(&json!({"DatabaseOK": database_ok, "ObjectStoreOK": store_ok}))).into_response()
}

/// The row of `uuid` if the caller may read its topic: 400 for a malformed
/// UUID, 401 for an unknown bearer token, and one and the same 404 for a
/// message that does not exist and for one the caller may not read, so that
/// nobody learns which UUIDs the private topics hold.
pub(super) async fn readable(state: &ApiState, uuid: &str, headers: &HeaderMap) -> Result<IndexEntry, ApiError> {
    let uuid = params::uuid(uuid)?;
    let principal = state.access.principal(headers)?;
    let entry = state.index.get(uuid).await?.ok_or_else(|| hidden(uuid))?;
    if !state.access.may(principal, Permission::Read, &entry.row.topic) {
        return Err(hidden(uuid));
    }
    Ok(entry)
}

/// The answer for a message that does not exist or that the caller may not
/// see: one text for both.
fn hidden(uuid: uuid::Uuid) -> ApiError {
    ApiError::NotFound(format!(
        "no message {uuid} readable with this credential (private topics need `Authorization: Bearer <token>`)"
    ))
}

/// `GET /msg/{uuid}`: the stored object verbatim (hop-client's
/// `fetch_external` reads this), or its JSON rendering.
///
/// The verbatim object is streamed from the store with the store's size as
/// `Content-Length`, so a large object never sits whole in memory. A store
/// error before the first byte is answered with its status as usual; one
/// after it (the 200 is sent) aborts the body, and the client sees a
/// transfer shorter than `Content-Length`, never a silently short object.
pub async fn get_message(
    State(state): State<Arc<ApiState>>,
    Path(uuid): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let entry = readable(&state, &uuid, &headers).await?;
    if wants_json(&headers) {
        return message_as_json(&state, entry).await;
    }
    let (key, uuid) = (&entry.row.key, entry.row.uuid);
    let object = state
        .store
        .get_stream(key)
        .await?
        .ok_or_else(|| ApiError::Inconsistent(format!("object {key} of message {uuid} is missing")))?;
    let length = HeaderValue::from(object.size_bytes());
    // The access log already recorded a 200; this line is the only trace
    // of a body cut short.
    let body = object.inspect_err(move |error| tracing::error!(%uuid, %error, "object stream failed mid-response"));
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(render::BSON)), (header::CONTENT_LENGTH, length)],
        Body::from_stream(body),
    )
        .into_response())
}

/// The JSON rendering of a message, rendered on the rendering pool and
/// refused (406) when it would exceed the response bound.
async fn message_as_json(state: &ApiState, entry: IndexEntry) -> Result<Response, ApiError> {
    let size_max = state.limits.clients.response_size_bytes_max;
    let (bytes, reserved) = state.object(&entry, size_max).await?;
    let body = state
        .render
        .run(move || {
            let body = render::json_bytes(&message_json(&entry, &decode(&entry, &bytes)?));
            match body.len() as u64 > size_max {
                true => Err(ApiError::ResponseTooLarge { size_bytes_max: size_max }),
                false => Ok(body),
            }
        })
        .await?;
    Ok(reserved.hold_until_sent(render::json_bytes_response(body)))
}

/// `GET /msg/{uuid}/raw_file/{file_name}`: the payload only, as a download.
/// Legacy objects give their `content` (upstream sends an empty body). The
/// object is decoded on the rendering pool; the payload is sent from the
/// decoded bytes, holding its share of the memory budget until it is sent.
pub async fn raw_file(
    State(state): State<Arc<ApiState>>,
    Path((uuid, file_name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let file_name = params::file_name(&file_name)?.to_owned();
    let entry = readable(&state, &uuid, &headers).await?;
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
        .map_err(|_| ApiError::bad_request("invalid file name"))?;
    // The decoded copy of the payload needs as much again as the object.
    let (bytes, reserved) = state.object(&entry, u64::try_from(entry.row.size).unwrap_or(0)).await?;
    let payload = state.render.run(move || Ok(payload(decode(&entry, &bytes)?))).await?;
    let response = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        payload,
    )
        .into_response();
    Ok(reserved.hold_until_sent(response))
}

/// The payload of a decoded object, moved out rather than copied.
fn payload(record: Record) -> Vec<u8> {
    match record.body {
        RecordBody::Bytes(bytes) => bytes,
        RecordBody::Null => Vec::new(),
        RecordBody::Legacy(_) => record.payload().unwrap_or_default().to_vec(),
    }
}

/// `PUT /msg/{uuid}/retraction?retracted=true|false`: allowed to an owner
/// of the topic, or to the credential named as the message's sender when it
/// may also write the topic (upstream trusts the sender name alone).
pub async fn retraction(
    State(state): State<Arc<ApiState>>,
    Path(uuid): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if state.limits.read_only {
        return Err(ApiError::ReadOnly);
    }
    let uuid = params::uuid(&uuid)?;
    let pairs = params::query_pairs(query.as_deref())?;
    let mut values = pairs.iter().filter(|(k, _)| k == "retracted");
    let retracted = match (values.next(), values.next()) {
        (Some((_, v)), None) => params::flag("retracted", v)?,
        _ => return Err(ApiError::bad_request("give `retracted=true` or `retracted=false` exactly once")),
    };
    let principal = state.access.principal(&headers)?;
    if principal.name().is_none() {
        // Nobody retracts anonymously; answered before the lookup, so the
        // answer says nothing about the UUID.
        return Err(state.access.unauthorized("retraction needs a credential"));
    }
    let entry = state.index.get(uuid).await?.ok_or_else(|| hidden(uuid))?;
    let topic = &entry.row.topic;
    let is_sender = principal.name().is_some_and(|name| name == entry.row.sender)
        && state.access.may(principal, Permission::Write, topic);
    if !is_sender && !state.access.may(principal, Permission::Owner, topic) {
        // 403 only to whom may see the message anyway.
        return Err(match state.access.may(principal, Permission::Read, topic) {
            true => state.access.require(principal, Permission::Owner, topic).err().unwrap_or_else(|| hidden(uuid)),
            false => hidden(uuid),
        });
    }
    if !state.index.set_retracted(uuid, retracted).await? {
        return Err(hidden(uuid));
    }
    tracing::info!(%uuid, retracted, by = principal.name().unwrap_or(""), "retraction changed");
    if wants_json(&headers) {
        return Ok(json_response(&json!({})));
    }
    Ok(render::bson_response(bson_document(&Document::default())))
}
