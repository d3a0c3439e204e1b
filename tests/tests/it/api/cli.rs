//! `archiver serve` as an operator runs it: configuration from flags,
//! environment and file; the real binary serving, and stopping on SIGTERM.

use crate::support;
use archiver::config::{ServeArgs, ServerArgs, load_serve_from};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

#[test]
fn api_serve_config_precedence_flags_env_file_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("archiver.toml");
    std::fs::write(
        &file,
        "[serve]\nlisten_addr = \"127.0.0.1:9001\"\nread_only = true\npage_rows_max = 10\n\
         [pipeline]\npublic_topics = [\"gcn.*\"]\n[kafka]\nbrokers = \"k:9092\"\n",
    )
    .expect("write config");
    let vars = BTreeMap::from([
        ("ARCHIVER_CONFIG".to_owned(), file.display().to_string()),
        ("ARCHIVER_PAGE_ROWS_MAX".to_owned(), "20".to_owned()),
        ("ARCHIVER_LISTEN_ADDR".to_owned(), "127.0.0.1:9002".to_owned()),
    ]);
    let args = ServeArgs {
        server: ServerArgs { listen_addr: Some("127.0.0.1:9003".into()), ..Default::default() },
        ..ServeArgs::default()
    };
    let config = load_serve_from(&args, &vars).expect("loads");
    assert_eq!(config.listen_addr.to_string(), "127.0.0.1:9003", "flag wins");
    assert_eq!(config.page_rows_max, 20, "environment beats the file");
    assert!(config.read_only, "file beats the default");
    assert_eq!(config.public_topics, vec!["gcn.*"], "shared with `archiver run`");
    assert_eq!(config.request_timeout_ms, 30_000, "default");
    let rendered = config.render_masked();
    assert!(rendered.contains("[serve]") && rendered.contains("page_rows_max = 20"), "{rendered}");
    // What --print-config shows is itself a config file giving the same configuration.
    let saved = dir.path().join("saved.toml");
    std::fs::write(&saved, &rendered).expect("write rendered");
    let reloaded =
        load_serve_from(&ServeArgs { config: Some(saved.clone()), ..ServeArgs::default() }, &BTreeMap::new())
            .expect("rendered configuration loads");
    assert_eq!(reloaded, archiver::config::ServeConfig { config_file: Some(saved), ..config.clone() });

    let bad =
        ServeArgs { server: ServerArgs { page_rows_max: Some(5000), ..Default::default() }, ..ServeArgs::default() };
    let err = load_serve_from(&bad, &BTreeMap::new()).expect_err("out of range");
    assert!(err.to_string().contains("serve.page_rows_max"), "{err}");
    // `archiver run` reads the same file and ignores [serve].
    let run = archiver::config::load_from(&archiver::config::RunArgs::default(), &vars).expect("run config loads");
    assert_eq!(run.pipeline.public_topics, vec!["gcn.*"]);
}

#[test]
fn api_serve_binary_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, addr) = support::spawn_serve(dir.path(), "127.0.0.1:0");
    assert_eq!(status_of(&format!("http://{addr}/health_check")), 200);
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        assert!(std::time::Instant::now() < deadline, "archiver serve did not stop within 10 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status {exit}");
}

/// The status of a GET, from a synchronous test.
fn status_of(url: &str) -> u16 {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async { reqwest::get(url).await.expect("GET").status().as_u16() })
}

#[test]
fn api_token_command_prints_a_usable_credentials_entry() {
    let output = Command::new(support::binary("archiver")).args(["token", "alice"]).output().expect("archiver token");
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let token = stderr.rsplit(' ').next().expect("token").trim();
    let entry = String::from_utf8(output.stdout).expect("UTF-8");
    assert!(entry.contains(&archiver::api::token_sha256_hex(token)), "{entry}");
    assert!(!entry.contains(token), "the token itself is never part of the file");
    archiver::api::Credentials::parse(&entry).expect("the entry is a valid credentials file");
}
