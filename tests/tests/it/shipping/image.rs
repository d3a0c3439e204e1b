//! The container image as far as it can be checked without building it:
//! the Dockerfile's stages against the Makefile, Cargo.toml and the
//! binaries, and `--version`.

use super::{read, workspace};
use crate::support;
use std::collections::BTreeSet;
use std::process::Command;

/// One Dockerfile instruction: its keyword (upper case) and the rest, with
/// continuation lines joined and comment lines dropped.
#[derive(Debug, Clone)]
pub(super) struct Instruction {
    keyword: String,
    rest: String,
}

fn instructions(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && pending.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => pending.push_str(head),
            None => {
                pending.push_str(trimmed);
                let (keyword, rest) = pending.trim().split_once(' ').unwrap_or((pending.trim(), ""));
                out.push(Instruction { keyword: keyword.to_ascii_uppercase(), rest: rest.trim().to_owned() });
                pending.clear();
            }
        }
    }
    out
}

/// The Dockerfile's stages, each from its `FROM` on; instructions before the
/// first `FROM` (global `ARG`s) are stage 0.
fn stages() -> Vec<Vec<Instruction>> {
    let mut stages = vec![Vec::new()];
    for instruction in instructions(&read("Dockerfile")) {
        if instruction.keyword == "FROM" {
            stages.push(Vec::new());
        }
        stages.last_mut().expect("a stage").push(instruction);
    }
    stages
}

fn build_stage() -> Vec<Instruction> {
    let stages = stages();
    let build = stages.iter().find(|s| s.first().is_some_and(|i| i.keyword == "FROM" && i.rest.ends_with(" AS build")));
    build.expect("a FROM … AS build stage").clone()
}

pub(super) fn runtime_stage() -> Vec<Instruction> {
    stages().pop().expect("a final stage")
}

/// The rest of each instruction with `keyword` in `stage`.
pub(super) fn all(stage: &[Instruction], keyword: &str) -> Vec<String> {
    stage.iter().filter(|i| i.keyword == keyword).map(|i| i.rest.clone()).collect()
}

fn one(stage: &[Instruction], keyword: &str) -> String {
    let found = all(stage, keyword);
    assert_eq!(found.len(), 1, "one {keyword} expected: {found:?}");
    found[0].clone()
}

/// A `RUN`'s command, without its `--mount=…` options.
fn run_command(rest: &str) -> String {
    rest.split_whitespace().skip_while(|word| word.starts_with("--")).collect::<Vec<_>>().join(" ")
}

/// The variables the image sets (`ENV A=1 B=2`), as a container starts with them.
pub(super) fn image_env() -> Vec<(String, String)> {
    let env = all(&runtime_stage(), "ENV").join(" ");
    let pairs = env.split_whitespace().map(|pair| pair.split_once('=').expect("ENV NAME=value"));
    pairs.map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// The recipe lines of a Makefile target.
fn make_recipe(target: &str) -> Vec<String> {
    let makefile = read("Makefile");
    let mut lines = makefile.lines().skip_while(|l| !l.starts_with(&format!("{target}:")));
    assert!(lines.next().is_some(), "no `{target}` target in the Makefile");
    lines.take_while(|l| l.starts_with('\t')).map(|l| l.trim().to_owned()).collect()
}

/// `[workspace.package] key` of Cargo.toml.
fn workspace_package(key: &str) -> String {
    let cargo: toml::Table = read("Cargo.toml").parse().expect("Cargo.toml parses");
    cargo["workspace"]["package"][key].as_str().unwrap_or_else(|| panic!("workspace.package.{key}")).to_owned()
}

/// The image's binaries come from the one release build entry point `make
/// release` runs, so the image and `make` cannot build differently; its
/// system packages from the same `scripts/deps.sh build`.
#[test]
fn image_builds_with_the_release_script_make_runs() {
    let build = build_stage();
    let commands: Vec<String> = all(&build, "RUN").iter().map(|r| run_command(r)).collect();
    let builds: Vec<&String> = commands.iter().filter(|c| c.contains("cargo") || c.contains("build-release")).collect();
    assert_eq!(builds, ["scripts/build-release.sh /out"], "the build stage's build commands");
    assert_eq!(make_recipe("release"), ["scripts/build-release.sh"]);
    assert!(commands.contains(&"scripts/deps.sh build".to_owned()), "{commands:?}");
    let script = read("scripts/build-release.sh");
    assert!(script.lines().any(|l| l == "scripts/deps.sh build"), "make release installs the same packages");
    assert!(script.contains("cargo build --locked --release -p hop-archiver -p mockhop --bins"), "{script}");
    let copy = one(&runtime_stage(), "COPY");
    assert_eq!(copy, "--from=build /out/archiver /out/mockhop /usr/local/bin/");
}

/// The build runs on the toolchain Cargo.toml declares, and the image's
/// labels carry the workspace's version and the source revision.
#[test]
fn image_pins_the_toolchain_and_labels_version_and_revision() {
    let rust_version = workspace_package("rust-version");
    let from = build_stage()[0].rest.clone();
    assert_eq!(from, format!("rust:{rust_version}-bookworm AS build"));
    let globals = all(&stages()[0], "ARG");
    let version = workspace_package("version");
    assert!(globals.contains(&format!("VERSION={version}")), "global ARGs {globals:?} lack VERSION={version}");
    assert!(globals.contains(&"SOURCE_REVISION=unknown".to_owned()), "{globals:?}");
    let runtime = runtime_stage();
    let labels = one(&runtime, "LABEL");
    for label in [
        r#"org.opencontainers.image.version="${VERSION}""#,
        r#"org.opencontainers.image.revision="${SOURCE_REVISION}""#,
    ] {
        assert!(labels.contains(label), "{label} missing from {labels}");
    }
    let args = all(&runtime, "ARG");
    assert!(args.contains(&"VERSION".to_owned()) && args.contains(&"SOURCE_REVISION".to_owned()), "{args:?}");
    assert!(all(&build_stage(), "ARG").contains(&"SOURCE_REVISION".to_owned()), "build.rs reads it");
}

/// `archiver` is the entrypoint, run by an unprivileged user, with a health
/// check that serves both roles.
#[test]
fn image_runs_archiver_unprivileged_with_its_health_check() {
    let runtime = runtime_stage();
    assert_eq!(runtime[0].rest, "debian:bookworm-slim");
    let user = one(&runtime, "USER");
    assert_eq!(user, "10001:10001", "a numeric, unprivileged user");
    assert_eq!(one(&runtime, "ENTRYPOINT"), r#"["archiver"]"#);
    let health = one(&runtime, "HEALTHCHECK");
    assert!(health.ends_with(r#"CMD ["archiver", "health"]"#), "{health}");
    // `archiver health --help` exists: the check names a real subcommand.
    let help = Command::new(support::binary("archiver")).args(["health", "--help"]).output().expect("run");
    assert!(help.status.success(), "{}", String::from_utf8_lossy(&help.stderr));
}

/// hadolint (from the venv `scripts/deps.sh test` installs) on a Dockerfile
/// text: whether it passed, and what it said.
fn hadolint(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("Dockerfile"), text).expect("write the Dockerfile");
    let out = Command::new(mockhop::testing::hadolint())
        .args(["--no-color", "Dockerfile"])
        .current_dir(dir.path())
        .output()
        .expect("hadolint runs");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// The Dockerfile linter finds nothing (an ignore says why where it would),
/// and does find the faults of a broken copy.
#[test]
fn image_dockerfile_passes_hadolint() {
    let dockerfile = read("Dockerfile");
    let (passed, said) = hadolint(&dockerfile);
    assert!(passed, "hadolint: {said}");
    let unpinned = dockerfile.replacen("FROM debian:bookworm-slim", "FROM debian:latest", 1);
    let broken = unpinned.replacen("WORKDIR /var/lib/archiver", "RUN cd /var/lib/archiver", 1);
    let (passed, said) = hadolint(&broken);
    assert!(!passed && said.contains("DL3007") && said.contains("DL3003"), "hadolint on a broken copy: {said}");
}

/// The Debian packages holding the shared libraries `binary` links (ldd).
fn linked_packages(binary: &str) -> BTreeSet<String> {
    let ldd = Command::new("ldd").arg(support::binary(binary)).output().expect("ldd runs");
    assert!(ldd.status.success(), "ldd {binary}: {}", String::from_utf8_lossy(&ldd.stderr));
    let mut packages = BTreeSet::new();
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        // `libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x…)`, or the loader's own path.
        let Some(path) = line.split_whitespace().find(|w| w.starts_with('/')) else { continue };
        packages.insert(package_of(path));
    }
    assert!(!packages.is_empty(), "ldd named no library of {binary}");
    packages
}

/// The package owning `path`, under either spelling of a merged /usr.
fn package_of(path: &str) -> String {
    let spellings = [path.to_owned(), format!("/usr{path}"), path.strip_prefix("/usr").unwrap_or(path).to_owned()];
    for spelling in spellings {
        let found = Command::new("dpkg").args(["-S", &spelling]).output().expect("dpkg runs");
        if found.status.success() {
            let text = String::from_utf8_lossy(&found.stdout);
            return text.split(':').next().unwrap_or_default().trim().to_owned();
        }
    }
    panic!("no Debian package holds {path}");
}

/// Every library the binaries link is in the runtime image: installed by
/// its `apt-get install` line, or glibc and the GCC runtime, which every
/// Debian image has (the essential packages depend on them).
#[test]
fn image_installs_every_library_the_binaries_link() {
    let install = all(&runtime_stage(), "RUN")
        .into_iter()
        .find(|r| r.contains("apt-get install"))
        .expect("the runtime stage installs packages");
    let installed: BTreeSet<&str> = install
        .split("&&")
        .find(|part| part.contains("apt-get install"))
        .expect("the install command")
        .split_whitespace()
        .filter(|word| !word.starts_with('-') && !["apt-get", "install"].contains(word))
        .collect();
    assert!(installed.contains("ca-certificates"), "TLS needs the CA certificates: {installed:?}");
    for binary in ["archiver", "mockhop"] {
        for package in linked_packages(binary) {
            let in_base = ["libc6", "libgcc-s1"].contains(&package.as_str());
            assert!(in_base || installed.contains(package.as_str()), "{binary} links {package}, not installed");
        }
    }
}

/// The revision the binaries were built from: `SOURCE_REVISION` if the
/// build was given one, else the checkout's HEAD.
fn expected_revision() -> String {
    if let Some(given) = std::env::var("SOURCE_REVISION").ok().filter(|r| !r.trim().is_empty()) {
        return given.trim().to_owned();
    }
    let head = Command::new("git").args(["rev-parse", "--short", "HEAD"]).current_dir(workspace()).output();
    match head {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        _ => "unknown".to_owned(),
    }
}

#[test]
fn version_names_the_release_and_the_revision_built() {
    let revision = expected_revision();
    for binary in ["archiver", "mockhop"] {
        let out = Command::new(support::binary(binary)).arg("--version").output().expect("--version runs");
        assert!(out.status.success());
        let printed = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let wanted = format!("{binary} {} (revision {revision})", env!("CARGO_PKG_VERSION"));
        assert_eq!(printed, wanted, "a binary built before the last commit? `cargo build --workspace` first");
    }
}
