//! The small HTTP server of `archiver run` and `archiver restore`: `GET /metrics` for Prometheus and
//! `GET /healthz` for a load balancer or an orchestrator's probe.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::FutureExt as _;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::telemetry::metrics::Exposition;

/// A scrape that takes longer than this is answered 408 rather than left to
/// pile up tasks; rendering takes microseconds, so only a stuck peer hits it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// After shutdown, how long open connections may take to finish before the
/// server stops waiting for them, so a stalled client cannot hold up exit.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Binds `addr` (port 0 picks a free port) and serves `/metrics` and
/// `/healthz` until `shutdown` completes.
///
/// Binding happens before this returns, so a bad address fails the start-up
/// instead of a background task; the bound address is returned for logs and
/// tests. The task ends once in-flight requests are done, or after a short
/// grace period.
pub async fn serve_metrics(
    addr: SocketAddr,
    metrics: Arc<dyn Exposition>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, JoinHandle<()>), std::io::Error> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let handle = tokio::spawn(run(listener, router(metrics), shutdown));
    tracing::info!(addr = %bound, "serving /metrics and /healthz");
    Ok((bound, handle))
}

fn router(metrics: Arc<dyn Exposition>) -> Router {
    Router::new()
        .route("/metrics", get(render_metrics))
        .route("/healthz", get(|| async { "ok" }))
        .layer(middleware::from_fn(request_timeout))
        .with_state(metrics)
}

/// Serves until `shutdown`, then drains connections for at most [`SHUTDOWN_GRACE`].
/// `archiver serve` uses it too.
pub(crate) async fn run(listener: TcpListener, app: Router, shutdown: impl Future<Output = ()> + Send + 'static) {
    let shutdown = Box::pin(shutdown).shared();
    let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.clone());
    let deadline = async move {
        shutdown.await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        result = server => {
            if let Err(error) = result {
                tracing::warn!(%error, "HTTP server failed");
            }
        }
        () = deadline => tracing::warn!("HTTP server: connections still open after shutdown, not waiting"),
    }
}

async fn render_metrics(State(metrics): State<Arc<dyn Exposition>>) -> Response {
    ([(header::CONTENT_TYPE, crate::telemetry::metrics::PROMETHEUS_CONTENT_TYPE)], metrics.render_prometheus())
        .into_response()
}

async fn request_timeout(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
    }
}
