//! Build-time inputs: the embedded migrations, and the source revision
//! `archiver --version` prints.
//!
//! The revision: `SOURCE_REVISION` from the environment wins (the container
//! build passes it: its context has no `.git`), else `git rev-parse --short
//! HEAD` of the checkout, else `unknown`. The script runs again only when
//! the migrations, that variable or the checked-out commit change (HEAD, the
//! branch it names, packed refs), never because a source file did.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    // New migration files are embedded by `sqlx::migrate!`; rebuild when one is added.
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-env-changed=SOURCE_REVISION");
    let given = std::env::var("SOURCE_REVISION").ok().map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    let revision = given.or_else(git_revision).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=SOURCE_REVISION={revision}");
}

/// The short hash of HEAD, after asking cargo to watch what moves it.
fn git_revision() -> Option<String> {
    let revision = git(&["rev-parse", "--short", "HEAD"])?;
    // A detached HEAD names no branch; HEAD itself then changes on checkout.
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    let watched = ["HEAD", "packed-refs"].into_iter().chain(branch.as_deref()).filter_map(git_path);
    // Cargo reruns a script on every build for a path that does not exist.
    for path in watched.filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    Some(revision)
}

/// The absolute path of `name` inside the git directory (worktrees included).
fn git_path(name: &str) -> Option<PathBuf> {
    git(&["rev-parse", "--path-format=absolute", "--git-path", name]).map(PathBuf::from)
}

/// One line of git's output, run in this package's directory; `None` when
/// git is missing, fails or prints nothing.
fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let output = Command::new("git").args(args).current_dir(Path::new(&dir)).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !text.is_empty()).then_some(text)
}
