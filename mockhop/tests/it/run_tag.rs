//! Run tags: validation, the tagged stream, `verify` of a tagged run next
//! to real traffic and look-alike topics, and which topics `cleanup` may
//! select.

use crate::verify::{Archive, COUNT, SEED, as_archived, foreign};
use archiver::identity::Identity;
use archiver::record::Message;
use mockhop::Delivery;
use mockhop::cleanup::{CleanupError, check_others};
use mockhop::expect::{ArchiveRules, Expectation, ExpectedMessage, expect};
use mockhop::generate::generate;
use mockhop::run_tag::{RunTag, RunTagError};
use mockhop::verify::{Discrepancy, ExtraReason, Report};
use proptest::prelude::*;
use std::process::Command;

const TAG: &str = "dev-7";

fn tag(text: &str) -> RunTag {
    text.parse().unwrap_or_else(|e| panic!("{text:?} is a valid tag: {e}"))
}

fn tagged_deliveries(run: &RunTag) -> Vec<Delivery> {
    generate(&run.stream(SEED, COUNT, "default")).expect("generates")
}

/// What the tagged run's stream must leave in the archive, as `verify
/// --run-tag` computes it.
fn tagged_expectation(run: &RunTag) -> Expectation {
    let rules = ArchiveRules::defaults(&run.topic_prefix());
    expect(&tagged_deliveries(run), &rules).expect("no collisions").of_run(run.clone())
}

/// Topics that resemble the tag's but belong to somebody else.
const LOOK_ALIKES: [&str; 7] = [
    "mockhop-dev-7x.gcn.notice",  // a longer tag
    "mockhop-dev-7-b.gcn.notice", // another tag that starts with ours
    "mockhop-dev.gcn.notice",     // a tag ours starts with
    "mockhop-dev-7",              // no dot: not under the prefix
    "MOCKHOP-DEV-7.gcn.notice",   // another case
    "x.mockhop-dev-7.gcn.notice", // the prefix inside the name
    "mockhop_dev-7.gcn.notice",   // `_` for `-`
];

/// Writes real traffic on real-looking topics and on the look-alikes;
/// returns how many rows that is.
async fn write_other_traffic(archive: &Archive) -> u64 {
    let topics = ["gcn.notice", "igwn.gwalert", "sys.heartbeat"].into_iter().chain(LOOK_ALIKES);
    let mut rows = 0;
    for (i, topic) in topics.enumerate() {
        let other = foreign(topic, format!("real traffic #{i}").as_bytes());
        archive.write(&other, other.placement.uuid, None, true).await;
        rows += 1;
    }
    rows
}

/// A message of the stream changed in its payload's last byte.
fn altered(message: &ExpectedMessage) -> Message {
    let mut changed = message.message.clone();
    let payload = changed.payload.as_mut().expect("a payload");
    let last = payload.last_mut().expect("not empty");
    *last ^= 0x01;
    changed
}

/// The `n`th message with a payload and no client `_id`: archived under
/// its derived UUID, which an altered copy cannot share.
fn with_payload(expected: &Expectation, n: usize) -> &ExpectedMessage {
    expected
        .messages
        .iter()
        .filter(|m| !m.placement.is_client_uuid && m.message.payload.as_ref().is_some_and(|p| !p.is_empty()))
        .nth(n)
        .expect("enough messages")
}

#[test]
fn tags_are_validated_with_errors_that_say_what_is_allowed() {
    for good in ["a", "0", "dev-1", "20250101-120000", "a--b", &"x".repeat(32)] {
        assert_eq!(tag(good).to_string(), good);
    }
    let character =
        |tag: &str, found: char, position: usize| RunTagError::Character { tag: tag.into(), found, position };
    let long = "x".repeat(33);
    let cases = [
        ("", RunTagError::Empty),
        ("Dev", character("Dev", 'D', 1)),
        ("dev.1", character("dev.1", '.', 4)),
        ("dev_1", character("dev_1", '_', 4)),
        ("dev 1", character("dev 1", ' ', 4)),
        ("dév", character("dév", 'é', 2)),
        ("dev*", character("dev*", '*', 4)),
        ("-dev", RunTagError::LeadingHyphen { tag: "-dev".into() }),
        (&long, RunTagError::TooLong { tag: long.clone(), length: 33 }),
    ];
    for (bad, wanted) in cases {
        let err = bad.parse::<RunTag>().expect_err(bad);
        assert_eq!(err, wanted, "{bad:?}");
        let text = err.to_string();
        assert!(
            text.contains("run tag")
                && (text.contains("a-z") || text.contains("at most") || text.contains("letter or digit")),
            "{bad:?}: {text}"
        );
    }
    let text = "dev.1".parse::<RunTag>().expect_err("a dot").to_string();
    assert!(text.contains("\"dev.1\"") && text.contains("'.'") && text.contains("no `.`"), "{text}");
}

#[test]
fn a_tagged_stream_is_the_stream_under_the_prefix_with_its_own_ids() {
    let run = tag(TAG);
    let deliveries = tagged_deliveries(&run);
    assert_eq!(deliveries.len(), COUNT);
    let bad: Vec<&str> =
        deliveries.iter().map(|d| d.message.topic.as_str()).filter(|t| !t.starts_with("mockhop-dev-7.")).collect();
    assert!(bad.is_empty(), "untagged topics: {bad:?}");
    // Same seed, another tag: no client `_id` in common, so two runs in one
    // archive never dispute an `_id`.
    let ids = |deliveries: &[Delivery]| -> std::collections::BTreeSet<uuid::Uuid> {
        deliveries.iter().filter_map(|d| Identity::of(&d.message).client_uuid).collect()
    };
    let (mine, theirs) = (ids(&deliveries), ids(&tagged_deliveries(&tag("dev-70"))));
    assert!(!mine.is_empty(), "the stream carries client _ids");
    assert!(mine.is_disjoint(&theirs), "two tags, one seed: shared _ids");
    assert_eq!(deliveries, tagged_deliveries(&run), "a tagged stream is deterministic");
}

#[tokio::test]
async fn a_tagged_run_verifies_next_to_real_traffic_look_alikes_and_another_run() {
    let run = tag(TAG);
    let expected = tagged_expectation(&run);
    let archive = Archive::new().await;
    archive.write_all(&expected, None).await;
    let mut others = write_other_traffic(&archive).await;
    // Another run made with the same seed, archived in full.
    let neighbour = tagged_expectation(&tag("dev-70"));
    archive.write_all(&neighbour, None).await;
    others += neighbour.messages.len() as u64;
    let report = archive.verify(&expected).await;
    assert_eq!(report.discrepancies, vec![], "the run is archived exactly");
    assert_eq!(report.checked, expected.messages.len());
    assert_eq!(report.foreign_rows, others, "every row outside the tag is other traffic, counted");
}

#[tokio::test]
async fn a_missing_tagged_message_is_reported_despite_other_traffic() {
    let expected = tagged_expectation(&tag(TAG));
    let gone = with_payload(&expected, 3);
    let archive = Archive::new().await;
    archive.write_all(&expected, Some(gone.seq)).await;
    write_other_traffic(&archive).await;
    // The same message on a look-alike topic does not stand in for it.
    let mut elsewhere = gone.clone();
    elsewhere.message.topic = "mockhop-dev-7x.gcn.notice".into();
    let elsewhere =
        as_archived(&Delivery { seq: gone.seq, partition_hint: 0, message: elsewhere.message, labels: vec![] });
    archive.write(&elsewhere, elsewhere.placement.uuid, None, true).await;
    let report = archive.verify(&expected).await;
    assert_eq!(report.discrepancies, vec![Discrepancy::Missing { seq: gone.seq, uuid: gone.placement.uuid }]);
}

#[tokio::test]
async fn an_altered_tagged_message_is_reported_in_its_object_or_as_a_stray() {
    let expected = tagged_expectation(&tag(TAG));
    let target = with_payload(&expected, 5);
    let changed = altered(target);
    // The object at the message's UUID holds other bytes.
    let archive = Archive::new().await;
    archive.write_all(&expected, Some(target.seq)).await;
    write_other_traffic(&archive).await;
    archive.write(target, target.placement.uuid, Some(&changed), true).await;
    let report = archive.verify(&expected).await;
    let mismatch = Discrepancy::Mismatch { seq: target.seq, uuid: target.placement.uuid, fields: vec!["payload"] };
    assert_eq!(report.discrepancies, vec![mismatch]);
    // The altered message archived as a message of its own, instead.
    let archive = Archive::new().await;
    archive.write_all(&expected, Some(target.seq)).await;
    let stray = as_archived(&Delivery { seq: target.seq, partition_hint: 0, message: changed, labels: vec![] });
    archive.write(&stray, stray.placement.uuid, None, true).await;
    let report = sorted(archive.verify(&expected).await);
    let mut wanted = vec![
        Discrepancy::Missing { seq: target.seq, uuid: target.placement.uuid },
        Discrepancy::Stray { uuid: stray.placement.uuid, topic: target.message.topic.clone() },
    ];
    wanted.sort_by_key(ToString::to_string);
    assert_eq!(report.discrepancies, wanted);
}

#[tokio::test]
async fn an_extra_tagged_row_is_reported_where_the_untagged_check_would_pass() {
    let run = tag(TAG);
    let expected = tagged_expectation(&run);
    let archive = Archive::new().await;
    archive.write_all(&expected, None).await;
    write_other_traffic(&archive).await;
    // A message on a tagged topic the stream never wrote to, and a second
    // copy of a message of the stream.
    let intruder = foreign("mockhop-dev-7.not.in.the.stream", b"who sent this?");
    archive.write(&intruder, intruder.placement.uuid, None, true).await;
    let copied = with_payload(&expected, 1);
    let copy_uuid = uuid::Uuid::from_u128(0xc0b1);
    archive.write(copied, copy_uuid, None, true).await;
    let report = sorted(archive.verify(&expected).await);
    let mut wanted = vec![
        Discrepancy::Stray { uuid: intruder.placement.uuid, topic: "mockhop-dev-7.not.in.the.stream".into() },
        Discrepancy::Extra { seq: copied.seq, uuid: copy_uuid, reason: ExtraReason::Copy },
    ];
    wanted.sort_by_key(ToString::to_string);
    assert_eq!(report.discrepancies, wanted);
    let text = report.discrepancies.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    assert!(text.contains("stray:") && text.contains("carries the run tag"), "{text}");
    // Without the tag, the stream answers only for its own topics and messages:
    // the intruder passes. The tag is what catches it.
    let untagged = Expectation { run_tag: None, ..expected.clone() };
    let report = archive.verify(&untagged).await;
    assert_eq!(report.discrepancies.len(), 1, "only the copy: {:?}", report.discrepancies);
}

fn sorted(mut report: Report) -> Report {
    report.discrepancies.sort_by_key(ToString::to_string);
    report
}

/// Kafka topic names: its whole alphabet, so dots, `-` and `_` fall anywhere.
fn topic() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._-]{1,60}"
}

fn run_tag() -> impl Strategy<Value = RunTag> {
    "[a-z0-9][a-z0-9-]{0,31}".prop_map(|t| t.parse().expect("the strategy makes valid tags"))
}

/// Names made to resemble `run`'s topics without being under its prefix.
fn look_alike(run: &RunTag) -> impl Strategy<Value = String> + use<> {
    let t = run.to_string();
    let upper = t.to_uppercase();
    prop_oneof![
        // The tag longer (a character that is not the `.`), then anything.
        ("[a-z0-9_-]", topic()).prop_map({
            let t = t.clone();
            move |(c, rest)| format!("mockhop-{t}{c}{rest}")
        }),
        // The prefix somewhere inside.
        ("[A-Za-z0-9._-]{1,10}", topic()).prop_map({
            let t = t.clone();
            move |(head, rest)| format!("{head}mockhop-{t}.{rest}")
        }),
        // The tag cut short.
        (0..t.len(), topic()).prop_map({
            let t = t.clone();
            move |(cut, rest)| format!("mockhop-{}.{rest}", &t[..cut])
        }),
        // Another case, another separator, no separator.
        topic().prop_map(move |rest| format!("MOCKHOP-{upper}.{rest}")),
        topic().prop_map({
            let t = t.clone();
            move |rest| format!("mockhop_{t}.{rest}")
        }),
        Just(format!("mockhop-{t}")),
    ]
}

/// The oracle, by another route than the code's prefix test: Kafka names
/// split at their first `.` into group and rest, and a tag's alphabet has
/// no `.`, so a topic is the run's exactly when its group is `mockhop-<tag>`.
fn belongs_to(run: &RunTag, topic: &str) -> bool {
    topic.split_once('.').is_some_and(|(group, _)| group == format!("mockhop-{run}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn cleanup_selects_exactly_the_runs_topics((run, names, alike) in run_tag().prop_flat_map(|run| {
        let names = proptest::collection::vec(topic(), 0..40);
        let alike = proptest::collection::vec(look_alike(&run), 0..10);
        (Just(run), names, alike)
    })) {
        let mut mixed = names.clone();
        mixed.extend(alike);
        mixed.extend(names.iter().take(5).map(|n| format!("{}{n}", run.topic_prefix())));
        let selected = run.select(mixed.iter().map(String::as_str));
        let mut wanted: Vec<String> = mixed.iter().filter(|t| belongs_to(&run, t)).cloned().collect();
        wanted.sort();
        wanted.dedup();
        prop_assert_eq!(selected.names(), wanted.as_slice());
        prop_assert_eq!(selected.tag(), &run);
    }

    #[test]
    fn cleanup_never_selects_a_look_alike((run, names) in run_tag().prop_flat_map(|run| {
        let names = proptest::collection::vec(look_alike(&run), 1..20);
        (Just(run), names)
    })) {
        let selected = run.select(names.iter().map(String::as_str));
        prop_assert!(selected.is_empty(), "{:?} selected from look-alikes of {}", selected.names(), run);
        for name in &names {
            prop_assert!(!belongs_to(&run, name), "the strategy made {} under {}", name, run);
        }
    }

    #[test]
    fn cleanup_never_selects_another_runs_topics(a in run_tag(), b in run_tag(), rest in topic()) {
        prop_assume!(a != b);
        let theirs = format!("{}{rest}", b.topic_prefix());
        prop_assert!(a.select([theirs.as_str()]).is_empty(), "{} selected {}", a, theirs);
    }
}

/// Runs `mockhop args...`: (exit code, stdout, stderr).
fn mockhop(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mockhop")).args(args).output().expect("mockhop runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().expect("exited normally"), text(&out.stdout), text(&out.stderr))
}

#[test]
fn the_command_line_takes_only_valid_tags_and_no_prefix_beside_one() {
    let (code, out, err) = mockhop(&["generate", "--seed", "1", "--count", "30", "--run-tag", "dev-1"]);
    assert_eq!(code, 0, "{err}");
    let topics: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON")["topic"].as_str().expect("topic").into())
        .collect();
    assert!(topics.len() == 30 && topics.iter().all(|t| t.starts_with("mockhop-dev-1.")), "{topics:?}");
    for (bad, says) in [("Dev.1", "'D'"), ("", "empty"), ("-x", "letter or digit")] {
        let bad = format!("--run-tag={bad}");
        for args in
            [vec!["generate", "--seed", "1", "--count", "1", &bad], vec!["cleanup", &bad, "--brokers", "127.0.0.1:1"]]
        {
            let (code, _, err) = mockhop(&args);
            let command = args[0];
            assert!(code == 2 && err.contains("--run-tag") && err.contains(says), "{command} {bad:?}: {err}");
        }
    }
    let (code, _, err) =
        mockhop(&["generate", "--seed", "1", "--count", "1", "--run-tag", "dev-1", "--topic-prefix", "x."]);
    assert!(code == 2 && err.contains("cannot be used with"), "{err}");
    let (code, _, err) = mockhop(&["cleanup", "--brokers", "127.0.0.1:1"]);
    assert!(code == 2 && err.contains("--run-tag"), "cleanup needs a tag: {err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_with_a_run_tag_exits_zero_on_the_run_and_one_on_a_stray() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let index = format!("sqlite://{}", tmp.path().join("index.db").display());
    let store = format!("file://{}", tmp.path().join("objects").display());
    let archive = Archive::at(&index, &store).await;
    let expected = tagged_expectation(&tag(TAG));
    archive.write_all(&expected, None).await;
    let others = write_other_traffic(&archive).await;
    let args = move || {
        let (seed, count) = (SEED.to_string(), COUNT.to_string());
        let args =
            ["verify", "--run-tag", TAG, "--seed", &seed, "--count", &count, "--index", &index, "--store", &store];
        mockhop(&args)
    };
    let run = args.clone();
    let (code, out, err) = tokio::task::spawn_blocking(run).await.expect("runs");
    assert_eq!(code, 0, "{out}{err}");
    let summary = format!(
        "verified {} messages of run tag {TAG}: 0 discrepancies ({others} foreign rows ignored)",
        expected.messages.len()
    );
    assert!(out.contains(&summary), "{out}");
    let intruder = foreign("mockhop-dev-7.gcn.notice", b"not the run's");
    archive.write(&intruder, intruder.placement.uuid, None, true).await;
    let (code, out, err) = tokio::task::spawn_blocking(args).await.expect("runs");
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.starts_with(&format!("stray: {}", intruder.placement.uuid)), "{out}");
}

/// What `cleanup --apply` checks after each deletion: every topic that is
/// not the run's, listed before it began, must still be listed.
#[test]
fn cleanup_stops_when_a_topic_that_is_not_the_runs_vanished() {
    let others: std::collections::BTreeSet<String> = (0..12).map(|i| format!("gcn.notice{i:02}")).collect();
    let mut listed: Vec<String> = others.iter().cloned().collect();
    listed.push("mockhop-dev-7.lvk.alerts".into());
    assert!(check_others("mockhop-dev-7.gcn.notice", &others, &listed).is_ok(), "nothing else vanished");
    listed.retain(|t| t != "gcn.notice03");
    match check_others("mockhop-dev-7.gcn.notice", &others, &listed) {
        Err(CleanupError::OthersVanished { deleted, count: 1, named }) => {
            assert_eq!((deleted.as_str(), named.as_str()), ("mockhop-dev-7.gcn.notice", "gcn.notice03"));
        }
        other => panic!("one vanished: {other:?}"),
    }
    // A broker that deleted everything: all counted, the first ten named.
    let err = check_others("mockhop-dev-7.gcn.notice", &others, &[]).expect_err("all vanished");
    let text = err.to_string();
    assert!(text.contains("12 topics") && text.contains("gcn.notice09, …") && !text.contains("gcn.notice10"), "{text}");
    assert!(text.contains("do not run cleanup --apply"), "{text}");
}
