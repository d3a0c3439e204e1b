//! Around every request: a deadline, one structured access-log line, and
//! counters for `/metrics`. Nothing from the request body, query string or
//! `Authorization` header is logged.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, ApiState};
use crate::telemetry::metrics::PROMETHEUS_CONTENT_TYPE;
use crate::telemetry::metrics::escape_label;

/// Requests and their total time, per (route, method, status). Routes are
/// the fixed route templates, so the map is bounded by routes × methods ×
/// statuses, whatever clients send.
#[derive(Debug, Default)]
pub struct ApiMetrics {
    requests: Mutex<BTreeMap<Series, (u64, f64)>>,
}

/// (route, method, status).
type Series = (&'static str, String, u16);

impl ApiMetrics {
    fn observe(&self, route: &'static str, method: &str, status: u16, seconds: f64) {
        let mut map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        // Only standard methods get their own series; anything else shares one.
        let method = if method.len() <= 7 && method.chars().all(|c| c.is_ascii_uppercase()) { method } else { "OTHER" };
        let slot = map.entry((route, method.to_owned(), status)).or_default();
        slot.0 += 1;
        slot.1 += seconds;
    }

    fn render(&self) -> String {
        let map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str("# HELP archiver_api_requests_total HTTP requests answered, by route, method and status.\n");
        out.push_str("# TYPE archiver_api_requests_total counter\n");
        for ((route, method, status), (count, _)) in map.iter() {
            let route = escape_label(route);
            let _ = writeln!(
                out,
                "archiver_api_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {count}"
            );
        }
        out.push_str("# HELP archiver_api_request_seconds_total Time spent answering, by route, method and status.\n");
        out.push_str("# TYPE archiver_api_request_seconds_total counter\n");
        for ((route, method, status), (_, seconds)) in map.iter() {
            let route = escape_label(route);
            let _ = writeln!(
                out,
                "archiver_api_request_seconds_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {seconds}"
            );
        }
        out
    }
}

/// The route templates, interned so metrics keys need no allocation per route.
fn route_name(matched: Option<&MatchedPath>) -> &'static str {
    const ROUTES: [&str; 12] = [
        "/",
        "/browse/topic/{topic}",
        "/browse/msg/{uuid}",
        "/health_check",
        "/metrics",
        "/msg/{uuid}",
        "/msg/{uuid}/raw_file/{file_name}",
        "/msg/{uuid}/retraction",
        "/topic/{topic}",
        "/messages",
        "/messages/count",
        "/topics",
    ];
    matched.and_then(|m| ROUTES.iter().find(|r| **r == m.as_str()).copied()).unwrap_or("unmatched")
}

pub async fn observe(State(state): State<Arc<ApiState>>, request: Request, next: Next) -> Response {
    let route = route_name(request.extensions().get::<MatchedPath>());
    let method = request.method().to_string();
    // Paths are bounded by the HTTP parser; cut them further for the log.
    let path: String = request.uri().path().chars().take(256).collect();
    // The credential's name (never the token); "?" for a token that is not one.
    let who = match state.access.principal(request.headers()) {
        Ok(principal) => principal.name().unwrap_or("").to_owned(),
        Err(_) => "?".to_owned(),
    };
    let started = Instant::now();
    let deadline = Duration::from_millis(state.limits.request_timeout_ms);
    // Uploads have slots of their own: slow uploaders cannot starve reads.
    let slots = match (route, request.method()) {
        ("/topic/{topic}", &axum::http::Method::POST) => &state.uploads_in_flight,
        _ => &state.in_flight,
    };
    let mut response = match slots.try_acquire() {
        Err(_) => ApiError::Busy.into_response(),
        Ok(_permit) => match tokio::time::timeout(deadline, next.run(request)).await {
            Ok(response) => response,
            Err(_) => ApiError::Timeout.into_response(),
        },
    };
    // Stored bytes are served as-is: never let a browser guess a type.
    response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, header::HeaderValue::from_static("nosniff"));
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state.metrics.observe(route, &method, status, elapsed.as_secs_f64());
    tracing::info!(
        target: "archiver::access",
        method = %method,
        route,
        path = %path,
        who = %who,
        status,
        duration_ms = elapsed.as_millis() as u64,
        "request"
    );
    response
}

pub async fn render_metrics(State(state): State<Arc<ApiState>>) -> Response {
    ([(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)], state.metrics.render()).into_response()
}
