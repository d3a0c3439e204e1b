//! The connection layer of `archiver serve`: hyper's HTTP/1 driven
//! directly, because `axum::serve` has no header-read timeout, no
//! connection limit and no hook on a connection's socket.
//!
//! - **Header time and idle keep-alive:** hyper's `header_read_timeout`
//!   (with a timer) runs from the moment the server waits for a request head
//!   — on a fresh connection and after every response — until the head is
//!   complete, so it bounds both a slow head and an idle keep-alive wait.
//! - **Connections:** at most `connections_max` are served. At the limit the
//!   connection idle longest (no request being answered: waiting for a head,
//!   trickling one, or idle between requests) is closed to make room, so idle
//!   and slow-header clients can never lock out a normal request. When every
//!   connection is answering a request, new ones wait in the listen backlog.
//! - **Slow readers:** the socket is wrapped in [`Paced`], which drops a
//!   client that accepts less than `client_rate_bytes_per_s_min` over a
//!   window of `client_rate_window_ms` spent waiting for it to read.

use crate::config::ServeLimits;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use futures::FutureExt as _;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::Sleep;

use super::body::Guarded;

/// After shutdown, how long open connections may take to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Pause after an accept error that is not about descriptors (e.g. ENOBUFS),
/// so a persistent error cannot spin the loop.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);
/// How often a full server looks again for a connection to close when all
/// are busy (a busy one turning idle also wakes it).
const FULL_RECHECK: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` until `shutdown`, then lets connections
/// finish for at most [`SHUTDOWN_GRACE`].
pub async fn run(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let conns = Arc::new(Conns::new(limits.connections_max));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = Box::pin(shutdown.fuse());
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &conns) => {
                let Some((stream, slot)) = accepted else { continue };
                let app = app.clone();
                let stop = stop_rx.clone();
                tokio::spawn(serve_connection(stream, slot, Arc::clone(&conns), app, limits, stop));
            }
        }
    }
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, conns.until_empty()).await;
    if drained.is_err() {
        tracing::warn!("HTTP server: connections still open after shutdown, not waiting");
    }
}

/// The next connection, once there is room for it. `None` after a
/// transient accept error.
async fn accept(listener: &TcpListener, conns: &Conns) -> Option<(TcpStream, Arc<Slot>)> {
    conns.make_room().await;
    match listener.accept().await {
        Ok((stream, _)) => {
            // Responses are written in large chunks; Nagle would only delay the last one.
            let _ = stream.set_nodelay(true);
            Some((stream, conns.register()))
        }
        Err(error) if is_out_of_descriptors(&error) => {
            // The process limit is lower than `connections_max`: free a
            // descriptor the same way the connection limit does.
            tracing::warn!(%error, open = conns.len(), "out of file descriptors; closing the longest-idle connection");
            if !conns.evict_idle() {
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            }
            None
        }
        Err(error) => {
            tracing::warn!(%error, "accept failed");
            tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            None
        }
    }
}

fn is_out_of_descriptors(error: &io::Error) -> bool {
    // EMFILE (24) and ENFILE (23) on Linux and the BSDs.
    matches!(error.raw_os_error(), Some(23 | 24))
}

async fn serve_connection(
    stream: TcpStream,
    slot: Arc<Slot>,
    conns: Arc<Conns>,
    app: Router,
    limits: ServeLimits,
    mut stop: watch::Receiver<bool>,
) {
    let io = TokioIo::new(Paced::new(stream, limits.client_rate_bytes_per_s_min, limits.client_rate_window_ms));
    let service = {
        let slot = Arc::clone(&slot);
        let conns = Arc::clone(&conns);
        let app = TowerToHyperService::new(app);
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let busy = Busy::start(Arc::clone(&slot), Arc::clone(&conns));
            let answered = hyper::service::Service::call(&app, request);
            async move {
                let response: Response<Body> = answered.await?;
                // The connection counts as busy until the body is sent or dropped.
                Ok::<_, std::convert::Infallible>(response.map(|body| Body::new(Guarded::new(body, busy))))
            }
        })
    };
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms))
        .serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => log_end(result),
        () = slot.evicted.notified() => {}
        _ = stopped(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            if let Ok(result) = tokio::time::timeout(SHUTDOWN_GRACE, connection.as_mut()).await {
                log_end(result);
            }
        }
    }
    conns.remove(slot.id);
}

/// Completes once the server is told to stop (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

fn log_end(result: Result<(), hyper::Error>) {
    // Timeouts and resets are what hostile or flaky clients cause: worth a
    // debug line, not a warning per connection.
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended with an error");
    }
}

/// One served connection.
#[derive(Debug)]
struct Slot {
    id: u64,
    /// Requests being answered (their bodies included).
    busy: AtomicU32,
    /// Since when the connection has had no request to answer (ms on the
    /// server's clock); the longest idle is closed first.
    idle_since_ms: AtomicU64,
    evicted: Notify,
}

/// The open connections.
#[derive(Debug)]
struct Conns {
    max: usize,
    started: Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Slot>>>,
    /// A connection ended or turned idle.
    changed: Notify,
}

impl Conns {
    fn new(max: usize) -> Conns {
        Conns {
            max: max.max(1),
            started: Instant::now(),
            next_id: AtomicU64::new(0),
            open: Mutex::default(),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Slot>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn register(&self) -> Arc<Slot> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            id,
            busy: AtomicU32::new(0),
            idle_since_ms: AtomicU64::new(self.now_ms()),
            evicted: Notify::new(),
        });
        self.lock().insert(id, Arc::clone(&slot));
        slot
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
        self.changed.notify_waiters();
    }

    /// Waits until fewer than `max` connections are open, closing idle ones.
    async fn make_room(&self) {
        loop {
            let changed = self.changed.notified();
            if self.len() < self.max || self.evict_idle() {
                return;
            }
            let _ = tokio::time::timeout(FULL_RECHECK, changed).await;
        }
    }

    /// Closes the connection idle longest; `false` when every one is busy.
    fn evict_idle(&self) -> bool {
        let mut open = self.lock();
        let oldest = open
            .values()
            .filter(|s| s.busy.load(Ordering::Acquire) == 0)
            .min_by_key(|s| s.idle_since_ms.load(Ordering::Relaxed))
            .map(|s| s.id);
        let Some(slot) = oldest.and_then(|id| open.remove(&id)) else { return false };
        // `notify_one` keeps the wake-up even if the task is not waiting yet.
        slot.evicted.notify_one();
        true
    }

    async fn until_empty(&self) {
        loop {
            let changed = self.changed.notified();
            if self.len() == 0 {
                return;
            }
            let _ = tokio::time::timeout(FULL_RECHECK, changed).await;
        }
    }
}

/// Marks a connection busy while one of its requests is being answered.
struct Busy {
    slot: Arc<Slot>,
    conns: Arc<Conns>,
}

impl Busy {
    fn start(slot: Arc<Slot>, conns: Arc<Conns>) -> Busy {
        slot.busy.fetch_add(1, Ordering::AcqRel);
        Busy { slot, conns }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.slot.idle_since_ms.store(self.conns.now_ms(), Ordering::Relaxed);
        if self.slot.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.conns.changed.notify_waiters();
        }
    }
}

/// A socket that fails its writes once the peer reads too slowly.
///
/// Only time spent *waiting for the peer* counts: a window closes when the
/// writes have been blocked for `window` in total, and the peer must have
/// accepted at least `rate_min × window` bytes during it. Time the server
/// spends producing the response (a slow store, say) is never held against
/// the client.
#[derive(Debug)]
pub struct Paced<S> {
    inner: S,
    /// Bytes the peer must accept per window; 0 turns the check off.
    window_bytes_min: u64,
    window: Duration,
    blocked: Duration,
    blocked_since: Option<Instant>,
    accepted_bytes: u64,
    timer: Pin<Box<Sleep>>,
}

impl<S> Paced<S> {
    pub fn new(inner: S, rate_bytes_per_s_min: u64, window_ms: u64) -> Paced<S> {
        let window = Duration::from_millis(window_ms.max(1));
        let window_bytes_min = rate_bytes_per_s_min.saturating_mul(window_ms.max(1)) / 1000;
        Paced {
            inner,
            window_bytes_min,
            window,
            blocked: Duration::ZERO,
            blocked_since: None,
            accepted_bytes: 0,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }

    /// A write went through: the blocked spell (if any) ends.
    fn accepted(&mut self, bytes: usize) -> io::Result<()> {
        if let Some(since) = self.blocked_since.take() {
            self.blocked += since.elapsed();
        }
        self.accepted_bytes = self.accepted_bytes.saturating_add(bytes as u64);
        if self.blocked >= self.window { self.judge() } else { Ok(()) }
    }

    /// A write is waiting for the peer: arm the timer for the end of the
    /// window and fail if it has passed.
    fn waiting(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.window_bytes_min == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let since = *self.blocked_since.get_or_insert_with(|| {
            let deadline = now + self.window.saturating_sub(self.blocked);
            self.timer.as_mut().reset(deadline.into());
            now
        });
        if self.timer.as_mut().poll(cx).is_pending() {
            return Ok(());
        }
        self.blocked += now.saturating_duration_since(since);
        self.blocked_since = Some(now);
        self.judge()?;
        self.timer.as_mut().reset((now + self.window).into());
        // Registers the waker for the new window.
        let _ = self.timer.as_mut().poll(cx);
        Ok(())
    }

    /// The end of a window: fail a peer that accepted too little, else start afresh.
    fn judge(&mut self) -> io::Result<()> {
        if self.accepted_bytes < self.window_bytes_min {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "client accepted {} bytes in {} ms of waiting (at least {} required)",
                    self.accepted_bytes,
                    self.blocked.as_millis(),
                    self.window_bytes_min
                ),
            ));
        }
        self.blocked = Duration::ZERO;
        self.accepted_bytes = 0;
        Ok(())
    }

    fn track(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        match polled {
            Poll::Ready(Ok(n)) => Poll::Ready(self.accepted(n).map(|()| n)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match self.waiting(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Paced<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Paced<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.track(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.track(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx).map_ok(|()| 0);
        Poll::Ready(ready!(self.track(cx, polled)).map(|_| ()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
