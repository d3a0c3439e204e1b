//! Response bodies that hold something until they are sent or dropped: the
//! connection's busy mark, or the share of the memory budget the body's
//! bytes use; and the bounded pool that renders large bodies off the async
//! workers.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::response::Response;
use http_body::{Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ApiError;

/// A body that keeps `guard` alive for as long as the body itself.
pub struct Guarded<G> {
    inner: Body,
    _guard: G,
}

impl<G> Guarded<G> {
    pub fn new(inner: Body, guard: G) -> Guarded<G> {
        Guarded { inner, _guard: guard }
    }
}

impl<G: Unpin + Send + 'static> http_body::Body for Guarded<G> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Bytes of response bodies (and the objects they are built from) held in
/// memory at once, across all requests. A request reserves its share before
/// it fetches or renders, and the share is released when its body has been
/// sent or dropped (a slow reader is dropped by the send-rate rule), so
/// slow readers cannot pile up whole bodies beyond the budget.
#[derive(Debug)]
pub struct MemoryBudget {
    bytes: Arc<Semaphore>,
    bytes_max: u64,
}

/// A share of the [`MemoryBudget`].
#[derive(Debug)]
pub struct Reserved(OwnedSemaphorePermit);

impl MemoryBudget {
    pub fn new(bytes_max: u64) -> MemoryBudget {
        let permits = usize::try_from(bytes_max).unwrap_or(usize::MAX).min(Semaphore::MAX_PERMITS);
        MemoryBudget { bytes: Arc::new(Semaphore::new(permits)), bytes_max }
    }

    /// `bytes` of the budget, or 503 at once when they are not free (a
    /// request larger than the whole budget is refused as too large).
    pub fn reserve(&self, bytes: u64) -> Result<Reserved, ApiError> {
        if bytes > self.bytes_max {
            return Err(ApiError::ResponseTooLarge { size_bytes_max: self.bytes_max });
        }
        let n = u32::try_from(bytes).map_err(|_| ApiError::ResponseTooLarge { size_bytes_max: self.bytes_max })?;
        Arc::clone(&self.bytes).try_acquire_many_owned(n.max(1)).map(Reserved).map_err(|_| ApiError::Busy)
    }
}

impl Reserved {
    /// Keeps only `bytes` of the share (what the finished body really uses).
    pub fn shrink_to(&mut self, bytes: usize) {
        let excess = self.0.num_permits().saturating_sub(bytes.max(1));
        drop(self.0.split(excess));
    }

    /// `response` with this share released only when its body is done.
    pub fn hold_until_sent(mut self, response: Response) -> Response {
        if let Some(len) = http_body::Body::size_hint(response.body()).exact() {
            self.shrink_to(usize::try_from(len).unwrap_or(usize::MAX));
        }
        response.map(|body| Body::new(Guarded::new(body, self)))
    }
}

/// CPU-heavy rendering (decoding large objects, JSON, HTML) runs on the
/// blocking pool, at most `tasks_max` at once, so it never stalls the async
/// workers that answer other requests.
#[derive(Debug)]
pub struct RenderPool {
    slots: Semaphore,
}

impl RenderPool {
    pub fn new(tasks_max: usize) -> RenderPool {
        RenderPool { slots: Semaphore::new(tasks_max.max(1)) }
    }

    /// Runs `render` on the blocking pool once a slot is free (waiting
    /// counts against the request's deadline).
    pub async fn run<T: Send + 'static>(
        &self,
        render: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _slot = self.slots.acquire().await.map_err(|_| ApiError::Busy)?;
        tokio::task::spawn_blocking(render)
            .await
            .map_err(|e| ApiError::Inconsistent(format!("rendering task failed: {e}")))?
    }
}
