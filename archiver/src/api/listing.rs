//! Listings: `GET /topic/{topic}`, `GET /messages`, `GET /messages/count`,
//! `GET /topics`. Keyset paging on (timestamp, id) with opaque `next` /
//! `prev` tokens, half-open time ranges, bounded pages and response sizes;
//! the topic list pages on topic names (`next` → `after`).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use serde_json::{Value as Json, json};

use super::auth::{Permission, Principal};
use super::params::{self, ListParams, PageToken};
use super::render::{self, bson_document, json_response, wants_json};
use super::token::TokenKey;
use super::{ApiError, ApiState};
use crate::index::{Cursor, IndexEntry, ListQuery, PAGE_ROWS_MAX, TopicStats};
use crate::record::Record;
use crate::record::bson::{self, Document, Value};

/// Objects fetched from the store at once for one listing.
const FETCH_CONCURRENCY: usize = 8;

/// `GET /topic/{topic}`: one topic, which the caller must be able to read.
pub async fn topic(
    State(state): State<Arc<ApiState>>,
    Path(topic): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let topic = params::topic(&topic)?.to_owned();
    let principal = state.access.principal(&headers)?;
    state.access.require(principal, Permission::Read, &topic)?;
    let params = ListParams::parse(&params::query_pairs(query.as_deref())?, &state.tokens)?;
    list(&state, &params, vec![topic], wants_json(&headers)).await
}

/// `GET /messages`: the `topic`s named (each must be readable), else every
/// topic the caller can read.
pub async fn messages(
    State(state): State<Arc<ApiState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (params, topics) = requested(&state, query.as_deref(), &headers).await?;
    list(&state, &params, topics, wants_json(&headers)).await
}

/// `GET /messages/count`: `{count}` with the same filters as `/messages`.
pub async fn count(
    State(state): State<Arc<ApiState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (params, topics) = requested(&state, query.as_deref(), &headers).await?;
    let count = match topics.is_empty() {
        true => 0,
        false => state.index.count(&query_for(&params, topics, 1, None, false)).await?,
    };
    if wants_json(&headers) {
        return Ok(json_response(&json!({"count": count})));
    }
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    Ok(render::bson_response(bson_document(&Document(vec![("count".into(), Value::int(count))]))))
}

/// `GET /topics`: the archived topics the caller can read, in name order,
/// from `after` on (exclusive). As many as fit the response bound; a cut
/// list adds `next`, the last topic sent, for the client to pass as
/// `after` (a list that fits has no `next`, as before paging existed).
pub async fn topics(
    State(state): State<Arc<ApiState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (principal, after, stats) = topic_list_request(&state, query.as_deref(), &headers).await?;
    let readable = readable_stats(&state, principal, &stats, after.as_deref());
    let size_max = state.limits.clients.response_size_bytes_max;
    match wants_json(&headers) {
        true => Ok(topics_json(readable, size_max)),
        false => Ok(topics_bson(readable, size_max)),
    }
}

/// `{"topics": [{topic, count, size_bytes, earliest_ms, latest_ms}…], "next"?}`.
fn topics_json<'a>(readable: impl Iterator<Item = &'a TopicStats>, size_max: u64) -> Response {
    let items = readable.map(|s| {
        let item = json!({"topic": s.topic, "count": s.count, "size_bytes": s.size_bytes,
                          "earliest_ms": s.earliest_ms, "latest_ms": s.latest_ms});
        (s, item)
    });
    let size = |(_, item): &(_, Json)| render::json_bytes(item).len() as u64 + JSON_TOPIC_INDENT_BYTES;
    let (kept, more) = fitting(items, size, size_max);
    let next = kept.last().filter(|_| more).map(|(s, _)| s.topic.clone());
    let topics: Vec<Json> = kept.into_iter().map(|(_, item)| item).collect();
    json_response(&match next {
        Some(next) => json!({"topics": topics, "next": next}),
        None => json!({"topics": topics}),
    })
}

/// What an entry of the JSON topic list takes beyond its own pretty
/// rendering: four more spaces on each of its 7 lines inside the array,
/// and the separator.
const JSON_TOPIC_INDENT_BYTES: u64 = 7 * 4 + 2;

/// `{topics: [name…], next?}`, upstream's shape plus `next` when cut.
fn topics_bson<'a>(readable: impl Iterator<Item = &'a TopicStats>, size_max: u64) -> Response {
    // A string element of an array: type, key ("0", "1", …), length, text, NUL.
    let (kept, more) = fitting(readable, |s| s.topic.len() as u64 + 16, size_max);
    let next = kept.last().filter(|_| more).map(|s| ("next".to_owned(), Value::String(s.topic.clone())));
    let names = kept.into_iter().map(|s| Value::String(s.topic.clone())).collect();
    let doc = std::iter::once(("topics".to_owned(), Value::Array(names))).chain(next).collect();
    render::bson_response(bson_document(&Document(doc)))
}

/// The leading `items` that fit `size_max` with the list around them, each
/// taking `size(item)` bytes (always at least one, so paging moves on),
/// and whether any were left out.
fn fitting<T>(items: impl Iterator<Item = T>, size: impl Fn(&T) -> u64, size_max: u64) -> (Vec<T>, bool) {
    let mut kept = Vec::new();
    let mut total = LISTING_OVERHEAD_BYTES;
    for item in items {
        total = total.saturating_add(size(&item));
        if total > size_max && !kept.is_empty() {
            return (kept, true);
        }
        kept.push(item);
    }
    (kept, false)
}

/// The stats of the topics the caller can read, named after `after` (all
/// when `None`): the stats are in name order, so this is the next page.
/// What a topic list (`/topics`, the browse index) asks for: the caller,
/// the topic to start after, and every topic's totals.
pub(super) async fn topic_list_request<'a>(
    state: &'a ApiState,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<(Principal<'a>, Option<String>, Arc<Vec<TopicStats>>), ApiError> {
    let principal = state.access.principal(headers)?;
    let after = params::after(&params::query_pairs(query)?)?;
    Ok((principal, after, state.topic_stats().await?))
}

pub(super) fn readable_stats<'a>(
    state: &'a ApiState,
    principal: Principal<'a>,
    stats: &'a [TopicStats],
    after: Option<&'a str>,
) -> impl Iterator<Item = &'a TopicStats> + 'a {
    stats
        .iter()
        .filter(move |s| after.is_none_or(|after| s.topic.as_str() > after))
        .filter(move |s| state.access.may(principal, Permission::Read, &s.topic))
}

/// What a `/messages` or `/messages/count` request asks for: its parameters
/// and the topics it covers, each one readable by the caller.
async fn requested(
    state: &ApiState,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<(ListParams, Vec<String>), ApiError> {
    let principal = state.access.principal(headers)?;
    let params = ListParams::parse(&params::query_pairs(query)?, &state.tokens)?;
    let topics = readable_topics(state, principal, &params.topics).await?;
    Ok((params, topics))
}

/// The topics a multi-topic request covers. Named topics must all be
/// readable (one that is not rejects the request, as `/topic/{topic}`
/// would); without names, every archived topic the caller can read.
pub(super) async fn readable_topics(
    state: &ApiState,
    principal: Principal<'_>,
    named: &[String],
) -> Result<Vec<String>, ApiError> {
    if !named.is_empty() {
        for topic in named {
            state.access.require(principal, Permission::Read, topic)?;
        }
        return Ok(named.to_vec());
    }
    let stats = state.topic_stats().await?;
    Ok(readable_stats(state, principal, &stats, None).map(|s| s.topic.clone()).collect())
}

fn query_for(p: &ListParams, topics: Vec<String>, limit: u32, after: Option<Cursor>, descending: bool) -> ListQuery {
    ListQuery {
        topics,
        start_ms: p.start_ms,
        end_ms: p.end_ms,
        descending,
        include_retracted: p.include_retracted,
        limit,
        after,
        search: p.search.clone(),
    }
}

/// One page of a listing, in listing order, with its tokens.
pub(super) struct Listed {
    pub entries: Vec<IndexEntry>,
    pub next: Option<String>,
    pub prev: Option<String>,
}

impl Listed {
    /// Keeps the first `keep` entries; the page then continues after the last one.
    fn cut(&mut self, keep: usize, asc: bool, key: &TokenKey) -> Result<(), ApiError> {
        if keep >= self.entries.len() {
            return Ok(());
        }
        self.entries.truncate(keep);
        let last = self.entries.last().map(|e| Cursor { timestamp: e.row.timestamp, id: e.id });
        self.next = last.map(|cursor| PageToken { forward: true, asc, cursor }.encode(key)).transpose()?;
        Ok(())
    }
}

/// The page `p` asks for. A `prev` token lists backwards from its row and
/// reverses the result, so both directions cost one keyset query.
pub(super) async fn page(
    state: &ApiState,
    p: &ListParams,
    topics: Vec<String>,
    limit: u32,
) -> Result<Listed, ApiError> {
    if topics.is_empty() {
        return Ok(Listed { entries: Vec::new(), next: None, prev: None });
    }
    let backward = p.page.is_some_and(|t| !t.forward);
    let descending = p.asc == backward;
    let after = p.page.map(|t| t.cursor);
    let page = state.index.list(&query_for(p, topics, limit, after, descending)).await?;
    let token = |forward: bool, e: &IndexEntry| {
        PageToken { forward, asc: p.asc, cursor: Cursor { timestamp: e.row.timestamp, id: e.id } }.encode(&state.tokens)
    };
    let mut entries = page.entries;
    let (next, prev) = if backward {
        entries.reverse();
        (entries.last().map(|e| token(true, e)), page.next.and(entries.first()).map(|e| token(false, e)))
    } else {
        let prev = after.and(entries.first()).map(|e| token(false, e));
        (page.next.and(entries.last()).map(|e| token(true, e)), prev)
    };
    Ok(Listed { entries, next: next.transpose()?, prev: prev.transpose()? })
}

async fn list(state: &ApiState, p: &ListParams, topics: Vec<String>, json: bool) -> Result<Response, ApiError> {
    let cap = if p.meta { PAGE_ROWS_MAX } else { state.limits.page_rows_max };
    let mut listed = page(state, p, topics, p.limit.min(cap)).await?;
    if p.meta {
        return render_meta(state, listed, p.asc, json);
    }
    let size_max = state.limits.clients.response_size_bytes_max;
    listed.cut(within(&listed.entries, size_max), p.asc, &state.tokens)?;
    let objects_bytes: u64 = listed.entries.iter().map(|e| u64::try_from(e.row.size).unwrap_or(0)).sum();
    let rendered_bytes = if json { size_max.min(objects_bytes.saturating_mul(JSON_EXPANSION_MAX)) } else { 0 };
    let mut reserved = state.budget.reserve(objects_bytes.saturating_add(rendered_bytes))?;
    let objects = fetch_objects(state, &listed.entries).await?;
    if !json {
        let total: usize = objects.iter().map(|o| o.len()).sum();
        reserved.shrink_to(total);
        let parts = render::listing_bson_parts(listed.next.as_deref(), listed.prev.as_deref(), objects);
        return Ok(reserved.hold_until_sent(render::bson_parts_response(parts)));
    }
    let entries = listed.entries.clone();
    let items = state.render.run(move || render_messages_json(&entries, &objects, size_max)).await?;
    listed.cut(items.len(), p.asc, &state.tokens)?;
    let body = render::json_listing(listed.next.as_deref(), listed.prev.as_deref(), &items);
    drop(items);
    Ok(reserved.hold_until_sent(render::json_bytes_response(body)))
}

/// Most bytes the JSON of a message takes per byte of its object: a
/// control character in a text payload becomes `\u00XX`.
const JSON_EXPANSION_MAX: u64 = 6;

/// The JSON of as many leading messages as fit `size_max` bytes (at least
/// one, or an error when even the first does not fit).
fn render_messages_json(entries: &[IndexEntry], objects: &[Bytes], size_max: u64) -> Result<Vec<Vec<u8>>, ApiError> {
    let mut items = Vec::with_capacity(entries.len());
    let mut total = LISTING_OVERHEAD_BYTES;
    for (e, bytes) in entries.iter().zip(objects) {
        let record = Record::decode(bytes)
            .map_err(|err| ApiError::Inconsistent(format!("object of message {}: {err}", e.row.uuid)))?;
        let item = render::json_bytes(&render::message_json(e, &record));
        total = total.saturating_add(item.len() as u64 + 2);
        if total > size_max {
            if items.is_empty() {
                return Err(ApiError::ResponseTooLarge { size_bytes_max: size_max });
            }
            break;
        }
        items.push(item);
    }
    Ok(items)
}

/// Room for the tokens and brackets around a listing's messages.
const LISTING_OVERHEAD_BYTES: u64 = 1024;

/// The stored objects of `entries`, in order, a few at a time.
async fn fetch_objects(state: &ApiState, entries: &[IndexEntry]) -> Result<Vec<Bytes>, ApiError> {
    let store = Arc::clone(&state.store);
    let jobs: Vec<(String, uuid::Uuid)> = entries.iter().map(|e| (e.row.key.clone(), e.row.uuid)).collect();
    futures::stream::iter(jobs)
        .map(move |(key, uuid)| {
            let store = Arc::clone(&store);
            async move {
                store
                    .get(&key)
                    .await?
                    .ok_or_else(|| ApiError::Inconsistent(format!("object {key} of message {uuid} is missing")))
            }
        })
        .buffered(FETCH_CONCURRENCY)
        .try_collect()
        .await
}

/// How many leading entries' objects fit `size_max` bytes (at least one).
fn within(entries: &[IndexEntry], size_max: u64) -> usize {
    fitting(entries.iter(), |e| u64::try_from(e.row.size).unwrap_or(0) + 16, size_max).0.len()
}

/// Metadata records, as many as fit the response bound (rows carry at most
/// [`render::ROW_TEXT_BYTES_MAX`] per text, so one always fits).
fn render_meta(state: &ApiState, mut listed: Listed, asc: bool, json: bool) -> Result<Response, ApiError> {
    let size_max = state.limits.clients.response_size_bytes_max;
    let rendered = listed.entries.iter().map(|e| match json {
        true => render::json_bytes(&render::entry_json(e)),
        false => bson::encode(&render::meta_document(e)).unwrap_or_default(),
    });
    let (items, _) = fitting(rendered, |item| item.len() as u64 + 16, size_max);
    listed.cut(items.len(), asc, &state.tokens)?;
    let (next, prev) = (listed.next.as_deref(), listed.prev.as_deref());
    if json {
        return Ok(render::json_bytes_response(render::json_listing(next, prev, &items)));
    }
    let items = items.into_iter().map(Bytes::from).collect();
    Ok(render::bson_response(render::listing_bson(next, prev, items)))
}
