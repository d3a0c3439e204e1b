//! The live development area (issue 15), end to end: a broker already
//! carrying real traffic, mock traffic mixed in with `mockhop produce
//! --run-tag`, `archiver run` archiving both, `mockhop verify --run-tag`
//! checking only the run, and `mockhop cleanup --run-tag` listing and then
//! removing the run's topics — each command run as the README tells an
//! operator to. Afterwards the real topics are still on the broker with
//! every record, and their archived messages are all in the archive.
//!
//! The SASL_SSL/SCRAM broker carries the whole sequence but the deletion:
//! it is tansu 0.6 on its SQLite engine (the only kind of tansu storage
//! that keeps SCRAM credentials), whose DeleteTopics deletes every topic of
//! the cluster. `cleanup --apply` would stop after the first deletion and
//! say so, but the topics of every other test on that shared broker would
//! be gone. The deletion runs on a broker of the test's own whose
//! DeleteTopics deletes only what it is asked to (tansu's memory engine).

use crate::run::real_backends;
use crate::support::{self, PrivateKafka, service};
use archiver::record::{Header, Key, Message};
use archiver::source::{KafkaConnection, SecurityProtocol};
use mockhop::Delivery;
use mockhop::expect::{ArchiveRules, Expectation, expect};
use mockhop::run_tag::RunTag;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Output;
use std::time::Duration;

/// The broker this module plays the live development area on: the
/// SASL_SSL/SCRAM-SHA-512 broker, as Hopskotch's. To work on this module
/// without it, the body `LiveBroker { brokers: service("ARCHIVER_TEST_KAFKA"),
/// login: None }` plays it on the plain test broker.
fn live_broker() -> LiveBroker {
    LiveBroker::scram()
}

/// How long one `archiver` or `mockhop` process may take.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(120);
/// How long reading a topic back may take.
const READ_BACK_TIMEOUT: Duration = Duration::from_secs(60);
/// Partitions of every topic, real and mock.
const PARTITIONS: u32 = 3;
/// Records of real traffic on each real topic.
const REAL_PER_TOPIC: usize = 10;
const SEED: u64 = 15;
const COUNT: usize = 200;
/// Traffic as Hopskotch carries it today, as in the README's sequence. (The
/// default profile's timestamp edges include records without a timestamp,
/// whose ListOffsets tansu's SQLite engine fails to answer.)
const PROFILE: &str = "realistic";

/// How to reach the live broker, for the library, mockhop and the archiver.
struct LiveBroker {
    brokers: String,
    /// `None`: plaintext.
    login: Option<Login>,
}

struct Login {
    username: String,
    password: String,
    ca: String,
}

impl LiveBroker {
    fn scram() -> LiveBroker {
        LiveBroker {
            brokers: service("ARCHIVER_TEST_SCRAM_BROKERS"),
            login: Some(Login {
                username: service("ARCHIVER_TEST_SCRAM_USERNAME"),
                password: service("ARCHIVER_TEST_SCRAM_PASSWORD"),
                ca: service("ARCHIVER_TEST_SCRAM_CA"),
            }),
        }
    }

    fn connection(&self) -> KafkaConnection {
        let mut connection = KafkaConnection::plaintext(&self.brokers);
        if let Some(login) = &self.login {
            connection.security_protocol = SecurityProtocol::SaslSsl;
            connection.username = Some(login.username.clone());
            connection.password = Some(login.password.clone());
            connection.ca_location = Some(login.ca.clone());
        }
        connection
    }

    /// `mockhop args…` with this broker's flags; the password only in the
    /// environment, as the README has it.
    async fn mockhop(&self, args: &[&str]) -> Output {
        let mut command = tokio::process::Command::new(support::binary("mockhop"));
        command.args(args).args(["--brokers", &self.brokers]).env_remove("KAFKA_PASSWORD");
        if let Some(login) = &self.login {
            command.args(["--security-protocol", "sasl-ssl", "--username", &login.username]);
            command.args(["--ca-location", &login.ca]).env("KAFKA_PASSWORD", &login.password);
        }
        finish(command, &format!("mockhop {}", args.join(" "))).await
    }

    /// `archiver run`'s Kafka flags; a login goes into an owner-only hop
    /// `auth.toml` in `dir`, as an operator sets one up.
    fn archiver_args(&self, dir: &std::path::Path) -> Vec<String> {
        let mut args = vec!["--kafka-brokers".to_owned(), self.brokers.clone()];
        if let Some(login) = &self.login {
            let path = dir.join("auth.toml");
            let text = format!(
                "[[auth]]\nusername = {:?}\npassword = {:?}\nhostname = {:?}\nprotocol = \"SASL_SSL\"\n\
                 mechanism = \"SCRAM_SHA_512\"\nssl_ca_location = {:?}\n",
                login.username, login.password, self.brokers, login.ca
            );
            std::fs::write(&path, text).expect("auth.toml written");
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
            args.extend(["--auth-file".to_owned(), path.display().to_string()]);
        }
        args
    }

    /// Every topic the broker shows, as a plain metadata request sees them.
    async fn topics(&self) -> BTreeSet<String> {
        let topics = mockhop::cleanup::broker_topics(&self.connection()).await.expect("broker topics");
        topics.into_iter().collect()
    }

    /// Records on the broker per topic, each read to its end.
    async fn records(&self, topics: &[String]) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for topic in topics {
            let (connection, name) = (self.connection(), topic.clone());
            let read = tokio::task::spawn_blocking(move || support::read_topic(&connection, &name, READ_BACK_TIMEOUT));
            out.insert(topic.clone(), read.await.expect("reader").len());
        }
        out
    }
}

/// Runs `command` to its end within [`PROCESS_TIMEOUT`].
async fn finish(mut command: tokio::process::Command, what: &str) -> Output {
    command.env("RUST_LOG", "warn").kill_on_drop(true);
    let run = command.output();
    tokio::time::timeout(PROCESS_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {PROCESS_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// The independent oracle of a topic's run: Kafka names split at their
/// first `.` into group and rest, and a tag has no `.`, so a topic is the
/// run's exactly when its group is `mockhop-<tag>`.
fn of_run(tag: &RunTag, topic: &str) -> bool {
    topic.split_once('.').is_some_and(|(group, _)| group == format!("mockhop-{tag}"))
}

/// Real traffic: [`REAL_PER_TOPIC`] distinct messages on each topic, as
/// hop-client sends them (a random `_id`, `_format`, JSON).
fn real_traffic(topics: &[String]) -> Vec<Delivery> {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970");
    let now_ms = i64::try_from(since_epoch.as_millis()).expect("ms fit i64");
    let messages = topics.iter().flat_map(|topic| {
        (0..REAL_PER_TOPIC).map(move |i| Message {
            topic: topic.clone(),
            timestamp: now_ms + i64::try_from(i).expect("small"),
            key: Key::Null,
            headers: vec![
                Header::new("_id", Some(uuid::Uuid::new_v4().as_bytes())),
                Header::new("_format", Some(b"json")),
            ],
            payload: Some(format!("{{\"alert\": {i}, \"topic\": \"{topic}\"}}").into_bytes()),
        })
    });
    messages
        .enumerate()
        .map(|(seq, message)| Delivery {
            seq: seq as u64,
            partition_hint: u32::try_from(seq).expect("small"),
            message,
            labels: Vec::new(),
        })
        .collect()
}

/// What `mockhop verify --run-tag` must find: the tagged stream as Kafka
/// carried it.
fn run_expectation(tag: &RunTag) -> (Vec<Delivery>, Expectation) {
    let deliveries = mockhop::generate::generate(&tag.stream(SEED, COUNT, PROFILE)).expect("generates");
    let sent = mockhop::produce::as_produced(&deliveries);
    let expected = expect(&sent, &ArchiveRules::defaults(&tag.topic_prefix())).expect("no collisions");
    (deliveries, expected)
}

/// Whether `cleanup --apply` runs (else only its dry run).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cleanup {
    DryRun,
    Apply,
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tagged_run_is_archived_and_verified_beside_real_traffic_on_the_scram_broker() {
    live_area(&live_broker(), Cleanup::DryRun).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_removes_the_run_and_leaves_real_topics_and_their_archive_intact() {
    let kafka = PrivateKafka::start().await;
    live_area(&LiveBroker { brokers: kafka.brokers.clone(), login: None }, Cleanup::Apply).await;
}

/// The README's sequence on `broker`, beside real traffic, then what must
/// hold afterwards.
async fn live_area(broker: &LiveBroker, cleanup_mode: Cleanup) {
    let dir = tempfile::tempdir().expect("tempdir");
    let unique = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let tag: RunTag = format!("e2e-{unique}").parse().expect("a valid tag");
    let (seed, count) = (SEED.to_string(), COUNT.to_string());
    let tag_text = tag.to_string();
    let stream = ["--seed", &seed, "--count", &count, "--profile", PROFILE];

    // 1. Real traffic is there first: real-looking topics, and topics that
    //    look like the tag's without being under it.
    let real: Vec<String> = [
        format!("gcn-{unique}.notice"),
        format!("igwn-{unique}.gwalert"),
        format!("mockhop-{tag}x.gcn.notice"),
        format!("mockhop-{tag}-b.gcn.notice"),
        format!("mockhop-{tag}"),
        format!("x.mockhop-{tag}.gcn.notice"),
    ]
    .into();
    let traffic = real_traffic(&real);
    let connection = broker.connection();
    let partitions = i32::try_from(PARTITIONS).expect("small");
    mockhop::produce::create_topics(&connection, &traffic, partitions).await.expect("real topics");
    mockhop::produce::produce(&connection, &traffic, partitions, |_| {}).await.expect("real traffic sent");

    // 2. The mock run, tagged; the tag cannot be used twice.
    let produce = [&["produce", "--run-tag", &tag_text][..], &stream].concat();
    let produced = broker.mockhop(&produce).await;
    assert!(produced.status.success(), "produce: {}", text(&produced));
    let again = broker.mockhop(&produce).await;
    assert_eq!(again.status.code(), Some(2), "a reused tag: {}", text(&again));
    assert!(text(&again).contains("already in use"), "{}", text(&again));

    // 3. The archiver takes everything in this test's area.
    let area: Vec<String> = broker.topics().await.into_iter().filter(|t| t.contains(unique)).collect();
    let (deliveries, expected) = run_expectation(&tag);
    let run_topics: BTreeSet<String> = deliveries.iter().map(|d| d.message.topic.clone()).collect();
    assert!(run_topics.iter().all(|t| area.contains(t)), "the run's topics exist: {area:?}");
    let (index_url, store_url, _) = real_backends().await;
    let mut archiver = tokio::process::Command::new(support::binary("archiver"));
    archiver
        .arg("run")
        .args(broker.archiver_args(dir.path()))
        .args(["--kafka-group-id", &format!("live-{unique}"), "--kafka-session-timeout-ms", "6000"])
        .args(["--topics", &area.join(","), "--topics-veto", "sys.heartbeat,mockhop-*.sys.heartbeat"])
        .args(["--index", &index_url, "--store", &store_url, "--metrics-addr", "none", "--until-eos"])
        .env("AWS_ACCESS_KEY_ID", service("ARCHIVER_TEST_S3_ACCESS_KEY"))
        .env("AWS_SECRET_ACCESS_KEY", service("ARCHIVER_TEST_S3_SECRET_KEY"))
        .env_remove("ARCHIVER_KAFKA_PASSWORD");
    let ran = finish(archiver, "archiver run").await;
    assert!(ran.status.success(), "archiver run: {}", text(&ran));

    // 4. verify answers for the run only, and counts the rest.
    let verify = || {
        let mut command = tokio::process::Command::new(support::binary("mockhop"));
        command.args(["verify", "--run-tag", &tag_text, "--as-produced"]).args(stream);
        command.args(["--index", &index_url, "--store", &store_url]);
        command.env("AWS_ACCESS_KEY_ID", service("ARCHIVER_TEST_S3_ACCESS_KEY"));
        command.env("AWS_SECRET_ACCESS_KEY", service("ARCHIVER_TEST_S3_SECRET_KEY"));
        finish(command, "mockhop verify")
    };
    let summary = format!(
        "verified {} messages of run tag {tag}: 0 discrepancies ({} foreign rows ignored)",
        expected.messages.len(),
        traffic.len()
    );
    let verified = verify().await;
    assert!(verified.status.success() && text(&verified).contains(&summary), "verify: {}", text(&verified));

    // 5. cleanup: a dry run lists exactly the run's topics and deletes nothing.
    let cleanup = ["cleanup", "--run-tag", &tag_text];
    let dry = broker.mockhop(&cleanup).await;
    assert!(dry.status.success(), "cleanup dry run: {}", text(&dry));
    let listed: BTreeSet<String> = String::from_utf8_lossy(&dry.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("would delete "))
        .map(str::to_owned)
        .collect();
    let on_broker: BTreeSet<String> = broker.topics().await.into_iter().filter(|t| of_run(&tag, t)).collect();
    assert_eq!(listed, run_topics, "the dry run lists the run's topics");
    assert_eq!(on_broker, run_topics, "the dry run deleted nothing");
    if cleanup_mode == Cleanup::Apply {
        let applied = broker.mockhop(&[&cleanup[..], &["--apply"]].concat()).await;
        assert!(applied.status.success(), "cleanup --apply: {}", text(&applied));
        let after = broker.topics().await;
        let left: Vec<&String> = after.iter().filter(|t| of_run(&tag, t)).collect();
        assert!(left.is_empty(), "run topics left on the broker: {left:?}");
    }

    // 6. The real topics are all there, with every record on the broker
    //    and every message in the archive; the archive keeps the run.
    let per_topic: BTreeMap<String, usize> = real.iter().map(|t| (t.clone(), REAL_PER_TOPIC)).collect();
    assert_eq!(broker.records(&real).await, per_topic, "real records on the broker at the end");
    let index = archiver::index::open(&index_url).await.expect("index");
    let stats = index.topic_stats().await.expect("topic stats");
    let archived = |wanted: &dyn Fn(&str) -> bool| -> BTreeMap<String, usize> {
        stats
            .iter()
            .filter(|s| wanted(&s.topic))
            .map(|s| (s.topic.clone(), usize::try_from(s.count).expect("count")))
            .collect()
    };
    assert_eq!(archived(&|t| real.iter().any(|r| r == t)), per_topic, "real messages in the archive");
    let run_rows: usize = archived(&|t| of_run(&tag, t)).values().sum();
    assert_eq!(run_rows, expected.messages.len(), "the archive keeps the run's messages");
    let verified = verify().await;
    assert!(verified.status.success() && text(&verified).contains(&summary), "verify again: {}", text(&verified));
}
