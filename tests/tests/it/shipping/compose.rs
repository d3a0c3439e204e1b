//! `compose.yaml` through a real Compose implementation: docker-compose
//! 1.29 (the venv `scripts/deps.sh test` installs; there is no container
//! engine here), with `.env.example`'s values. It validates the file
//! against its schema and resolves it; the tests then check what the stack
//! needs from the resolved services: real commands, loadable settings, an
//! order `docker compose up` can follow.

use super::workspace;
use crate::support;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `docker-compose --env-file .env.example --file FILE ARGS`, with none of
/// this process's variables (they would override the example's values).
fn compose(file: &Path, args: &[&str]) -> Output {
    Command::new(mockhop::testing::docker_compose())
        .arg("--env-file")
        .arg(workspace().join(".env.example"))
        .arg("--file")
        .arg(file)
        .args(args)
        .env_clear()
        .envs(std::env::vars().filter(|(k, _)| k == "PATH" || k == "HOME"))
        .output()
        .expect("docker-compose runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The stack as Compose resolves it (variables substituted, paths made
/// absolute), as JSON: its YAML read by the venv's own PyYAML.
fn resolved() -> Value {
    let out = compose(&workspace().join("compose.yaml"), &["config"]);
    assert!(out.status.success(), "docker-compose config: {}", text(&out.stderr));
    let python = mockhop::testing::docker_compose().with_file_name("python");
    let mut child = Command::new(python)
        .args(["-c", "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), &out.stdout).expect("feed the YAML");
    let json = child.wait_with_output().expect("python ends");
    assert!(json.status.success(), "YAML to JSON: {}", text(&json.stderr));
    serde_json::from_slice(&json.stdout).expect("JSON")
}

/// A copy of compose.yaml with `from` replaced by `to` is refused, naming `why`.
fn check_refused(from: &str, to: &str, why: &str) {
    let original = super::read("compose.yaml");
    assert!(original.contains(from), "compose.yaml no longer contains {from:?}");
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = dir.path().join("compose.yaml");
    std::fs::write(&broken, original.replacen(from, to, 1)).expect("write the broken copy");
    let out = compose(&broken, &["config", "--quiet"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "docker-compose accepted compose.yaml with {from:?} → {to:?}");
    assert!(stderr.contains(why), "refused for another reason than {why:?}: {stderr}");
}

#[test]
fn compose_file_is_valid_and_broken_copies_are_refused() {
    let out = compose(&workspace().join("compose.yaml"), &["config", "--quiet"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "docker-compose refuses compose.yaml: {stderr}");
    assert!(!stderr.contains("WARNING"), "{stderr}");
    check_refused("start_period: 20s", "start_perod: 20s", "start_perod");
    check_refused("condition: service_healthy", "condition: service_up", "service_up");
    check_refused("      create-bucket:\n", "      create-buckets:\n", "create-buckets");
    check_refused("  archiver-run:\n    <<:", "  archiver-run:\n   <<:", "yaml");
}

/// A service's resolved `key` as a list of words (absent: empty).
fn words(service: &Value, key: &str) -> Vec<String> {
    service[key].as_array().into_iter().flatten().map(|w| w.as_str().expect("a word").to_owned()).collect()
}

fn services(stack: &Value) -> &serde_json::Map<String, Value> {
    stack["services"].as_object().expect("services")
}

fn runs_our_image(service: &Value) -> bool {
    service["image"].as_str().is_some_and(|i| i.starts_with("hop-archiver:"))
}

/// Every service of the hop-archiver image runs a subcommand that exists,
/// with flags its binary accepts (`--help` after them parses them all).
#[test]
fn compose_services_run_real_commands() {
    let stack = resolved();
    let mut ran = Vec::new();
    for (name, service) in services(&stack).iter().filter(|(_, s)| runs_our_image(s)) {
        let program = words(service, "entrypoint").first().cloned().unwrap_or_else(|| "archiver".to_owned());
        let command = words(service, "command");
        assert!(!command.is_empty(), "{name} runs the image's default command (--help)");
        let out = Command::new(support::binary(&program)).args(&command).arg("--help").output().expect("runs");
        assert!(out.status.success(), "{name}: {program} {command:?}: {}", text(&out.stderr));
        ran.push(format!("{program} {}", command[0]));
    }
    ran.sort();
    assert_eq!(ran, ["archiver run", "archiver serve", "mockhop produce", "mockhop verify"]);
}

/// Where a file mounted into `service` at `target` lives on this machine.
fn mounted(stack: &Value, service: &Value, target: &str) -> Option<PathBuf> {
    let volumes = words(service, "volumes");
    let bind = volumes.iter().find_map(|v| v.split(':').nth(1).filter(|t| *t == target).map(|_| v.clone()));
    if let Some(bind) = bind {
        return bind.split(':').next().map(PathBuf::from);
    }
    let secret = target.strip_prefix("/run/secrets/")?;
    stack["secrets"][secret]["file"].as_str().map(PathBuf::from)
}

/// `archiver run` and `archiver serve` load their settings from what the
/// stack gives them: the environment, the mounted TOML file and secrets.
#[test]
fn compose_archiver_services_load_their_settings() {
    let stack = resolved();
    let mut loaded = 0;
    for (name, service) in services(&stack).iter().filter(|(_, s)| runs_our_image(s)) {
        let print_config: &[&str] = match words(service, "command").first().map(String::as_str) {
            Some("run") => &["config"],
            Some("serve") => &["serve", "--print-config"],
            _ => continue,
        };
        // The image's variables, then the service's over them.
        let mut env: BTreeMap<String, String> = super::image::image_env().into_iter().collect();
        for (key, value) in service["environment"].as_object().expect("an environment") {
            let value = value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string());
            // Paths inside the container: the files they name on this machine.
            let value = match mounted(&stack, service, &value) {
                Some(host) => host.display().to_string(),
                None => value,
            };
            env.insert(key.clone(), value);
        }
        let out = Command::new(support::binary("archiver")).args(print_config).env_clear().envs(&env).output();
        let out = out.expect("archiver runs");
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        loaded += 1;
    }
    assert_eq!(loaded, 2, "archiver run and archiver serve");
}

/// `docker compose up` can start the stack in order: every dependency on
/// a healthy service is on one with a health check, every dependency on a
/// completed one on a one-shot; volumes and secrets used are declared.
#[test]
fn compose_dependencies_can_be_met() {
    let stack = resolved();
    let services = services(&stack);
    for (name, service) in services {
        for (dependency, condition) in service["depends_on"].as_object().into_iter().flatten() {
            let target = &services[dependency];
            match condition["condition"].as_str() {
                Some("service_healthy") => {
                    let disabled = target["healthcheck"]["disable"].as_bool() == Some(true);
                    // The image's HEALTHCHECK (image.rs checks it) covers our services.
                    let checked = target["healthcheck"]["test"].is_array() || runs_our_image(target);
                    assert!(checked && !disabled, "{name} waits for {dependency} to be healthy: it has no check");
                }
                Some("service_completed_successfully") => {
                    assert_eq!(target["restart"], "no", "{name} waits for {dependency} to complete: it restarts");
                }
                other => panic!("{name} depends on {dependency} with {other:?}"),
            }
        }
        for volume in words(service, "volumes") {
            let source = volume.split(':').next().unwrap_or_default();
            let named = !source.starts_with('/');
            assert!(!named || stack["volumes"][source].is_object(), "{name} uses undeclared volume {source}");
        }
        for secret in service["secrets"].as_array().into_iter().flatten() {
            let source = secret["source"].as_str().expect("a secret source");
            assert!(stack["secrets"][source].is_object(), "{name} uses undeclared secret {source}");
        }
    }
    // The images the issue names, pinned.
    for (service, prefix) in
        [("kafka", "apache/kafka:"), ("minio", "minio/minio:RELEASE."), ("postgres", "postgres:15.")]
    {
        let image = services[service]["image"].as_str().unwrap_or_default();
        assert!(image.starts_with(prefix), "{service}: {image}");
    }
    assert_eq!(services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"], "broker,controller", "KRaft mode");
}

/// The Makefile's `compose-*` targets (upstream's `launch --build`,
/// `--logs`, `--down`, `--wipe`) run Compose subcommands with flags that
/// docker-compose's own help lists.
#[test]
fn make_compose_targets_use_real_compose_flags() {
    for (target, wanted) in [
        ("compose-build", "build"),
        ("compose-up", "up --detach"),
        ("compose-logs", "logs --follow"),
        ("compose-down", "down"),
        ("compose-wipe", "down --volumes --remove-orphans"),
    ] {
        // `make -n`: the commands are printed, not run; COMPOSE marks ours.
        let dry = Command::new("make").args(["-n", target, "COMPOSE=COMPOSE_CLI"]).current_dir(workspace()).output();
        let dry = text(&dry.expect("make runs").stdout);
        let line = dry.lines().find_map(|l| l.split_once("COMPOSE_CLI ")).map(|(_, rest)| rest.trim().to_owned());
        assert_eq!(line.as_deref(), Some(wanted), "make {target}: {dry}");
        let mut words = wanted.split_whitespace();
        let subcommand = words.next().expect("a subcommand");
        let help = Command::new(mockhop::testing::docker_compose()).args([subcommand, "--help"]).output();
        let help = text(&help.expect("docker-compose runs").stdout);
        for flag in words {
            assert!(help.contains(flag), "docker-compose {subcommand} has no {flag}: {help}");
        }
    }
}
