//! The liveness file: a timestamp rewritten on a timer, for supervisors that
//! check a file's age (a Kubernetes exec probe, a cron watchdog) rather than
//! an HTTP endpoint.
//!
//! It is refreshed by its own task, independent of traffic: a quiet stream
//! must not look like a dead archiver. It is not refreshed while no progress
//! is possible: messages wait and none has become durable for a while (a
//! backend down or refusing), so a supervisor sees the archiver is stuck.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// Writes the current UNIX time in milliseconds and a newline to `path`
/// now and then every `interval` while `progressing()` says so, until
/// `shutdown` completes.
///
/// Each write goes to a temporary file in the same directory, renamed over
/// `path`, so a reader never sees a partial timestamp. Write errors (a full
/// disk, a missing directory) are logged and retried on the next tick: losing
/// the liveness file must not take the archiver down. On shutdown the file is
/// left as it is, its age then showing how long ago the process stopped.
pub fn spawn_liveness(
    path: PathBuf,
    interval: Duration,
    progressing: impl Fn() -> bool + Send + 'static,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        tokio::select! {
            () = refresh_forever(&path, interval, progressing) => {}
            () = shutdown => {}
        }
    })
}

async fn refresh_forever(path: &Path, interval: Duration, progressing: impl Fn() -> bool) {
    // A zero period would make tokio panic and a busy loop anyway.
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut failing = false;
    let mut stuck = false;
    loop {
        ticker.tick().await;
        if !progressing() {
            if !stuck {
                tracing::warn!(path = %path.display(), "no progress is possible: the liveness file is not refreshed");
            }
            stuck = true;
            continue;
        }
        stuck = false;
        match write_now(path).await {
            Ok(()) if failing => {
                tracing::info!(path = %path.display(), "liveness file written again");
                failing = false;
            }
            Ok(()) => {}
            // Warn once per outage, not on every tick of it.
            Err(error) if !failing => {
                tracing::warn!(path = %path.display(), %error, "cannot write the liveness file; will keep trying");
                failing = true;
            }
            Err(error) => tracing::debug!(path = %path.display(), %error, "liveness file still not writable"),
        }
    }
}

/// The timestamp a liveness file holds (what [`spawn_liveness`] writes), if
/// `text` is one.
pub fn parse_stamp(text: &str) -> Option<u128> {
    text.strip_suffix('\n')?.parse().ok()
}

/// The current time as the file holds it: milliseconds since the UNIX epoch.
pub fn now_millis() -> u128 {
    // A clock before 1970 is broken; 0 then reads as "stale", which it is.
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()
}

async fn write_now(path: &Path) -> io::Result<()> {
    let temp = temp_path(path)?;
    let contents = format!("{}\n", now_millis());
    let written = async {
        tokio::fs::write(&temp, contents).await?;
        tokio::fs::rename(&temp, path).await
    }
    .await;
    if written.is_err() {
        // Best effort: do not leave temporary files behind a failed write.
        let _ = tokio::fs::remove_file(&temp).await;
    }
    written
}

/// `.<name>.<pid>.tmp` beside `path`: the same directory, so the rename is
/// atomic, and the pid, so two processes given one path cannot mix writes.
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "liveness path has no file name"))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{}.tmp", std::process::id()));
    Ok(path.with_file_name(temp_name))
}
