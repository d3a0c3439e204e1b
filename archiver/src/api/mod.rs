//! `archiver serve`: the archive's HTTP API, compatible with upstream
//! archive-api (BSON bodies, the same paths and parameters), with JSON
//! renderings for people and a small browse page.
//!
//! One file per concern: `params` (every input checked before storage is
//! touched), `auth` (public topics, bearer tokens, permissions), `messages`
//! (reads and retraction), `listing` (keyset-paged lists and counts),
//! `upload` (direct upload through the ingest identity path), `browse`
//! (HTML), `render` (BSON/JSON bodies), `observe` (access log, metrics,
//! timeout), `error` (status codes), `server` (connections: limits,
//! header and idle timeouts, slow readers), `body` (bodies that hold their
//! memory share; the rendering pool), `token` (opaque page tokens).

pub mod auth;
mod body;
mod browse;
mod error;
mod listing;
mod messages;
mod observe;
pub mod params;
mod render;
mod server;
mod token;
mod upload;

pub use auth::{Access, Credentials, CredentialsError, new_token, token_sha256_hex};
pub use browse::escape_html;
pub use error::ApiError;
pub use server::Paced;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, put};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::{ServeConfig, ServeLimits};
use crate::index::{self, Index, IndexEntry, IndexError, TopicStats};
use crate::store::{self, ObjectStore, StoreError};

/// What every handler needs.
#[derive(Debug)]
pub struct ApiState {
    pub index: Arc<dyn Index>,
    pub store: Arc<dyn ObjectStore>,
    pub access: Access,
    pub limits: ApiLimits,
    metrics: observe::ApiMetrics,
    /// All-topic requests share one recent `topic_stats` answer (cheap, but
    /// one query per request otherwise); the lock also makes concurrent
    /// misses wait for one query.
    topic_stats: tokio::sync::Mutex<Option<(Instant, Arc<Vec<TopicStats>>)>>,
    /// Requests being answered (uploads apart); bounds the work in progress
    /// whatever the number of connections.
    in_flight: tokio::sync::Semaphore,
    /// Uploads being received and stored: their own slots, so that slow
    /// uploaders cannot take the ones reads and health checks need.
    uploads_in_flight: tokio::sync::Semaphore,
    /// Memory of bodies being built or written.
    budget: body::MemoryBudget,
    /// Rendering off the async workers.
    render: body::RenderPool,
    /// Seals page tokens.
    tokens: token::TokenKey,
    /// Serialise uploads' conditional creates per key, as ingest does.
    pub key_locks: crate::pipeline::KeyLocks,
    /// Which uploads have their text indexed for search (none unless set).
    pub text: crate::text::TextIndexing,
}

/// Requests answered at once (uploads apart); more get an immediate 503.
pub const REQUESTS_IN_FLIGHT_MAX: usize = 64;
/// Renderings (JSON, HTML, decoding whole objects) running at once on the
/// blocking pool; more wait for a slot within their deadline.
pub const RENDER_TASKS_MAX: usize = 2;

/// How long a `topic_stats` answer is reused: a topic's first message shows
/// up in `/topics`, `/messages` without `topic` and the browse page at most
/// this much later.
const TOPIC_STATS_TTL: Duration = Duration::from_secs(5);

/// The bounds and switches of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiLimits {
    /// Refuse uploads and retractions (501, as upstream).
    pub read_only: bool,
    pub upload_size_bytes_max: u64,
    pub request_timeout_ms: u64,
    /// Full messages per listing page; metadata pages go up to `PAGE_ROWS_MAX`.
    pub page_rows_max: u32,
    /// Bounds on connections, clients' pace, uploads and response memory.
    pub clients: ServeLimits,
}

impl Default for ApiLimits {
    /// The declared defaults of `archiver serve`.
    fn default() -> ApiLimits {
        ApiLimits::from(&crate::config::serve_defaults())
    }
}

impl From<&ServeConfig> for ApiLimits {
    fn from(config: &ServeConfig) -> ApiLimits {
        ApiLimits {
            read_only: config.read_only,
            upload_size_bytes_max: config.upload_size_bytes_max,
            request_timeout_ms: config.request_timeout_ms,
            page_rows_max: config.page_rows_max,
            clients: config.limits,
        }
    }
}

impl ApiState {
    pub fn new(index: Arc<dyn Index>, store: Arc<dyn ObjectStore>, access: Access, limits: ApiLimits) -> ApiState {
        ApiState {
            index,
            store,
            access,
            metrics: Default::default(),
            topic_stats: Default::default(),
            in_flight: tokio::sync::Semaphore::new(REQUESTS_IN_FLIGHT_MAX),
            uploads_in_flight: tokio::sync::Semaphore::new(limits.clients.uploads_in_flight_max.max(1)),
            budget: body::MemoryBudget::new(limits.clients.response_memory_bytes_max),
            render: body::RenderPool::new(RENDER_TASKS_MAX),
            tokens: token::TokenKey::random(),
            key_locks: crate::pipeline::KeyLocks::default(),
            text: Default::default(),
            limits,
        }
    }

    /// The state with uploads to `text`'s topics text-indexed for search.
    pub fn with_text(mut self, text: crate::text::TextIndexing) -> ApiState {
        self.text = text;
        self
    }

    /// Totals per topic, at most [`TOPIC_STATS_TTL`] old.
    async fn topic_stats(&self) -> Result<Arc<Vec<TopicStats>>, ApiError> {
        let mut cached = self.topic_stats.lock().await;
        if let Some((at, stats)) = cached.as_ref()
            && at.elapsed() < TOPIC_STATS_TTL
        {
            return Ok(Arc::clone(stats));
        }
        let stats = Arc::new(self.index.topic_stats().await?);
        *cached = Some((Instant::now(), Arc::clone(&stats)));
        Ok(stats)
    }

    /// The stored object of a row, with its share of the memory budget
    /// (`extra_bytes` more for what will be rendered from it); a row without
    /// its object is an inconsistency of the archive, not the client's fault.
    async fn object(&self, entry: &IndexEntry, extra_bytes: u64) -> Result<(bytes::Bytes, body::Reserved), ApiError> {
        let size = u64::try_from(entry.row.size).unwrap_or(0);
        let reserved = self.budget.reserve(size.saturating_add(extra_bytes))?;
        let bytes = fetch_object(self.store.as_ref(), &entry.row.key, entry.row.uuid).await?;
        Ok((bytes, reserved))
    }
}

/// The object at `key`, which the index says holds message `uuid`.
async fn fetch_object(store: &dyn ObjectStore, key: &str, uuid: uuid::Uuid) -> Result<bytes::Bytes, ApiError> {
    store.get(key).await?.ok_or_else(|| ApiError::Inconsistent(format!("object {key} of message {uuid} is missing")))
}

/// The decoded object of a row.
fn decode(entry: &IndexEntry, bytes: &[u8]) -> Result<crate::record::Record, ApiError> {
    crate::record::Record::decode(bytes)
        .map_err(|e| ApiError::Inconsistent(format!("object of message {}: {e}", entry.row.uuid)))
}

/// Every route of the API.
pub fn router(state: Arc<ApiState>) -> Router {
    // Uploads read their body themselves (with this bound); the layer
    // bounds any other extractor that might read one.
    let body_limit = usize::try_from(state.limits.upload_size_bytes_max).unwrap_or(usize::MAX);
    Router::new()
        .route("/", get(browse::index))
        .route("/browse/topic/{topic}", get(browse::topic))
        .route("/browse/messages", get(browse::messages))
        .route("/browse/msg/{uuid}", get(browse::message))
        .route("/browse/status", get(browse::status))
        .route("/health_check", get(messages::health_check))
        .route("/metrics", get(observe::render_metrics))
        .route("/msg/{uuid}", get(messages::get_message))
        .route("/msg/{uuid}/raw_file/{file_name}", get(messages::raw_file))
        .route("/msg/{uuid}/retraction", put(messages::retraction))
        .route("/topic/{topic}", get(listing::topic).post(upload::upload))
        .route("/messages", get(listing::messages))
        .route("/messages/count", get(listing::count))
        .route("/topics", get(listing::topics))
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&state), observe::observe))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot open the index: {0}")]
    Index(#[from] IndexError),
    #[error("cannot open the object store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Opens the backends and credentials `config` names.
pub async fn state_from_config(config: &ServeConfig) -> Result<ApiState, ServeError> {
    let index = index::open(&config.backends.index_url).await?;
    let store = store::open(&config.backends.store_url).await?;
    let credentials = match &config.credentials_file {
        Some(path) => Credentials::load(path)?,
        None => Credentials::default(),
    };
    let access = Access { public_topics: config.public_topics.clone(), credentials, realm: config.auth_realm.clone() };
    Ok(ApiState::new(index, store, access, ApiLimits::from(config)).with_text(config.text.clone()))
}

/// Binds `addr` (port 0 picks a free port) and serves the API until
/// `shutdown` completes; returns the bound address and the server task.
pub async fn spawn(
    addr: SocketAddr,
    state: Arc<ApiState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, JoinHandle<()>), ServeError> {
    let listener = TcpListener::bind(addr).await.map_err(|source| ServeError::Listen { addr, source })?;
    let bound = listener.local_addr().map_err(|source| ServeError::Listen { addr, source })?;
    let limits = state.limits.clients;
    let handle = tokio::spawn(server::run(listener, router(state), limits, shutdown));
    tracing::info!(addr = %bound, "serving the archive API on http://{bound}/");
    Ok((bound, handle))
}

/// `archiver serve`: runs until `shutdown`, then lets requests in flight finish briefly.
pub async fn serve(
    config: &ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let state = Arc::new(state_from_config(config).await?);
    let (_, handle) = spawn(config.listen_addr, state, shutdown).await?;
    if let Err(error) = handle.await {
        tracing::warn!(%error, "server task ended abnormally");
    }
    Ok(())
}
