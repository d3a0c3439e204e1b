//! Object stores: where archived BSON objects live.
//!
//! One trait, [`ObjectStore`], with one implementation per file: S3
//! (`s3.rs`), a local filesystem (`fs.rs`) and an in-memory map for tests and
//! the embedded demo (`memory.rs`). Uniqueness of an object key is enforced by
//! the store's conditional create, never by check-then-act.
//!
//! Reads come whole (`get`) or in bounded chunks ([`ObjectStore::get_stream`]),
//! so the API can serve an object without holding all of it in memory.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, Stream, StreamExt};
use url::Url;

pub mod fs;
pub mod memory;
pub mod s3;

pub use fs::FsStore;
pub use memory::MemoryStore;
pub use s3::{S3Config, S3Store, S3Timeouts};

/// Longest key any store accepts, in bytes (S3's own limit).
pub const MAX_KEY_LEN: usize = 1024;

/// Largest page `list` returns; larger limits are clamped (S3's `max-keys` cap).
pub const MAX_LIST_LIMIT: usize = 1000;

/// Largest chunk [`ObjectStore::get_stream`] yields from a file or from
/// memory (S3 chunks are the HTTP client's frames, also bounded): large
/// enough that a multi-MiB object is a few dozen chunks, small enough that
/// many concurrent streams hold little memory.
pub const STREAM_CHUNK_BYTES: usize = 64 * 1024;

/// Segment prefix reserved for the filesystem store's temporary files.
///
/// Rejected in every store so that a key valid in one is valid in all.
pub const RESERVED_SEGMENT_PREFIX: &str = ".tmp-";

/// What a conditional create did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The object did not exist and now holds the given bytes.
    Created,
    /// An object already existed under the key; it was left untouched.
    AlreadyExists,
}

/// Size and age of a stored object, as reported by `head` and `list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size_bytes: u64,
    /// When the object was written, ms since the epoch (S3's
    /// `LastModified`, a file's mtime, the memory store's insert time);
    /// `None` when the store does not say. An audit leaves objects younger
    /// than its grace period alone: they may be writes still in flight.
    pub modified_ms: Option<i64>,
}

/// One page of a listing, in lexicographic key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    pub objects: Vec<ObjectMeta>,
    /// Pass back as `after` to get the next page; `None` on the last page.
    pub next: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    #[error("invalid store URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("object store refused the credentials for {op} {key:?}: {message}")]
    Denied { op: &'static str, key: String, message: String },
    /// A permanent refusal that is not about credentials (missing bucket,
    /// malformed request, key colliding with a directory): retrying won't help.
    #[error("object store rejected {op} {key:?}: {message}")]
    Rejected { op: &'static str, key: String, message: String },
    #[error("object store unavailable during {op} {key:?}: {message}")]
    Unavailable { op: &'static str, key: String, message: String },
    #[error("object store I/O error during {op} {key:?}: {source}")]
    Io {
        op: &'static str,
        key: String,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. } | StoreError::Io { .. })
    }
}

/// An object being read: its size, known before the first byte (for
/// `Content-Length`), and its bytes as a stream of bounded chunks.
///
/// The stream yields exactly `size_bytes` bytes or ends with an error: a
/// store whose body comes out shorter or longer than the size it announced
/// (a dropped connection, a file changed under the reader) gives an
/// [`StoreError::Io`] instead of a silently different object. After the
/// first error the stream ends. Dropping it releases the file or connection.
pub struct ObjectStream {
    key: String,
    size_bytes: u64,
    received: u64,
    /// `None` once the stream has ended or failed, so it never resumes.
    chunks: Option<BoxStream<'static, Result<Bytes, StoreError>>>,
}

impl ObjectStream {
    /// The object at `key`, announced as `size_bytes` long, read from `chunks`.
    pub fn new(key: &str, size_bytes: u64, chunks: BoxStream<'static, Result<Bytes, StoreError>>) -> ObjectStream {
        ObjectStream { key: key.to_owned(), size_bytes, received: 0, chunks: Some(chunks) }
    }

    /// An object already in memory, as zero-copy slices of at most
    /// [`STREAM_CHUNK_BYTES`], so every store's stream has the same shape.
    pub fn from_bytes(key: &str, bytes: Bytes) -> ObjectStream {
        let len = bytes.len();
        let slices = (0..len)
            .step_by(STREAM_CHUNK_BYTES)
            .map(move |start| Ok(bytes.slice(start..len.min(start + STREAM_CHUNK_BYTES))));
        ObjectStream::new(key, len as u64, futures::stream::iter(slices).boxed())
    }

    /// The object's size in bytes, from the store's metadata.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    fn length_error(&mut self, kind: std::io::ErrorKind, message: String) -> StoreError {
        self.chunks = None;
        StoreError::Io { op: "get", key: self.key.clone(), source: std::io::Error::new(kind, message) }
    }
}

impl std::fmt::Debug for ObjectStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStream")
            .field("key", &self.key)
            .field("size_bytes", &self.size_bytes)
            .field("received", &self.received)
            .field("ended", &self.chunks.is_none())
            .finish()
    }
}

impl Stream for ObjectStream {
    type Item = Result<Bytes, StoreError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let Some(chunks) = this.chunks.as_mut() else {
            return Poll::Ready(None);
        };
        let item = match chunks.poll_next_unpin(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(item) => item,
        };
        Poll::Ready(match item {
            Some(Ok(chunk)) => {
                this.received = this.received.saturating_add(chunk.len() as u64);
                if this.received > this.size_bytes {
                    let message = format!("object is longer than the {} bytes announced", this.size_bytes);
                    Some(Err(this.length_error(std::io::ErrorKind::InvalidData, message)))
                } else {
                    Some(Ok(chunk))
                }
            }
            Some(Err(error)) => {
                this.chunks = None;
                Some(Err(error))
            }
            None if this.received < this.size_bytes => {
                let message = format!("object ended after {} of {} bytes", this.received, this.size_bytes);
                Some(Err(this.length_error(std::io::ErrorKind::UnexpectedEof, message)))
            }
            None => {
                this.chunks = None;
                None
            }
        })
    }
}

/// The seam between the archiver and wherever objects are kept.
#[async_trait]
pub trait ObjectStore: Send + Sync + std::fmt::Debug {
    /// Creates `key` with `bytes` only if nothing exists under it (`If-None-Match: *`).
    async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<PutOutcome, StoreError>;
    /// The object's bytes, or `None` if there is no such object.
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError>;
    /// The object's size and its bytes in bounded chunks, or `None` if there
    /// is no such object; errors before the first byte (missing, denied,
    /// invalid key) come back here, errors while reading end the stream.
    ///
    /// The default reads the whole object with `get`, so wrappers of the
    /// trait need not implement it; the durable stores override it to read
    /// chunk by chunk without holding the object in memory.
    async fn get_stream(&self, key: &str) -> Result<Option<ObjectStream>, StoreError> {
        Ok(self.get(key).await?.map(|bytes| ObjectStream::from_bytes(key, bytes)))
    }
    /// The object's size, or `None` if there is no such object.
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError>;
    /// Up to `limit` objects whose key starts with `prefix` and sorts after `after`.
    async fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<ListPage, StoreError>;
    /// Deletes `key`; returns whether it existed. For repair tools only.
    async fn delete(&self, key: &str) -> Result<bool, StoreError>;
    /// The bucket name recorded in index rows (`bucket` column).
    fn bucket(&self) -> &str;
}

/// Checks `key` against the rule every store applies.
///
/// The rule is the filesystem store's (no path traversal, no ambiguous
/// segments) applied everywhere, so that an archive can move between stores.
pub fn validate_key(key: &str) -> Result<(), StoreError> {
    let reject = |reason| Err(StoreError::InvalidKey { key: key.to_owned(), reason });
    if key.is_empty() {
        return reject("key is empty");
    }
    if let Some(reason) = common_violation(key) {
        return reject(reason);
    }
    match key.split('/').find_map(segment_violation) {
        Some(reason) => reject(reason),
        None => Ok(()),
    }
}

/// Checks a `list` prefix: like a key, but it may be empty and its last
/// segment may be partial or empty (`"topic/2024/"`).
pub fn validate_prefix(prefix: &str) -> Result<(), StoreError> {
    let reject = |reason| Err(StoreError::InvalidKey { key: prefix.to_owned(), reason });
    if let Some(reason) = common_violation(prefix) {
        return reject(reason);
    }
    let mut segments: Vec<&str> = prefix.split('/').collect();
    segments.pop(); // The last segment only filters names, it is never a path.
    match segments.into_iter().find_map(segment_violation) {
        Some(reason) => reject(reason),
        None => Ok(()),
    }
}

/// Whole-string rules shared by keys and prefixes.
fn common_violation(s: &str) -> Option<&'static str> {
    if s.len() > MAX_KEY_LEN {
        Some("longer than 1024 bytes")
    } else if s.starts_with('/') {
        Some("starts with '/'")
    } else if s.contains('\\') {
        Some("contains a backslash")
    } else if s.contains('\0') {
        Some("contains a NUL byte")
    } else if s.chars().any(char::is_control) {
        Some("contains a control character")
    } else {
        None
    }
}

/// Rules for one `/`-separated segment.
fn segment_violation(segment: &str) -> Option<&'static str> {
    match segment {
        "" => Some("has an empty segment ('//' or a trailing '/')"),
        "." | ".." => Some("has a '.' or '..' segment"),
        s if s.starts_with(RESERVED_SEGMENT_PREFIX) => {
            Some("has a segment starting with '.tmp-', reserved for store temporaries")
        }
        _ => None,
    }
}

/// The page size actually used for a requested `limit`: at least 1 (so a
/// page always makes progress) and at most [`MAX_LIST_LIMIT`].
pub fn clamp_limit(limit: usize) -> usize {
    limit.clamp(1, MAX_LIST_LIMIT)
}

/// A page of `objects`, with `next` set to its last key when `more` remain.
fn page(objects: Vec<ObjectMeta>, more: bool) -> ListPage {
    let next = if more { objects.last().map(|o| o.key.clone()) } else { None };
    ListPage { objects, next }
}

/// Where [`check_writable`] writes: `~` is not allowed in a Kafka topic
/// name, so the probe never lands among archived objects.
const PROBE_PREFIX: &str = "hop-archiver~probe/";

/// Proves that the archiver can write, read back and remove an object, so
/// that a wrong endpoint, secret or bucket fails at start with its cause
/// rather than as retries that never end once consuming has begun.
pub async fn check_writable(store: &dyn ObjectStore) -> Result<(), StoreError> {
    let key = format!("{PROBE_PREFIX}{}", uuid::Uuid::new_v4());
    let probe = Bytes::from_static(b"hop-archiver write probe\n");
    store.put_if_absent(&key, probe.clone()).await?;
    let read = store.get(&key).await;
    store.delete(&key).await?;
    match read? {
        Some(bytes) if bytes == probe => Ok(()),
        other => Err(StoreError::Rejected {
            op: "get",
            key,
            message: format!("the probe object just written reads back as {} bytes", other.map_or(0, |b| b.len())),
        }),
    }
}

/// Every topic directory of the store, in listing order (bytewise by key,
/// so walking the topics in this order and each topic's keys in order
/// visits every key in the store's order): one listing request per topic,
/// each starting after every key of the previous topic. Keys outside a
/// directory and [`check_writable`]'s probes are not topics.
pub async fn topics(store: &dyn ObjectStore) -> Result<Vec<String>, StoreError> {
    let mut topics = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list("", after.as_deref(), 1).await?;
        let Some(object) = page.objects.first() else { return Ok(topics) };
        let topic = object.key.split('/').next().unwrap_or_default().to_owned();
        // '0' sorts right after '/': every `<topic>/…` key is below `<topic>0`.
        after = Some(format!("{topic}0"));
        if format!("{topic}/") != PROBE_PREFIX && object.key.contains('/') {
            topics.push(topic);
        }
    }
}

/// Opens the store named by `url`.
///
/// - `memory://` (optionally `memory://NAME`, NAME being the bucket name)
/// - `file:///absolute/dir` (created if missing)
/// - `s3://BUCKET?endpoint=http://host:port&region=us-east-1&path_style=true`;
///   all parameters optional, `region` defaults to `us-east-1`, `path_style`
///   to true when an endpoint is given; credentials come from the default
///   AWS chain (environment, profile, ...), never from the URL.
pub async fn open(url: &str) -> Result<Arc<dyn ObjectStore>, StoreError> {
    let parsed = Url::parse(url).map_err(|e| invalid_url(url, e.to_string()))?;
    if parsed.fragment().is_some() {
        return Err(invalid_url(url, "fragments are not allowed".into()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid_url(url, "credentials do not belong in the store URL".into()));
    }
    match parsed.scheme() {
        "memory" => open_memory(url, &parsed),
        "file" => open_file(url, &parsed).await,
        "s3" => open_s3(url, &parsed).await,
        other => Err(invalid_url(url, format!("unknown scheme {other:?} (expected memory, file or s3)"))),
    }
}

fn open_memory(url: &str, parsed: &Url) -> Result<Arc<dyn ObjectStore>, StoreError> {
    if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() || parsed.port().is_some() {
        return Err(invalid_url(url, "memory:// takes no path, port or query".into()));
    }
    let store = match parsed.host_str() {
        Some(name) if !name.is_empty() => MemoryStore::new().with_bucket(name),
        _ => MemoryStore::new(),
    };
    Ok(Arc::new(store))
}

async fn open_file(url: &str, parsed: &Url) -> Result<Arc<dyn ObjectStore>, StoreError> {
    if parsed.query().is_some() {
        return Err(invalid_url(url, "file:// takes no query".into()));
    }
    let root =
        parsed.to_file_path().map_err(|()| invalid_url(url, "expected file:///absolute/path (no host)".into()))?;
    Ok(Arc::new(FsStore::create(root).await?))
}

async fn open_s3(url: &str, parsed: &Url) -> Result<Arc<dyn ObjectStore>, StoreError> {
    let bucket = parsed.host_str().unwrap_or_default();
    if let Some(reason) = bucket_name_violation(bucket) {
        return Err(invalid_url(url, reason.into()));
    }
    if !matches!(parsed.path(), "" | "/") || parsed.port().is_some() {
        return Err(invalid_url(url, "s3://BUCKET takes no path or port; use ?endpoint=".into()));
    }
    let mut config = S3Config::new(bucket);
    let mut path_style = None;
    let mut seen = std::collections::BTreeSet::new();
    for (name, value) in parsed.query_pairs() {
        if !seen.insert(name.clone()) {
            return Err(invalid_url(url, format!("parameter {name:?} given twice")));
        }
        match name.as_ref() {
            "endpoint" => config.endpoint = Some(parse_endpoint(url, &value)?),
            "region" if !value.is_empty() => config.region = value.into_owned(),
            "path_style" => path_style = Some(parse_bool(url, &value)?),
            _ => {
                return Err(invalid_url(url, format!("unknown or empty parameter {name:?}")));
            }
        }
    }
    config.path_style = path_style.unwrap_or(config.endpoint.is_some());
    Ok(Arc::new(S3Store::new(config).await))
}

/// S3's bucket naming rule (lowercase DNS label style, 3 to 63 bytes).
fn bucket_name_violation(bucket: &str) -> Option<&'static str> {
    let valid_chars = bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let alnum_ends = bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if bucket.is_empty() {
        Some("missing bucket name (s3://BUCKET)")
    } else if !(3..=63).contains(&bucket.len()) || !valid_chars || !alnum_ends {
        Some("bucket names are 3-63 characters of a-z, 0-9, '.' and '-', starting and ending alphanumeric")
    } else {
        None
    }
}

fn parse_endpoint(url: &str, value: &str) -> Result<String, StoreError> {
    let endpoint = Url::parse(value).map_err(|e| invalid_url(url, format!("endpoint: {e}")))?;
    let ok_scheme = matches!(endpoint.scheme(), "http" | "https");
    let no_userinfo = endpoint.username().is_empty() && endpoint.password().is_none();
    if !ok_scheme || !no_userinfo || endpoint.host_str().is_none() {
        return Err(invalid_url(url, "endpoint must be http(s)://host[:port] without credentials".into()));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

fn parse_bool(url: &str, value: &str) -> Result<bool, StoreError> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(invalid_url(url, format!("path_style must be true or false, not {value:?}"))),
    }
}

fn invalid_url(url: &str, reason: String) -> StoreError {
    StoreError::InvalidUrl { url: crate::telemetry::redact::mask_password(url), reason }
}
