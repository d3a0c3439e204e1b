//! `verify --api`: the checks of [`verify`](super::verify) made through the
//! archive's HTTP API (`archiver serve`) instead of its index and store.
//!
//! The API shows no fingerprints, so each candidate UUID's object is fetched
//! (`GET /msg/{uuid}`: the stored bytes, verbatim) and the fingerprint of the
//! message it holds computed. A message is found where that fingerprint is
//! its own; an object at one of its UUIDs whose content is no message of the
//! stream is the message damaged (a mismatch, compared field by field as the
//! store path does). For extras every row of the stream's topics is listed
//! (`GET /topic/{topic}?meta=true`, keyset pages): a row not accounted for
//! whose payload CRC-32 is that of a stream message of its topic has its
//! object fetched and its fingerprint looked up; every other row is foreign
//! traffic. A row whose object the API cannot serve is counted as foreign
//! there (its content is unknown); under a message's own UUIDs it is
//! reported as unreadable. Under a run tag the tag's topics come from
//! `GET /topics`, every row there not accounted for is fetched, and one
//! that is no message of the stream (or cannot be served) is stray; the
//! other topics' rows are counted from the same listing.

use super::{
    Discrepancy, ExtraReason, Report, VerifyError, candidates, compare, is_stray, scanned_topics, stream_fingerprints,
};
use crate::expect::{Expectation, ExpectedMessage, payload_crc32};
use archiver::identity::{Fingerprint, Identity};
use archiver::record::Record;
use futures::StreamExt as _;
use reqwest::header::{ACCEPT, HeaderValue};
use reqwest::{StatusCode, Url};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use uuid::Uuid;

/// Requests in flight at once; the API answers 64 and refuses more.
const REQUESTS_IN_FLIGHT_MAX: usize = 16;
/// Rows per metadata listing page (the API's `PAGE_ROWS_MAX`).
const LIST_PAGE_ROWS: u32 = 1000;
/// Tries of a request the API answered "busy" or "timed out" (503, 408), or
/// that could not connect.
const ATTEMPTS_MAX: u32 = 5;
const RETRY_PAUSE: Duration = Duration::from_millis(200);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// One request, body included: objects are at most ~1 MB.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest answer read: objects are about 1 MB at most, a metadata page of
/// 1000 rows under 1 MB.
const BODY_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Longest error body quoted in a message.
const BODY_QUOTE_MAX: usize = 300;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid API URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    // The sources are printed by whoever prints the chain (`{:#}`).
    #[error("cannot create the HTTP client")]
    Client(#[source] reqwest::Error),
    #[error("GET {url}")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("GET {url}: the API refused the request ({status}: {body}); {hint}")]
    Refused { url: String, status: StatusCode, body: String, hint: &'static str },
    #[error("GET {url}: unexpected answer {status}: {body}")]
    Status { url: String, status: StatusCode, body: String },
    #[error("GET {url}: {reason}")]
    Malformed { url: String, reason: String },
}

/// A client of one archive API.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
}

impl std::fmt::Debug for ApiClient {
    // The token stays out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

/// What `GET /msg/{uuid}` gave.
enum Fetched {
    Object(Vec<u8>),
    /// 404: no message under that UUID.
    Absent,
    /// A server error: the index lists the message but the API cannot
    /// serve its object (a missing or broken object, a failing store).
    Unservable(String),
}

/// One row of a metadata listing.
struct Row {
    uuid: Uuid,
    payload_crc32: u32,
}

impl ApiClient {
    /// A client of the API at `base` (`http://host:port`, maybe with a path
    /// prefix), sending `token` as a bearer token when given.
    pub fn new(base: &str, token: Option<String>) -> Result<ApiClient, ApiError> {
        let bad = |reason: &str| ApiError::Url { url: base.to_owned(), reason: reason.to_owned() };
        let url = Url::parse(base).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("expected http:// or https://"));
        }
        if url.cannot_be_a_base() || url.query().is_some() || url.fragment().is_some() {
            return Err(bad("expected the API's base URL, without query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("credentials do not belong in the URL: use --api-token"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(ApiError::Client)?;
        Ok(ApiClient { http, base: url, token: token.filter(|t| !t.is_empty()) })
    }

    /// The base URL with `segments` appended, each percent-encoded.
    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// GETs `url`, retrying while the API is busy or unreachable.
    async fn get(&self, url: &Url, json: bool) -> Result<reqwest::Response, ApiError> {
        let mut attempt = 1;
        loop {
            let mut request = self.http.get(url.clone());
            if json {
                request = request.header(ACCEPT, HeaderValue::from_static("application/json"));
            }
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            match request.send().await {
                Ok(response) if matches!(response.status().as_u16(), 408 | 503) && attempt < ATTEMPTS_MAX => {}
                // The last busy answer goes back to the caller, which reports it.
                Ok(response) => return Ok(response),
                Err(e) if e.is_connect() && attempt < ATTEMPTS_MAX => {}
                Err(e) => return Err(ApiError::Request { url: url.to_string(), source: e.without_url() }),
            }
            tokio::time::sleep(RETRY_PAUSE * attempt).await;
            attempt += 1;
        }
    }

    /// Checks that `base` is an archive API whose storage answers.
    pub async fn health(&self) -> Result<(), ApiError> {
        let url = self.endpoint(&["health_check"]);
        let response = self.get(&url, true).await?;
        let status = response.status();
        let body = body_bytes(&url, response).await?;
        let health: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let ok = |name: &str| health.get(name).and_then(serde_json::Value::as_bool);
        match (status, ok("DatabaseOK"), ok("ObjectStoreOK")) {
            (StatusCode::OK, Some(true), Some(true)) => Ok(()),
            (_, Some(db), Some(store)) => Err(ApiError::Malformed {
                url: url.to_string(),
                reason: format!("the archive's storage is down (database ok: {db}, object store ok: {store})"),
            }),
            _ => Err(ApiError::Malformed {
                url: url.to_string(),
                reason: format!("{status}: not an archive API (`archiver serve`): {}", quote(&body)),
            }),
        }
    }

    /// `GET /msg/{uuid}`: the stored object.
    async fn object(&self, uuid: Uuid) -> Result<Fetched, ApiError> {
        let url = self.endpoint(&["msg", &uuid.hyphenated().to_string()]);
        let response = self.get(&url, false).await?;
        let status = response.status();
        let body = body_bytes(&url, response).await?;
        match status {
            StatusCode::OK => Ok(Fetched::Object(body)),
            StatusCode::NOT_FOUND => Ok(Fetched::Absent),
            // The index lists it, but its object cannot be served.
            StatusCode::INTERNAL_SERVER_ERROR => Ok(Fetched::Unservable(format!(
                "the API cannot serve it ({status}: {}); the index may list it without its object",
                quote(&body)
            ))),
            // Still busy or unavailable (503, 408) after retries, refused, …: an error, not a finding.
            s => Err(refused_or_status(&url, s, &body)),
        }
    }

    /// A JSON answer of `url` (a `what`, for errors), which must be 200.
    async fn get_json(&self, url: &Url, what: &str) -> Result<serde_json::Value, ApiError> {
        let response = self.get(url, true).await?;
        let status = response.status();
        let body = body_bytes(url, response).await?;
        if status != StatusCode::OK {
            return Err(refused_or_status(url, status, &body));
        }
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::Malformed { url: url.to_string(), reason: format!("{what} is not JSON: {e}") })
    }

    /// One page of `topic`'s rows (retracted included) and the next page's token.
    async fn rows(&self, topic: &str, page: Option<&str>) -> Result<(Vec<Row>, Option<String>), ApiError> {
        let mut url = self.endpoint(&["topic", topic]);
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("meta", "true").append_pair("limit", &LIST_PAGE_ROWS.to_string());
            if let Some(token) = page {
                query.append_pair("page", token);
            }
        }
        let listing = self.get_json(&url, "listing").await?;
        let malformed = |reason: String| ApiError::Malformed { url: url.to_string(), reason };
        let messages = listing
            .get("messages")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| malformed("listing without a `messages` array".into()))?;
        let rows = messages
            .iter()
            .map(|m| {
                let uuid = m.get("uuid").and_then(serde_json::Value::as_str).and_then(|u| Uuid::parse_str(u).ok());
                let crc = m.get("con_message_crc32").and_then(serde_json::Value::as_u64);
                match (uuid, crc.and_then(|c| u32::try_from(c).ok())) {
                    (Some(uuid), Some(payload_crc32)) => Ok(Row { uuid, payload_crc32 }),
                    _ => Err(malformed(format!("listing row without a valid uuid and con_message_crc32: {m}"))),
                }
            })
            .collect::<Result<Vec<Row>, ApiError>>()?;
        let next = match listing.get("next") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(token)) => Some(token.clone()),
            Some(other) => return Err(malformed(format!("`next` is not a page token: {other}"))),
        };
        Ok((rows, next))
    }

    /// Every readable topic and its row count (`GET /topics`, paged by `after`).
    async fn topics(&self) -> Result<Vec<(String, i64)>, ApiError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut url = self.endpoint(&["topics"]);
            if let Some(after) = &after {
                url.query_pairs_mut().append_pair("after", after);
            }
            let listing = self.get_json(&url, "topic list").await?;
            let malformed = |reason: String| ApiError::Malformed { url: url.to_string(), reason };
            let topics = listing
                .get("topics")
                .and_then(serde_json::Value::as_array)
                .ok_or_else(|| malformed("topic list without a `topics` array".into()))?;
            for t in topics {
                let name = t.get("topic").and_then(serde_json::Value::as_str);
                match (name, t.get("count").and_then(serde_json::Value::as_i64)) {
                    (Some(name), Some(count)) => out.push((name.to_owned(), count)),
                    _ => return Err(malformed(format!("topic entry without a topic and a count: {t}"))),
                }
            }
            match listing.get("next") {
                None | Some(serde_json::Value::Null) => return Ok(out),
                Some(serde_json::Value::String(next)) if after.as_ref() != Some(next) => after = Some(next.clone()),
                Some(other) => return Err(malformed(format!("`next` does not move on: {other}"))),
            }
        }
    }
}

/// The whole body of `response`, bounded by [`BODY_BYTES_MAX`].
async fn body_bytes(url: &Url, mut response: reqwest::Response) -> Result<Vec<u8>, ApiError> {
    let too_big = || ApiError::Malformed {
        url: url.to_string(),
        reason: format!("the answer exceeds {BODY_BYTES_MAX} bytes, more than any archive object or listing page"),
    };
    if response.content_length().is_some_and(|n| n > BODY_BYTES_MAX as u64) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| ApiError::Request { url: url.to_string(), source: e.without_url() })?
    {
        if body.len() + chunk.len() > BODY_BYTES_MAX {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn refused_or_status(url: &Url, status: StatusCode, body: &[u8]) -> ApiError {
    let (url, body) = (url.to_string(), quote(body));
    match status {
        StatusCode::UNAUTHORIZED => {
            ApiError::Refused { url, status, body, hint: "give a token with read permission (--api-token)" }
        }
        StatusCode::FORBIDDEN => ApiError::Refused { url, status, body, hint: "the token lacks read permission" },
        _ => ApiError::Status { url, status, body },
    }
}

/// An error body for a message: one line, bounded.
fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(BODY_QUOTE_MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]).replace('\n', " "),
        None => text.replace('\n', " "),
    }
}

/// Verifies the archive behind the API of `client` against `expected`.
pub async fn verify_api(expected: &Expectation, client: &ApiClient) -> Result<Report, VerifyError> {
    client.health().await?;
    let stream = stream_fingerprints(expected);
    let mut report = Report { checked: expected.messages.len(), ..Report::default() };
    let mut accounted: BTreeSet<Uuid> = BTreeSet::new();
    let checks = expected.messages.iter().map(|m| check_message(client, m, &stream));
    let results: Vec<_> = futures::stream::iter(checks).buffered(REQUESTS_IN_FLIGHT_MAX).collect().await;
    for result in results {
        let (discrepancies, uuids) = result?;
        report.discrepancies.extend(discrepancies);
        accounted.extend(uuids);
    }
    scan_for_extras(expected, client, &stream, &accounted, &mut report).await?;
    check_disputes(expected, client, &mut report).await?;
    Ok(report)
}

/// Applies the rule of [`super::disputes`] to the objects served under the
/// disputed `_id`s.
async fn check_disputes(expected: &Expectation, client: &ApiClient, report: &mut Report) -> Result<(), ApiError> {
    let owners = super::disputes::disputes(expected).into_iter().map(|d| async move {
        let owner = match client.object(d.uuid).await? {
            Fetched::Object(bytes) => Record::decode(&bytes).ok().map(|r| Identity::of(&r.message()).fingerprint),
            Fetched::Absent | Fetched::Unservable(_) => None,
        };
        Ok::<_, ApiError>(d.check(owner))
    });
    let checked: Vec<_> = futures::stream::iter(owners).buffered(REQUESTS_IN_FLIGHT_MAX).collect().await;
    for discrepancy in checked {
        report.discrepancies.extend(discrepancy?);
    }
    Ok(())
}

/// The discrepancies of one expected message, and the UUIDs its check
/// accounted for (its copies, or the damaged object in its place).
async fn check_message(
    client: &ApiClient,
    expected: &ExpectedMessage,
    stream: &BTreeMap<Fingerprint, (u64, ExtraReason)>,
) -> Result<(Vec<Discrepancy>, Vec<Uuid>), ApiError> {
    let seq = expected.seq;
    let mut hits: Vec<(Uuid, Record)> = Vec::new();
    // Objects at its UUIDs that hold no message of the stream.
    let mut damaged: Vec<(Uuid, Result<Record, String>)> = Vec::new();
    for uuid in candidates(&expected.message) {
        match client.object(uuid).await? {
            Fetched::Absent => {}
            Fetched::Unservable(error) => damaged.push((uuid, Err(error))),
            Fetched::Object(bytes) => match Record::decode(&bytes) {
                Err(e) => damaged.push((uuid, Err(e.to_string()))),
                Ok(record) => {
                    let fingerprint = Identity::of(&record.message()).fingerprint;
                    if fingerprint == expected.fingerprint {
                        hits.push((uuid, record));
                    } else if !stream.contains_key(&fingerprint) {
                        damaged.push((uuid, Ok(record)));
                    }
                }
            },
        }
    }
    let mut out = Vec::new();
    if let Some(((uuid, record), again)) = hits.split_first() {
        out.extend(again.iter().map(|(uuid, _)| Discrepancy::Extra { seq, uuid: *uuid, reason: ExtraReason::Copy }));
        out.extend(compare(expected, record, *uuid));
        return Ok((out, hits.iter().map(|(uuid, _)| *uuid).collect()));
    }
    // Prefer the UUID the message was expected under.
    damaged.sort_by_key(|(uuid, _)| *uuid != expected.placement.uuid);
    let Some((uuid, found)) = damaged.into_iter().next() else {
        out.push(Discrepancy::Missing { seq, uuid: expected.placement.uuid });
        return Ok((out, Vec::new()));
    };
    match found {
        Err(error) => out.push(Discrepancy::Unreadable { seq, uuid, error }),
        Ok(record) => out.push(compare(expected, &record, uuid).unwrap_or(Discrepancy::Mismatch {
            seq,
            uuid,
            // Unreachable in practice: another fingerprint means another field.
            fields: vec!["fingerprint"],
        })),
    }
    Ok((out, vec![uuid]))
}

/// Lists every row of the scanned topics for extra copies, for vetoed or
/// `_test` messages archived and, under a run tag, for stray rows; see the
/// module documentation.
async fn scan_for_extras(
    expected: &Expectation,
    client: &ApiClient,
    stream: &BTreeMap<Fingerprint, (u64, ExtraReason)>,
    accounted: &BTreeSet<Uuid>,
    report: &mut Report,
) -> Result<(), ApiError> {
    let crcs: BTreeSet<(&str, u32)> = expected
        .messages
        .iter()
        .map(|m| (m.message.topic.as_str(), payload_crc32(&m.message)))
        .chain(expected.excluded.iter().map(|x| (x.topic.as_str(), x.payload_crc32)))
        .collect();
    let archived = match expected.run_tag {
        Some(_) => client.topics().await?,
        None => Vec::new(),
    };
    let (topics, others) = scanned_topics(expected, archived.iter().map(|(t, n)| (t.as_str(), *n)));
    report.foreign_rows += others;
    for topic in topics {
        let stray = is_stray(expected.run_tag.as_ref(), &topic);
        let mut page: Option<String> = None;
        loop {
            let (rows, next) = client.rows(&topic, page.as_deref()).await?;
            let mut suspects = Vec::new();
            for row in rows.iter().filter(|r| !accounted.contains(&r.uuid)) {
                if stray || crcs.contains(&(topic.as_str(), row.payload_crc32)) {
                    suspects.push(row.uuid);
                } else {
                    report.foreign_rows += 1;
                }
            }
            let fetches = suspects.into_iter().map(|uuid| async move { (uuid, client.object(uuid).await) });
            let fetched: Vec<_> = futures::stream::iter(fetches).buffered(REQUESTS_IN_FLIGHT_MAX).collect().await;
            for (uuid, object) in fetched {
                let fingerprint = match object? {
                    Fetched::Object(bytes) => {
                        Record::decode(&bytes).ok().map(|r| Identity::of(&r.message()).fingerprint)
                    }
                    Fetched::Absent | Fetched::Unservable(_) => None,
                };
                match fingerprint.and_then(|f| stream.get(&f)) {
                    Some(&(seq, reason)) => report.discrepancies.push(Discrepancy::Extra { seq, uuid, reason }),
                    None if stray => report.discrepancies.push(Discrepancy::Stray { uuid, topic: topic.clone() }),
                    None => report.foreign_rows += 1,
                }
            }
            match next {
                Some(token) => page = Some(token),
                None => break,
            }
        }
    }
    Ok(())
}
