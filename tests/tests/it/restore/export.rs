//! `archiver restore --to file:PATH` run as an operator runs it, over an
//! archive the real ingest loop wrote (SQLite file + filesystem store): the
//! export checked line by line against the index, the stored objects (read
//! with the `bson` crate) and the log that delivered them; order; dry run;
//! missing and corrupted objects; a killed export job resumed.

use super::fixture::{
    Archive, EDGES, ORDER, OVERSIZED, Spec, b64, line_from_message, line_of_row, read_jsonl, uuid_of,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Lines by UUID, asserting that no UUID appears twice.
fn by_uuid(lines: &[Value]) -> BTreeMap<Uuid, &Value> {
    let mut map = BTreeMap::new();
    for line in lines {
        assert!(map.insert(uuid_of(line), line).is_none(), "{} exported twice", line["uuid"]);
    }
    map
}

/// Rule: a whole-archive export has exactly one line per index row, and
/// each line holds what the stored object holds (decoded independently)
/// and what the producer delivered — topic, partition, offset, timestamp,
/// key, headers in order with duplicates and nulls, value — with null kept
/// apart from empty everywhere.
#[test]
fn export_has_one_line_per_row_equal_to_its_object_and_its_delivery() {
    let archive = Archive::build_blocking(Spec::standard());
    let rows = archive.rows_blocking();
    let path = archive.path("all.jsonl");
    let summary = archive.restore(&[&format!("--to=file:{}", path.display()), "--json"]).json();
    let lines = read_jsonl(&path);
    assert_eq!(lines.len(), rows.len(), "one line per index row");
    let lines_by_uuid = by_uuid(&lines);
    for row in &rows {
        let line = lines_by_uuid.get(&row.uuid).unwrap_or_else(|| panic!("row {row:?} not exported"));
        assert_eq!(**line, line_of_row(&archive, row), "line of {row:?} differs from its stored object");
        let delivered = match (row.partition, row.offset) {
            (Some(p), Some(o)) => {
                let message = archive.log.get(&(row.topic.clone(), p, o)).expect("the row points into the log");
                line_from_message(row.uuid, Some(p), Some(o), message)
            }
            _ => line_from_message(row.uuid, None, None, &archive.uploads[&row.uuid]),
        };
        assert_eq!(**line, delivered, "line of {row:?} differs from the message delivered");
    }

    // The summary counts what was written: messages, key + header + value
    // bytes, and messages without a timestamp.
    let decoded = |v: &Value| v.as_str().map_or(0, |t| BASE64.decode(t).expect("base64").len());
    let bytes: usize = lines
        .iter()
        .map(|l| {
            let headers = l["headers"].as_array().expect("headers");
            let headers: usize = headers.iter().map(|h| h[0].as_str().expect("name").len() + decoded(&h[1])).sum();
            decoded(&l["key"]) + headers + decoded(&l["value"])
        })
        .sum();
    let untimed = lines.iter().filter(|l| l["timestamp"].is_null()).count();
    let total = &summary["total"];
    assert_eq!((&total["messages"], &total["bytes"]), (&json!(rows.len()), &json!(bytes)), "{summary}");
    assert_eq!((&total["without_timestamp"], &total["skipped"]), (&json!(untimed), &json!(0)), "{summary}");

    // The distinctions the test must have seen to mean anything.
    let any = |what: &str, pred: &dyn Fn(&Value) -> bool| {
        assert!(lines.iter().any(pred), "no exported line has {what}");
    };
    any("a null value", &|l| l["value"].is_null());
    any("an empty value", &|l| l["value"] == json!(""));
    any("a null key", &|l| l["key"].is_null());
    any("an empty key", &|l| l["key"] == json!(""));
    any("a text key (upload)", &|l| l["key"] == b64(b"a string key"));
    let headers = |l: &Value| l["headers"].as_array().expect("headers").clone();
    any("a null header value", &|l| headers(l).iter().any(|h| h[1].is_null()));
    any("an empty header value", &|l| headers(l).iter().any(|h| h[1] == json!("")));
    any("a repeated header name", &|l| {
        let names: Vec<String> = headers(l).iter().map(|h| h[0].to_string()).collect();
        names.iter().collect::<BTreeSet<_>>().len() < names.len()
    });
    any("no timestamp", &|l| l["timestamp"].is_null());
    any("timestamp 0", &|l| l["timestamp"] == json!(0));
    any("an upload (no partition)", &|l| l["partition"].is_null());
    // The edge message with every kind of header, exactly.
    let edge = lines.iter().find(|l| l["topic"] == EDGES && l["offset"] == json!(0)).expect("edge message 0");
    assert_eq!(
        edge["headers"],
        json!([
            ["null", null],
            ["empty", ""],
            ["dup", b64(b"1")],
            ["dup", null],
            ["dup", ""],
            ["dup", b64(b"\xff\x00")]
        ])
    );
    assert_eq!((&edge["key"], &edge["value"]), (&Value::Null, &Value::Null));
}

/// Rule: within one (topic, partition) the export is in offset order, even
/// where the timestamps are not monotonic in the log.
#[test]
fn export_keeps_offset_order_within_each_partition_whatever_the_timestamps() {
    let archive = Archive::build_blocking(Spec::standard());
    let lines = archive.export("all.jsonl", &[]);
    let mut last: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    let mut disordered = BTreeSet::new();
    for line in lines.iter().filter(|l| !l["partition"].is_null()) {
        let lane = (line["topic"].as_str().expect("topic").to_owned(), line["partition"].as_i64().expect("partition"));
        let (offset, timestamp) = (line["offset"].as_i64().expect("offset"), line["timestamp"].as_i64().unwrap_or(-1));
        if let Some((previous_offset, previous_timestamp)) = last.get(&lane) {
            assert!(offset > *previous_offset, "{lane:?}: offset {offset} after {previous_offset}");
            if timestamp < *previous_timestamp {
                disordered.insert(lane.clone());
            }
        }
        last.insert(lane, (offset, timestamp));
    }
    for partition in 0..3 {
        assert!(disordered.contains(&(ORDER.to_owned(), partition)), "{ORDER}/{partition} must go back in time");
        let offsets: Vec<i64> = lines
            .iter()
            .filter(|l| l["topic"] == ORDER && l["partition"] == json!(partition))
            .map(|l| l["offset"].as_i64().expect("offset"))
            .collect();
        assert_eq!(offsets, (0..8).collect::<Vec<_>>(), "{ORDER}/{partition}: every offset, in order");
    }
}

/// Rule: a dry run reports, per topic, the messages and object bytes the
/// index holds for the selection (retracted rows left out) and writes
/// nothing: no output file, no job file.
#[test]
fn dry_run_counts_rows_and_bytes_per_topic_and_writes_nothing() {
    let archive = Archive::build_blocking(Spec::standard());
    let rows = archive.rows_blocking();
    let retracted = rows.iter().find(|r| r.topic == EDGES && r.partition.is_some()).expect("an edge row");
    archive.retract(&[retracted.uuid]);
    let out = archive.path("dry.jsonl");
    let ran = archive.restore(&[&format!("--to=file:{}", out.display()), "--dry-run", "--json", "--job", "dry"]);
    let report = ran.json();
    let mut expected: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.uuid != retracted.uuid) {
        let entry = expected.entry(row.topic.clone()).or_default();
        entry.0 += 1;
        entry.1 += row.size;
    }
    let reported: BTreeMap<String, (u64, u64)> = report["topics"]
        .as_object()
        .expect("topics")
        .iter()
        .map(|(t, c)| (t.clone(), (c["messages"].as_u64().expect("messages"), c["bytes"].as_u64().expect("bytes"))))
        .collect();
    assert_eq!(report["dry_run"], json!(true));
    assert_eq!(reported, expected);
    assert!(!out.exists(), "a dry run created its output file");
    assert!(!archive.path("jobs").join("dry.json").exists(), "a dry run saved a job");
}

/// Deletes the object of one row and flips one byte of another's; returns
/// (missing row, corrupted row).
fn damage(archive: &Archive) -> (super::fixture::Row, super::fixture::Row) {
    let rows = archive.rows_blocking();
    let mut kafka = rows.iter().filter(|r| r.partition.is_some() && r.topic != EDGES && r.size > 100);
    let (missing, corrupted) = (kafka.next().expect("a row").clone(), kafka.nth(10).expect("another row").clone());
    std::fs::remove_file(archive.objects().join(&missing.key)).expect("delete an object");
    let path = archive.objects().join(&corrupted.key);
    let mut bytes = std::fs::read(&path).expect("read object");
    let at = bytes.len() - 10;
    bytes[at] ^= 0x01;
    std::fs::write(&path, bytes).expect("corrupt object");
    (missing, corrupted)
}

/// Rule: a missing object stops the export naming its UUID and key, and
/// an object whose bytes changed is reported unreadable (CRC-32 mismatch)
/// the same way; under `--on-missing skip` both are skipped, counted and
/// named in the summary, and every other message is exported.
#[test]
fn missing_and_corrupted_objects_stop_the_export_or_are_skipped_and_counted() {
    let archive = Archive::build_blocking(Spec::standard());
    let rows = archive.rows_blocking();
    let (missing, corrupted) = damage(&archive);
    let out = archive.path("out.jsonl");
    let to = format!("--to=file:{}", out.display());
    // One at a time, stopping: each named with its UUID and key.
    let only =
        |row: &super::fixture::Row, name: &str| super::fixture::uuid_file(&archive, name, &format!("{}\n", row.uuid));
    let ran = archive.restore(&[&to, "--uuids", &only(&missing, "missing.txt")]);
    ran.fails_naming(&[&missing.uuid.to_string(), &missing.key, "missing"]);
    let ran = archive.restore(&[&to, "--uuids", &only(&corrupted, "corrupted.txt")]);
    ran.fails_naming(&[&corrupted.uuid.to_string(), &corrupted.key, "unreadable", "CRC-32"]);
    // The whole archive stops at whichever comes first.
    archive.restore(&[&to]).fails_naming(&["--on-missing skip"]);

    let summary = archive.restore(&[&to, "--on-missing", "skip", "--json"]).json();
    assert_eq!(summary["total"]["skipped"], json!(2));
    assert_eq!(summary["total"]["messages"], json!(rows.len() - 2));
    let skipped: BTreeMap<String, (String, String)> = summary["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|s| {
            let text = |f: &str| s[f].as_str().expect("text").to_owned();
            (text("uuid"), (text("key"), text("reason")))
        })
        .collect();
    assert_eq!(skipped.len(), 2, "{summary}");
    assert_eq!(skipped[&missing.uuid.to_string()].0, missing.key);
    assert_eq!(skipped[&corrupted.uuid.to_string()].0, corrupted.key);
    assert!(skipped[&corrupted.uuid.to_string()].1.contains("CRC-32"), "{summary}");
    let exported: BTreeSet<Uuid> = read_jsonl(&out).iter().map(uuid_of).collect();
    let expected: BTreeSet<Uuid> =
        rows.iter().map(|r| r.uuid).filter(|u| *u != missing.uuid && *u != corrupted.uuid).collect();
    assert_eq!(exported, expected);
}

/// Rule: a file export job killed with SIGKILL mid-way and run again with
/// the same command ends with every selected message exactly once: the
/// resumed run cuts the file back to its checkpointed length. The result
/// is byte for byte an uninterrupted export.
#[test]
fn killed_export_job_resumes_to_every_message_exactly_once() {
    let archive = Archive::build_blocking(Spec::standard());
    let whole = archive.path("whole.jsonl");
    archive.restore(&[&format!("--to=file:{}", whole.display())]).ok();
    let out = archive.path("resumed.jsonl");
    let args = [format!("--to=file:{}", out.display()), "--job=kill".into(), "--rate-max=150".into()];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let job = archive.path("jobs").join("kill.json");

    let mut child = archive.command(&args).spawn().expect("start the export");
    // Kill once the job has checkpointed some messages, well before the end.
    let started = Instant::now();
    let checkpointed = |job: &std::path::Path| -> u64 {
        let Ok(text) = std::fs::read_to_string(job) else { return 0 };
        let Ok(state) = serde_json::from_str::<Value>(&text) else { return 0 };
        state["topics"].as_object().map_or(0, |t| t.values().map(|c| c["messages"].as_u64().unwrap_or(0)).sum())
    };
    while checkpointed(&job) < 40 {
        assert!(child.try_wait().expect("wait").is_none(), "the export ended before it could be killed");
        assert!(started.elapsed() < Duration::from_secs(60), "no checkpoint within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let state: Value = serde_json::from_str(&std::fs::read_to_string(&job).expect("job file")).expect("job JSON");
    assert_eq!(state["finished"], json!(false), "killed before the end");
    // What a kill in the middle of a write leaves: part of a line past the
    // checkpointed length (the resumed run must cut it off).
    let at = state["sink_position"].as_u64().expect("the job records the file's checkpointed length");
    let mut file = std::fs::OpenOptions::new().append(true).open(&out).expect("open export");
    std::io::Write::write_all(&mut file, b"{\"uuid\":\"torn").expect("tear");
    assert!(std::fs::metadata(&out).expect("export").len() > at);
    let total = read_jsonl(&whole).len() as u64;
    assert!(checkpointed(&job) < total, "killed before the end");

    let summary = {
        let mut all = args.clone();
        all.push("--json");
        archive.restore(&all).json()
    };
    assert_eq!(summary["total"]["messages"], json!(total), "{summary}");
    let resumed = read_jsonl(&out);
    assert_eq!(by_uuid(&resumed).len(), resumed.len());
    assert_eq!(resumed.len() as u64, total);
    assert_eq!(
        std::fs::read(&out).expect("resumed export"),
        std::fs::read(&whole).expect("whole export"),
        "the resumed export is the uninterrupted export"
    );
}

/// Rule (regression: a file export of an archive holding an `X+oversized`
/// topic — hop-client's offload target, archived through uploads — was
/// refused because that is not a Kafka topic name): only a Kafka target
/// needs Kafka names. A file export carries the topic as archived; a
/// restore into Kafka still refuses it unless renamed.
#[test]
fn regression_file_export_of_an_oversized_topic_is_not_refused_as_a_bad_kafka_name() {
    let archive = Archive::build_blocking(Spec::standard());
    let lines = archive.export("all.jsonl", &[]);
    assert_eq!(lines.iter().filter(|l| l["topic"] == OVERSIZED).count(), 1);
    let only = archive.export("oversized.jsonl", &["-t", OVERSIZED]);
    assert_eq!(only.len(), 1);
    archive.restore(&["-t", OVERSIZED, "--dry-run"]).fails_naming(&[OVERSIZED, "not a valid Kafka topic name"]);
    let renamed = archive.restore(&["-t", OVERSIZED, "--dry-run", "--json", "--rename", &format!("{OVERSIZED}=big")]);
    assert_eq!(renamed.json()["topics"]["big"]["messages"], json!(1));
}

/// Rule: the stream the export tests archive exercises every traffic
/// feature mockhop knows (every era, odd header, duplicate kind and
/// timestamp edge), so their oracle covers all of them.
#[test]
fn the_standard_stream_exercises_every_traffic_feature() {
    let options = mockhop::StreamOptions {
        seed: super::fixture::SEED,
        count: super::fixture::COUNT,
        profile: "default".into(),
        topic_prefix: String::new(),
    };
    let seen: BTreeSet<&str> =
        mockhop::generate::generate(&options).expect("generates").iter().flat_map(|d| d.labels.clone()).collect();
    let missing: Vec<&&str> = mockhop::generate::labels::ALL.iter().filter(|l| !seen.contains(**l)).collect();
    assert!(missing.is_empty(), "labels the standard stream lacks: {missing:?}");
}

/// Rule (regression: without `--job` the export was flushed only when its
/// writer was dropped, which ignores errors, so lines lost at the end —
/// a full disk — still exited 0 as if every message were written): the
/// last lines are flushed before success is reported, and a failure to
/// write them is an error naming the file.
#[cfg(target_os = "linux")]
#[test]
fn regression_export_without_a_job_reports_a_failed_final_write() {
    let archive = Archive::build_blocking(Spec::standard());
    // A few small lines: all of them fit the writer's buffer.
    archive.restore(&["-t", ORDER, "--to=file:/dev/full"]).fails_naming(&["/dev/full"]);
    archive.restore(&["-t", ORDER, "--to=file:/dev/full", "--job=full"]).fails_naming(&["/dev/full"]);
}
