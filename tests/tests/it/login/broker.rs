//! `mockhop produce` and `archiver run`, as binaries, on a broker that
//! takes only SASL_SSL logins with SCRAM-SHA-512: tansu (SQLite engine,
//! `--authentication`) behind stunnel with a CA of its own, from
//! `scripts/services.sh` (`ARCHIVER_TEST_SCRAM_*`). The credential comes
//! from hop's auth.toml or from the environment; the topics from hopauth
//! (the scramp server) or a list. Each stream is checked with `mockhop
//! verify`. Each wrong login — password, mechanism, TLS without SASL, an
//! untrusted CA — must end the command quickly with an error naming the
//! cause and no password.

use super::hopauth::HopauthServer;
use crate::support::{self, service};
use mockhop::StreamOptions;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// Messages per archived stream.
const COUNT: usize = 150;
/// Every message with room for one gets an odd header (duplicate keys,
/// null and empty values, order), which this broker's SQLite engine keeps.
/// Not `default`: its edge timestamps include -1, and tansu 0.6's SQLite
/// engine fails every fetch of a batch holding a negative timestamp (it
/// turns timestamps into `SystemTime`), closing the connection.
const PROFILE: &str = "odd-headers";
/// A refused login must end a command within this; a hang never passes.
const REFUSAL_BOUND: Duration = Duration::from_secs(30);
/// Producing, archiving or verifying a stream takes seconds; this is a hang.
const RUN_BOUND: Duration = Duration::from_secs(120);

/// The SCRAM broker `scripts/services.sh` started.
struct ScramBroker {
    brokers: String,
    ca: String,
    untrusted_ca: String,
    username: String,
    password: String,
}

impl ScramBroker {
    fn from_env() -> ScramBroker {
        ScramBroker {
            brokers: service("ARCHIVER_TEST_SCRAM_BROKERS"),
            ca: service("ARCHIVER_TEST_SCRAM_CA"),
            untrusted_ca: service("ARCHIVER_TEST_SCRAM_UNTRUSTED_CA"),
            username: service("ARCHIVER_TEST_SCRAM_USERNAME"),
            password: service("ARCHIVER_TEST_SCRAM_PASSWORD"),
        }
    }

    /// hop's auth.toml with one entry for this broker (owner-only, as hop
    /// requires), written the way `hop auth add` writes it.
    fn auth_toml(&self, dir: &Path, password: &str) -> PathBuf {
        let path = dir.join("auth.toml");
        let text = format!(
            "[[auth]]\nusername = \"{}\"\npassword = \"{password}\"\nprotocol = \"SASL_SSL\"\n\
             mechanism = \"SCRAM_SHA_512\"\nssl_ca_location = \"{}\"\nhostname = \"{}\"\n",
            self.username, self.ca, self.brokers
        );
        std::fs::write(&path, text).expect("auth.toml written");
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
        path
    }
}

/// A seeded mockhop stream under a topic prefix of its own.
struct Stream {
    seed: u64,
    prefix: String,
    /// The topics the archiver takes (the heartbeat is vetoed).
    topics: Vec<String>,
}

impl Stream {
    fn new(name: &str, seed: u64) -> Stream {
        let prefix = format!("{name}-{}-", std::process::id());
        let options = StreamOptions { seed, count: COUNT, profile: PROFILE.into(), topic_prefix: prefix.clone() };
        let deliveries = mockhop::generate::generate(&options).expect("generates");
        let mut topics: Vec<String> = deliveries.iter().map(|d| d.message.topic.clone()).collect();
        topics.sort();
        topics.dedup();
        topics.retain(|t| !t.ends_with("sys.heartbeat"));
        Stream { seed, prefix, topics }
    }

    fn args(&self) -> Vec<String> {
        let (seed, count) = (self.seed.to_string(), COUNT.to_string());
        ["--seed", &seed, "--count", &count, "--profile", PROFILE, "--topic-prefix", &self.prefix]
            .map(str::to_owned)
            .to_vec()
    }

    /// hopauth's topic list: every topic of the stream archivable, its
    /// heartbeat not.
    fn hopauth_topics(&self) -> String {
        let mut entries: Vec<String> =
            self.topics.iter().map(|t| format!(r#"{{"name": "{t}", "archivable": true}}"#)).collect();
        entries.push(format!(r#"{{"name": "{}sys.heartbeat", "archivable": false}}"#, self.prefix));
        format!("[{}]", entries.join(", "))
    }
}

/// A command whose credential comes only from what the test gives it: no
/// password variable of the caller's, hop's default auth.toml looked for
/// in an empty directory.
fn command(binary: &str, home: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(support::binary(binary));
    for var in ["KAFKA_PASSWORD", "KAFKA_USERNAME", "KAFKA_BROKERS", "ARCHIVER_KAFKA_PASSWORD", "ARCHIVER_CONFIG"] {
        command.env_remove(var);
    }
    command.env("HOME", home).env("XDG_CONFIG_HOME", home.join("config")).env("RUST_LOG", "warn");
    command.kill_on_drop(true);
    command
}

/// Runs `command` to its end within `bound`; returns its output and how long it took.
async fn finish(what: &str, mut command: tokio::process::Command, bound: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let output = tokio::time::timeout(bound, command.output())
        .await
        .unwrap_or_else(|_| panic!("{what}: still running after {bound:?}"))
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    (output, started.elapsed())
}

fn text(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn succeed(what: &str, command: tokio::process::Command) -> String {
    let (output, _) = finish(what, command, RUN_BOUND).await;
    let shown = text(&output);
    assert!(output.status.success(), "{what} failed ({}):\n{shown}", output.status);
    shown
}

/// `mockhop produce` of `stream`, logging in with `login`'s flags.
fn produce(stream: &Stream, broker: &ScramBroker, home: &Path, login: &[&str]) -> tokio::process::Command {
    let mut command = command("mockhop", home);
    command.arg("produce").args(stream.args()).args(["--brokers", &broker.brokers]).args(login);
    command
}

/// `archiver run --until-eos` on `stream`'s topics into `dir`, logging in
/// with `login`'s flags (which also choose the topics, or `--topics` is given).
fn archive(stream: &Stream, broker: &ScramBroker, dir: &Path, login: &[&str]) -> tokio::process::Command {
    let mut command = command("archiver", dir);
    command
        .args(["run", "--until-eos", "--kafka-brokers", &broker.brokers, "--kafka-session-timeout-ms", "6000"])
        .args(["--kafka-group-id", &format!("{}archiver", stream.prefix), "--metrics-addr", "none"])
        .args(["--index", &index_url(dir), "--store", &store_url(dir)])
        .args(login);
    if !login.contains(&"--hopauth-url") {
        command.args(["--topics", &stream.topics.join(",")]);
    }
    command
}

fn index_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("index.db").display())
}

fn store_url(dir: &Path) -> String {
    format!("file://{}", dir.join("objects").display())
}

/// `mockhop verify`: the archive in `dir` holds the stream exactly.
async fn verify(stream: &Stream, dir: &Path) {
    let mut command = command("mockhop", dir);
    command.arg("verify").args(stream.args()).arg("--as-produced");
    command.args(["--index", &index_url(dir), "--store", &store_url(dir)]);
    let shown = succeed("mockhop verify", command).await;
    assert!(shown.contains(" 0 discrepancies"), "{shown}");
}

/// The production path: one auth.toml entry gives `mockhop produce` and
/// `archiver run` their Kafka login (protocol, mechanism and CA included)
/// and the archiver its hopauth login, and hopauth's `archivable` flags
/// choose the topics.
#[tokio::test(flavor = "multi_thread")]
async fn an_auth_toml_login_produces_and_archives_the_stream_hopauth_selects() {
    let broker = ScramBroker::from_env();
    let dir = tempfile::tempdir().expect("tempdir");
    let stream = Stream::new("login-authtoml", 71);
    let auth = broker.auth_toml(dir.path(), &broker.password);
    let auth = auth.to_str().expect("utf-8 path");
    succeed("mockhop produce", produce(&stream, &broker, dir.path(), &["--auth-file", auth])).await;
    let hopauth = HopauthServer::start(&broker.username, &broker.password, &stream.hopauth_topics(), false);
    let login = ["--auth-file", auth, "--hopauth-url", &hopauth.url];
    let shown = succeed("archiver run", archive(&stream, &broker, dir.path(), &login)).await;
    assert!(!shown.contains(&broker.password), "the password shows:\n{shown}");
    verify(&stream, dir.path()).await;
}

/// The password from the environment (`KAFKA_PASSWORD` for mockhop,
/// `ARCHIVER_KAFKA_PASSWORD` for the archiver), the rest from flags.
#[tokio::test(flavor = "multi_thread")]
async fn an_environment_password_login_produces_and_archives_the_stream() {
    let broker = ScramBroker::from_env();
    let dir = tempfile::tempdir().expect("tempdir");
    let stream = Stream::new("login-env", 72);
    let mut produce = produce(
        &stream,
        &broker,
        dir.path(),
        &["--security-protocol", "sasl-ssl", "--username", &broker.username, "--ca-location", &broker.ca],
    );
    produce.env("KAFKA_PASSWORD", &broker.password);
    succeed("mockhop produce", produce).await;
    let login = ["--kafka-username", &broker.username, "--kafka-ca-location", &broker.ca];
    let mut archive = archive(&stream, &broker, dir.path(), &login);
    archive.env("ARCHIVER_KAFKA_PASSWORD", &broker.password);
    let shown = succeed("archiver run", archive).await;
    assert!(!shown.contains(&broker.password), "the password shows:\n{shown}");
    verify(&stream, dir.path()).await;
}

/// A login the broker must refuse, as each command is given it.
struct Refused<'a> {
    case: &'a str,
    /// `archiver run`'s Kafka flags, and its password (if any).
    archiver: Vec<&'a str>,
    archiver_password: Option<&'a str>,
    /// `mockhop produce`'s Kafka flags, and its password (if any).
    mockhop: Vec<&'a str>,
    mockhop_password: Option<&'a str>,
    /// Words the error must contain, naming the cause.
    cause: &'a [&'a str],
}

/// Runs `command`, which must be refused: a failing exit within
/// `REFUSAL_BOUND`, `cause` on stderr, and no password anywhere.
async fn check_refused(what: &str, command: tokio::process::Command, cause: &[&str], secrets: &[&str]) -> Duration {
    let (output, took) = finish(what, command, REFUSAL_BOUND).await;
    let shown = text(&output);
    assert!(!output.status.success(), "{what}: a refused login exited 0:\n{shown}");
    let stderr = String::from_utf8_lossy(&output.stderr).to_lowercase();
    for word in cause {
        assert!(stderr.contains(&word.to_lowercase()), "{what}: the error does not say {word:?}:\n{shown}");
    }
    for secret in secrets {
        assert!(!shown.contains(secret), "{what}: a password shows:\n{shown}");
    }
    took
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_logins_end_both_commands_fast_with_the_cause_and_no_password() {
    let broker = ScramBroker::from_env();
    let wrong_password = "login-Wrong-Secret-7";
    let user = broker.username.as_str();
    let cases = [
        Refused {
            case: "wrong password",
            archiver: vec!["--kafka-username", user, "--kafka-ca-location", &broker.ca],
            archiver_password: Some(wrong_password),
            mockhop: vec!["--username", user, "--ca-location", &broker.ca],
            mockhop_password: Some(wrong_password),
            cause: &["refused the login", "SASL authentication", "check the username, the password"],
        },
        Refused {
            case: "SCRAM-SHA-256 for a SCRAM-SHA-512 user",
            archiver: vec![
                "--kafka-username",
                user,
                "--kafka-ca-location",
                &broker.ca,
                "--kafka-sasl-mechanism",
                "SCRAM-SHA-256",
            ],
            archiver_password: Some(&broker.password),
            mockhop: vec!["--username", user, "--ca-location", &broker.ca, "--sasl-mechanism", "SCRAM-SHA-256"],
            mockhop_password: Some(&broker.password),
            cause: &["refused the login", "with SCRAM-SHA-256", "SASL authentication"],
        },
        Refused {
            case: "TLS without SASL",
            archiver: vec!["--kafka-security-protocol", "ssl", "--kafka-ca-location", &broker.ca],
            archiver_password: None,
            mockhop: vec!["--security-protocol", "ssl", "--ca-location", &broker.ca],
            mockhop_password: None,
            cause: &["no SASL login over ssl", "requires a SASL login"],
        },
        Refused {
            case: "untrusted CA",
            archiver: vec!["--kafka-username", user, "--kafka-ca-location", &broker.untrusted_ca],
            archiver_password: Some(&broker.password),
            mockhop: vec!["--username", user, "--ca-location", &broker.untrusted_ca],
            mockhop_password: Some(&broker.password),
            cause: &["refused the login", "certificate verify failed", "untrusted-ca.pem"],
        },
    ];
    let secrets = [broker.password.as_str(), wrong_password];
    let stream = Stream::new("login-refused", 73);
    for case in &cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut archive = archive(&stream, &broker, dir.path(), &case.archiver);
        if let Some(password) = case.archiver_password {
            archive.env("ARCHIVER_KAFKA_PASSWORD", password);
        }
        let what = format!("archiver run, {}", case.case);
        let took = check_refused(&what, archive, case.cause, &secrets).await;
        eprintln!("{what}: refused after {took:?}");
        let mut produce = produce(&stream, &broker, dir.path(), &case.mockhop);
        if let Some(password) = case.mockhop_password {
            produce.env("KAFKA_PASSWORD", password);
        }
        let what = format!("mockhop produce, {}", case.case);
        let took = check_refused(&what, produce, case.cause, &secrets).await;
        eprintln!("{what}: refused after {took:?}");
    }
}
