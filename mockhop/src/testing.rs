//! What the test suites of mockhop and of the archive share about the test
//! machine: the real services' addresses and the cache (the Python venvs,
//! axe-core) that `scripts/deps.sh test` fills. Only tests call these;
//! they panic, with what to do, when the machine lacks what they describe.

use std::path::PathBuf;

/// The value of a service variable written by `scripts/services.sh start`.
///
/// A test that needs a real server fails (never skips) when the variable is
/// missing, so a run without services cannot pass by testing nothing.
pub fn service(var: &str) -> String {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{var} is not set: this test needs the real services. Run `make test`, \
             or `scripts/services.sh start && . .services/env` before `cargo nextest run`."
        ),
    }
}

/// The cache `scripts/deps.sh test` fills (`$XDG_CACHE_HOME/hop-archiver`,
/// else `~/.cache/hop-archiver`).
pub fn cache_dir() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| panic!("neither XDG_CACHE_HOME nor HOME is set"));
    cache.join("hop-archiver")
}

/// The Python of the venv `scripts/deps.sh test` installs hop-client and
/// kafka-python into.
pub fn venv_python() -> PathBuf {
    installed("hop-client-venv/bin/python")
}

/// The `docker-compose` (1.29, Python) that `scripts/deps.sh test` installs
/// into the container tools' venv; its Python is beside it.
pub fn docker_compose() -> PathBuf {
    installed("container-venv/bin/docker-compose")
}

/// The Dockerfile linter hadolint, in the same venv.
pub fn hadolint() -> PathBuf {
    installed("container-venv/bin/hadolint")
}

/// `path` under the directory `scripts/deps.sh` installs test tools into.
fn installed(path: &str) -> PathBuf {
    let tool = cache_dir().join(path);
    assert!(tool.exists(), "{} is missing: run scripts/deps.sh test", tool.display());
    tool
}
