//! `archiver health`: the container image's health check. One command for
//! both roles (see `config::HealthCheck`): `archiver run` is healthy while
//! its liveness file is fresh, `archiver serve` while `/health_check`
//! answers 200. The image has no curl; the HTTP client is the one hopauth
//! already uses.

use std::path::Path;
use std::time::Duration;

use super::liveness;
use crate::config::HealthCheck;
use crate::source::describe_http_error;

/// Whether the process checked is healthy: `Ok` with what was seen, or
/// `Err` with what is wrong (both one line, for `docker inspect`).
pub async fn check(check: &HealthCheck) -> Result<String, String> {
    match check {
        HealthCheck::Liveness { file, max_age_ms } => fresh(file, *max_age_ms, liveness::now_millis()),
        HealthCheck::Api { url, timeout_ms } => answers(url, Duration::from_millis(*timeout_ms)).await,
    }
}

/// Whether the liveness file at `path` was refreshed at most `max_age_ms`
/// before `now_ms`.
pub fn fresh(path: &Path, max_age_ms: u64, now_ms: u128) -> Result<String, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!("cannot read the liveness file {shown}: {e} (archiver run writes it once started; is it running?)")
    })?;
    let stamp = liveness::parse_stamp(&text)
        .ok_or_else(|| format!("the liveness file {shown} holds no timestamp: {:?}", text.trim()))?;
    // A stamp from the future (a clock set back) counts as fresh.
    let age_ms = now_ms.saturating_sub(stamp);
    if age_ms > u128::from(max_age_ms) {
        return Err(format!(
            "the liveness file {shown} is {age_ms} ms old, more than {max_age_ms} ms: \
             archiver run is stuck (a backend down or refusing) or stopped"
        ));
    }
    Ok(format!("the liveness file {shown} is {age_ms} ms old"))
}

/// Whether a GET of `url` answers 200 within `timeout`.
async fn answers(url: &str, timeout: Duration) -> Result<String, String> {
    // No proxy: a proxy configured for the container's outbound traffic
    // cannot reach its loopback.
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {}", describe_http_error(e)))?;
    let response = client.get(url).send().await.map_err(|e| {
        let error = describe_http_error(e);
        format!("{url}: {error} (archiver serve answers there; for archiver run, set ARCHIVER_LIVENESS_FILE)")
    })?;
    match response.status() {
        reqwest::StatusCode::OK => Ok(format!("{url} answered 200")),
        status => Err(format!("{url} answered {status}")),
    }
}
