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

/// `GET /health_check`: whether the index and the store answer.
pub async fn health_check(State(state): State<Arc<ApiState>>) -> Response {
    let database_ok = state.index.get(uuid::Uuid::nil()).await.is_ok();
    let store_ok = state.store.head("health_check/probe").await.is_ok();
    let status = if database_ok && store_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, json_response(&json!({"DatabaseOK": database_ok, "ObjectStoreOK": store_ok}))).into_response()
}

/// The row of `uuid` if the caller may read its topic: 400 for a malformed
/// UUID, 401 for a bad token, 404 for an unknown message, 401/403 without
/// read permission.
pub(super) async fn readable(state: &ApiState, uuid: &str, headers: &HeaderMap) -> Result<IndexEntry, ApiError> {
    let uuid = params::uuid(uuid)?;
    let principal = state.access.principal(headers)?;
    let entry = state.entry(uuid).await?;
    state.access.require(principal, Permission::Read, &entry.row.topic)?;
    Ok(entry)
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
        let bytes = state.object(&entry).await?;
        return Ok(json_response(&message_json(&entry, &decode(&entry, &bytes)?)));
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

/// `GET /msg/{uuid}/raw_file/{file_name}`: the payload only, as a download.
/// Legacy objects give their `content` (upstream sends an empty body).
pub async fn raw_file(
    State(state): State<Arc<ApiState>>,
    Path((uuid, file_name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let file_name = params::file_name(&file_name)?.to_owned();
    let entry = readable(&state, &uuid, &headers).await?;
    let record = decode(&entry, &state.object(&entry).await?)?;
    let payload = record.payload().unwrap_or_default().to_vec();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
        .map_err(|_| ApiError::bad_request("invalid file name"))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        payload,
    )
        .into_response())
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
    let entry = state.entry(uuid).await?;
    let topic = &entry.row.topic;
    let is_sender = principal.name().is_some_and(|name| name == entry.row.sender)
        && state.access.may(principal, Permission::Write, topic);
    if !is_sender {
        state.access.require(principal, Permission::Owner, topic)?;
    }
    if !state.index.set_retracted(uuid, retracted).await? {
        return Err(ApiError::NotFound(format!("no message {uuid}")));
    }
    tracing::info!(%uuid, retracted, by = principal.name().unwrap_or(""), "retraction changed");
    if wants_json(&headers) {
        return Ok(json_response(&json!({})));
    }
    Ok(render::bson_response(bson_document(&Document::default())))
}
