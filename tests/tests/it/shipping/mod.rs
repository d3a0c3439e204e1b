//! What ships: the container image (`Dockerfile`), the compose stack
//! (`compose.yaml`, `.env.example`, `deploy/`), `--version` and the image's
//! health check (`archiver health`). There is no container engine on the
//! test machines, so the files are checked for everything that can be
//! checked without one; `compose.yaml` by a real Compose implementation.

mod compose;
mod health;
mod image;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").to_path_buf()
}

/// A file of the workspace, by its path there.
fn read(relative: &str) -> String {
    let path = workspace().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `ARCHIVER_*` names written anywhere in `text` (the prefix alone, as
/// in "`ARCHIVER_*` variables", names none).
fn archiver_variables(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (start, _) in text.match_indices("ARCHIVER_") {
        let name: String =
            text[start..].chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_').collect();
        if name != "ARCHIVER_" {
            found.insert(name);
        }
    }
    found
}

/// Every `ARCHIVER_*` name in the files that deploy the archiver is a
/// variable the archiver reads: a misspelt one would be ignored silently.
#[test]
fn deployment_files_name_only_declared_variables() {
    let declared: BTreeSet<&str> = archiver::config::variables().collect();
    let mut used = BTreeSet::new();
    for file in ["compose.yaml", ".env.example", "Dockerfile", "deploy/archiver.toml", "deploy/credentials.toml"] {
        for name in archiver_variables(&read(file)) {
            assert!(declared.contains(name.as_str()), "{file} names {name}, which the archiver does not read");
            used.insert(name);
        }
    }
    // The files do configure the archiver through its variables.
    for name in ["ARCHIVER_INDEX_URL", "ARCHIVER_STORE_URL", "ARCHIVER_LIVENESS_FILE", "ARCHIVER_LISTEN_ADDR"] {
        assert!(used.contains(name), "{name} is set nowhere: {used:?}");
    }
}

/// The check above can fail: a name the archiver does not read is found.
#[test]
fn archiver_variables_are_found_in_any_text() {
    let found = archiver_variables("x: ${ARCHIVER_INDEX_URL}\nARCHIVER_LIVENES_FILE=/tmp/a (ARCHIVER_* vars)\n");
    assert_eq!(found, BTreeSet::from(["ARCHIVER_INDEX_URL", "ARCHIVER_LIVENES_FILE"].map(String::from)));
    let declared: BTreeSet<&str> = archiver::config::variables().collect();
    assert!(!declared.contains("ARCHIVER_LIVENES_FILE"));
    assert!(declared.contains("ARCHIVER_LIVENESS_MAX_AGE_MS") && declared.contains("ARCHIVER_KAFKA_PASSWORD"));
}

/// The settings file and the credentials file mounted into the stack load,
/// and say what the stack relies on.
#[test]
fn deployment_config_files_load() {
    let config = workspace().join("deploy/archiver.toml");
    let vars = [("ARCHIVER_KAFKA_BROKERS", "kafka:9092")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
    let run = archiver::config::RunArgs { config: Some(config.clone()), ..Default::default() };
    let run = archiver::config::load_from(&run, &vars).unwrap_or_else(|e| panic!("run: {e}"));
    assert_eq!(run.pipeline.public_topics, ["*"], "mockhop verify --api reads the stack's topics without a token");
    assert_eq!(run.topics.refresh_interval_ms, 10_000);
    let serve = archiver::config::ServeArgs { config: Some(config), ..Default::default() };
    let serve = archiver::config::load_serve_from(&serve, &vars).unwrap_or_else(|e| panic!("serve: {e}"));
    assert_eq!(serve.public_topics, ["*"]);
    archiver::api::Credentials::parse(&read("deploy/credentials.toml")).expect("the credentials file parses");
}
