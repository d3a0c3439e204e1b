//! A command's output on stdout. A reader that goes away early
//! (`archiver inspect --json BIG.bson | head -1`) is a normal end: writes
//! return the error instead of panicking as `print!` does, and the command
//! line asks [`is_broken_pipe`] before calling it a failure.

use std::io::Write as _;

/// Writes `text` to stdout and flushes it.
pub fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Whether `err` or any error it was caused by is a closed pipe.
pub fn is_broken_pipe(err: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(err), |e| e.source())
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
