//! `archiver run`: wires the configuration, backends, Kafka source,
//! pipeline and observability together, and stops cleanly on a signal.

use crate::config::{Membership, RunConfig};
use crate::index::{self, IndexError};
use crate::ops::{liveness, server};
use crate::pipeline::{self, Context, RunLimits, RunSummary};
use crate::source::SourceError;
use crate::source::kafka::{KafkaSource, KafkaSourceOptions};
use crate::source::selector::ConfiguredSelector;
use crate::store::{self, StoreError};
use crate::telemetry::metrics::Metrics;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Liveness intervals without any message becoming durable, while some
/// wait, after which the liveness file is no longer refreshed.
pub const LIVENESS_STALL_INTERVALS: u32 = 6;

/// How long in-flight work may take to finish after a shutdown signal.
pub const DRAIN_TIMEOUT_MS: u64 = 25_000;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot open the index: {0}")]
    Index(#[from] IndexError),
    #[error("cannot use the object store: {0}")]
    Store(#[from] StoreError),
    #[error("Kafka: {0}")]
    Source(#[from] SourceError),
    #[error("cannot serve metrics on {addr}: {source}")]
    Metrics {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Pipeline(#[from] pipeline::RunError),
}

/// Runs the archiver until the source is finished, `max_messages` are
/// taken, or `shutdown` resolves. Returns the run's totals and its metrics.
pub async fn run(
    config: &RunConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(RunSummary, Arc<Metrics>), RunError> {
    let metrics = Arc::new(Metrics::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let background = start_observability(config, &metrics, &stop_rx).await?;
    let result = archive(config, Arc::clone(&metrics), stopped(stop_rx.clone())).await;
    drop(stop_rx);
    for task in background {
        task.abort();
    }
    Ok((result?, metrics))
}

async fn archive(
    config: &RunConfig,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) -> Result<RunSummary, RunError> {
    let index = index::open(&config.backends.index_url).await?;
    let store = store::open(&config.backends.store_url).await?;
    store::check_writable(store.as_ref()).await?;
    let p = &config.pipeline;
    let ctx = Arc::new(Context {
        store,
        index,
        metrics: Arc::clone(&metrics),
        archive_test_messages: p.archive_test_messages,
        public_topics: p.public_topics.clone(),
        text: p.text.clone(),
        retry_initial_backoff_ms: p.retry_initial_backoff_ms,
        retry_max_backoff_ms: p.retry_max_backoff_ms,
        key_locks: Default::default(),
    });
    let limits = RunLimits {
        in_flight_max: p.in_flight_max,
        batch_rows_max: p.batch_rows_max,
        batch_wait_ms: p.batch_wait_ms,
        max_messages: config.run.max_messages,
        drain_timeout_ms: DRAIN_TIMEOUT_MS,
    };
    let options = KafkaSourceOptions {
        group_id: config.kafka.group_id.clone(),
        session_timeout_ms: config.kafka.session_timeout_ms,
        refresh_interval_ms: config.topics.refresh_interval_ms,
        until_eos: config.run.until_eos,
        standalone: config.kafka.membership == Membership::Standalone,
    };
    let selector = Arc::new(ConfiguredSelector { selection: config.topics.selection.clone() });
    let mut source = KafkaSource::connect(config.kafka.connection.client_config(), options, selector, metrics).await?;
    tracing::info!(topics = ?source.topics(), "archiving");
    Ok(pipeline::run(ctx, &limits, &mut source, shutdown).await?)
}

/// Resolves once the stop flag is set (or its sender is gone).
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// The metrics endpoint, the liveness file and the progress line.
async fn start_observability(
    config: &RunConfig,
    metrics: &Arc<Metrics>,
    stop: &watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, RunError> {
    let o = &config.observability;
    let mut tasks = Vec::new();
    if let Some(addr) = o.metrics_addr {
        let (bound, task) = server::serve_metrics(addr, Arc::clone(metrics) as _, stopped(stop.clone()))
            .await
            .map_err(|source| RunError::Metrics { addr, source })?;
        tracing::info!(%bound, "metrics on http://{bound}/metrics");
        tasks.push(task);
    }
    if let Some(path) = &o.liveness_file {
        let interval = Duration::from_millis(o.liveness_interval_ms);
        let stall_max = interval.saturating_mul(LIVENESS_STALL_INTERVALS);
        let metrics = Arc::clone(metrics);
        let progressing = move || metrics.stalled_for() < stall_max;
        tasks.push(liveness::spawn_liveness(path.clone(), interval, progressing, stopped(stop.clone())));
    }
    tasks.push(tokio::spawn(progress(Arc::clone(metrics), Duration::from_millis(o.progress_interval_ms))));
    Ok(tasks)
}

async fn progress(metrics: Arc<Metrics>, every: Duration) {
    let mut last = Instant::now();
    loop {
        tokio::time::sleep(every).await;
        tracing::info!("{}", metrics.progress_line(last.elapsed()));
        last = Instant::now();
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; SIGINT still stops the archiver");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
        tracing::info!("signal received: stopping after in-flight work");
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
