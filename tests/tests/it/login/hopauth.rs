//! The hopauth client (`fetch_archivable`) against an independent server:
//! `tests/fixtures/hopauth_server.py`, whose side of the SCRAM exchange is
//! the `scramp` library's (scimma-admin's own choice), run in the
//! hop-client venv. What only a hand-made reply can show (malformed
//! answers, a server skipping the exchange) is in `config.rs` on wiremock.

use archiver::source::{Credential, HopauthTopic, TopicsError, fetch_archivable};
use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};

const USER: &str = "archiver-user";
const PASSWORD: &str = "hopauth-Right-Secret";

/// The topic list the server serves, and what the client must make of it
/// (`null` and a missing flag are false; other fields ignored).
const TOPICS_JSON: &str = r#"[
  {"name": "gcn.notice", "owning_group": "gcn", "archivable": true, "publicly_readable": true, "n_partitions": 2},
  {"name": "lvk.alert", "archivable": false, "description": "x"},
  {"name": "old.topic", "archivable": null}
]"#;

fn served_topics() -> Vec<HopauthTopic> {
    let topic =
        |name: &str, archivable, publicly_readable| HopauthTopic { name: name.into(), archivable, publicly_readable };
    vec![topic("gcn.notice", true, true), topic("lvk.alert", false, false), topic("old.topic", false, false)]
}

/// The scramp-backed hopauth, killed when dropped.
pub(crate) struct HopauthServer {
    child: Child,
    /// The API base, as `--hopauth-url` takes it.
    pub(crate) url: String,
    _dir: tempfile::TempDir,
}

impl HopauthServer {
    /// Serves `topics_json` to `user` with `password`; with `impostor`, signs
    /// the exchange with a server key that is not the credential's.
    pub(crate) fn start(user: &str, password: &str, topics_json: &str, impostor: bool) -> HopauthServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let topics = dir.path().join("topics.json");
        std::fs::write(&topics, topics_json).expect("topic list written");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/hopauth_server.py");
        let mut command = Command::new(mockhop::testing::venv_python());
        command.arg(script).args(["--user", user, "--topics"]).arg(&topics);
        if impostor {
            command.arg("--impostor");
        }
        let mut child = command
            .env("HOPAUTH_TEST_PASSWORD", password)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the hopauth server starts");
        let mut line = String::new();
        let read = std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line);
        let port = line.trim().strip_prefix("listening on ").map(str::to_owned);
        let Some(port) = port.filter(|_| read.is_ok()) else {
            let _ = child.kill();
            panic!("the hopauth server did not start (is scramp in the venv? run scripts/deps.sh test): {line:?}");
        };
        HopauthServer { child, url: format!("http://127.0.0.1:{port}/api"), _dir: dir }
    }
}

impl Drop for HopauthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn credential(username: &str, password: &str) -> Credential {
    Credential { username: username.into(), password: password.into() }
}

/// The error of a fetch that must fail authentication: not transient (an
/// operator must act), and never showing the password tried.
async fn auth_error(server: &HopauthServer, tried: &Credential) -> String {
    let err = fetch_archivable(&server.url, Some(tried)).await.expect_err("the fetch must fail");
    assert!(matches!(err, TopicsError::Auth { .. }), "an authentication error expected: {err:?}");
    assert!(!err.is_transient(), "{err}");
    let text = err.to_string();
    assert!(!text.contains(&tried.password), "the password shows: {text}");
    text
}

#[tokio::test]
async fn the_topic_list_comes_after_a_scram_exchange_with_scramp() {
    let server = HopauthServer::start(USER, PASSWORD, TOPICS_JSON, false);
    let topics = fetch_archivable(&server.url, Some(&credential(USER, PASSWORD))).await.expect("topic list");
    assert_eq!(topics, served_topics());
}

#[tokio::test]
async fn a_wrong_password_is_an_authentication_error() {
    let server = HopauthServer::start(USER, PASSWORD, TOPICS_JSON, false);
    let text = auth_error(&server, &credential(USER, "hopauth-Wrong-Secret")).await;
    assert!(text.contains("rejected"), "{text}");
}

#[tokio::test]
async fn an_unknown_user_is_an_authentication_error() {
    let server = HopauthServer::start(USER, PASSWORD, TOPICS_JSON, false);
    let text = auth_error(&server, &credential("nobody-here", PASSWORD)).await;
    assert!(text.contains("unknown"), "{text}");
}

/// A server that can check the client's proof (it holds the stored key)
/// but does not know the credential's server key: its topic list must not
/// be used.
#[tokio::test]
async fn an_impostor_that_cannot_sign_the_exchange_is_refused() {
    let server = HopauthServer::start(USER, PASSWORD, TOPICS_JSON, true);
    let text = auth_error(&server, &credential(USER, PASSWORD)).await;
    assert!(text.contains("signature is wrong"), "{text}");
}
