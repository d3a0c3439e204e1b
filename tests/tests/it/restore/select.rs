//! What `archiver restore` selects, checked against the index rows read by
//! plain SQL: the window's edges, UUID files, retraction, uploads, topic
//! globs; and every bad selection a quick, clear error (non-zero exit,
//! stderr naming the problem, no panic).

use super::fixture::{Archive, EDGES, Row, Spec, UPLOADS, uuid_file, uuid_of};
use archiver::topics::glob_match;
use serde_json::Value;
use std::collections::BTreeSet;
use uuid::Uuid;

fn uuids(lines: &[Value]) -> BTreeSet<Uuid> {
    let set: BTreeSet<Uuid> = lines.iter().map(uuid_of).collect();
    assert_eq!(set.len(), lines.len(), "a message exported twice");
    set
}

fn rows_where(rows: &[Row], keep: impl Fn(&Row) -> bool) -> BTreeSet<Uuid> {
    rows.iter().filter(|r| keep(r)).map(|r| r.uuid).collect()
}

/// An RFC 3339 rendering of `ms`, at another UTC offset than Z.
fn rfc3339(ms: i64) -> String {
    let offset = time::UtcOffset::from_hms(2, 30, 0).expect("offset");
    let at =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).expect("time").to_offset(offset);
    at.format(&time::format_description::well_known::Rfc3339).expect("format")
}

/// Rule: the window is `[start, end)` on the row's timestamp — a message
/// at exactly `start` is in, one at exactly `end` is out — and the same
/// instants given as RFC 3339 select the same lines in the same order.
#[test]
fn window_is_start_inclusive_end_exclusive_in_ms_and_rfc3339_alike() {
    let archive = Archive::build_blocking(Spec::standard());
    let rows = archive.rows_blocking();
    let mut stamps: Vec<i64> = rows.iter().map(|r| r.timestamp).collect::<BTreeSet<_>>().into_iter().collect();
    stamps.sort_unstable();
    let (start, end) = (stamps[stamps.len() / 3], stamps[2 * stamps.len() / 3]);
    let expected = rows_where(&rows, |r| r.timestamp >= start && r.timestamp < end);
    assert!(rows.iter().any(|r| r.timestamp == start) && rows.iter().any(|r| r.timestamp == end));
    let in_ms = archive.export("ms.jsonl", &["--start", &start.to_string(), "--end", &end.to_string()]);
    assert_eq!(uuids(&in_ms), expected);
    let in_rfc3339 = archive.export("rfc.jsonl", &["--start", &rfc3339(start), "--end", &rfc3339(end)]);
    assert_eq!(in_rfc3339, in_ms);
    // Only one edge given: the other side is open.
    let from = archive.export("from.jsonl", &["--start", &end.to_string()]);
    assert_eq!(uuids(&from), rows_where(&rows, |r| r.timestamp >= end));
}

/// Rule: a UUID file selects exactly its messages (comments and blank
/// lines ignored), uploads included.
#[test]
fn uuid_file_selects_exactly_its_messages() {
    let archive = Archive::build_blocking(Spec::standard());
    let rows = archive.rows_blocking();
    let picked: Vec<Uuid> = rows.iter().step_by(17).map(|r| r.uuid).chain(archive.uploads.keys().copied()).collect();
    let text: String =
        picked.iter().map(|u| format!("{u}  # picked\n\n")).chain(["# the end\n".to_owned()]).collect::<String>();
    let file = uuid_file(&archive, "picked.txt", &format!("# wanted\n{text}"));
    let lines = archive.export("picked.jsonl", &["--uuids", &file]);
    assert_eq!(uuids(&lines), picked.into_iter().collect());
}

/// Rule: a UUID file line that is not a UUID stops the restore naming the
/// line; a UUID the archive does not hold stops it naming the UUID, unless
/// `--on-missing skip`, which exports the others.
#[test]
fn uuid_file_bad_lines_and_unknown_uuids_are_errors() {
    let archive = Archive::build_blocking(Spec::standard());
    let rows = archive.rows_blocking();
    let out = format!("--to=file:{}", archive.path("out.jsonl").display());
    let known = rows[3].uuid;
    let bad = uuid_file(&archive, "bad.txt", &format!("{known}\n# fine\nnot-a-uuid\n"));
    archive.restore(&[&out, "--uuids", &bad]).fails_naming(&["line 3", "not-a-uuid"]);
    let unknown = Uuid::from_u128(0x0bad_0bad_0bad_4bad_8bad_0bad_0bad_0bad);
    let file = uuid_file(&archive, "unknown.txt", &format!("{known}\n{unknown}\n"));
    archive.restore(&[&out, "--uuids", &file]).fails_naming(&[&unknown.to_string(), "not in the archive"]);
    let lines = archive.export("skip.jsonl", &["--uuids", &file, "--on-missing", "skip"]);
    assert_eq!(uuids(&lines), BTreeSet::from([known]));
    let empty = uuid_file(&archive, "empty.txt", "# nothing\n");
    archive.restore(&[&out, "--uuids", &empty]).fails_naming(&["names no UUID"]);
}

/// Rule: from the store alone too, a UUID of the file that no object has
/// is an error unless `--on-missing skip` (then the others are restored).
#[test]
fn regression_from_store_uuid_file_reports_unknown_uuids() {
    let archive = Archive::build_blocking(Spec::standard());
    let rows = archive.rows_blocking();
    let out = format!("--to=file:{}", archive.path("out.jsonl").display());
    let known = rows[3].uuid;
    let unknown = Uuid::from_u128(0x0bad_0bad_0bad_4bad_8bad_0bad_0bad_0bad);
    let file = uuid_file(&archive, "unknown.txt", &format!("{known}\n{unknown}\n"));
    archive
        .restore(&[&out, "--from-store", "--uuids", &file])
        .fails_naming(&[&unknown.to_string(), "not in the archive"]);
    let lines = archive.export("skip.jsonl", &["--from-store", "--uuids", &file, "--on-missing", "skip"]);
    assert_eq!(uuids(&lines), BTreeSet::from([known]));
}

/// Rule: retracted messages are left out unless `--include-retracted`,
/// also when a UUID file names them.
#[test]
fn retracted_messages_are_left_out_unless_included() {
    let archive = Archive::build_blocking(Spec::standard());
    let rows = archive.rows_blocking();
    let retracted: Vec<Uuid> = rows.iter().skip(5).step_by(40).map(|r| r.uuid).collect();
    assert!(retracted.len() >= 3);
    archive.retract(&retracted);
    let all = rows_where(&rows, |_| true);
    let kept: BTreeSet<Uuid> = all.iter().copied().filter(|u| !retracted.contains(u)).collect();
    assert_eq!(uuids(&archive.export("default.jsonl", &[])), kept);
    assert_eq!(uuids(&archive.export("included.jsonl", &["--include-retracted"])), all);
    let file = uuid_file(&archive, "named.txt", &format!("{}\n{}\n", retracted[0], rows[0].uuid));
    let named = archive.export("named.jsonl", &["--uuids", &file]);
    assert_eq!(uuids(&named), BTreeSet::from([rows[0].uuid]));
}

/// Rule: direct uploads are restored unless `--exclude-uploads`, which
/// leaves out exactly them (also in a topic Kafka messages share).
#[test]
fn uploads_are_included_unless_excluded() {
    let archive = Archive::build_blocking(Spec::standard());
    let rows = archive.rows_blocking();
    let uploads = rows_where(&rows, |r| r.direct_upload);
    assert_eq!(uploads, archive.uploads.keys().copied().collect(), "the index marks exactly the uploads");
    assert_eq!(uuids(&archive.export("with.jsonl", &[])), rows_where(&rows, |_| true));
    let without = archive.export("without.jsonl", &["--exclude-uploads"]);
    assert_eq!(uuids(&without), rows_where(&rows, |r| !r.direct_upload));
    assert!(without.iter().all(|l| l["topic"] != UPLOADS));
    assert!(without.iter().any(|l| l["topic"] == EDGES), "the Kafka messages of a shared topic stay");
}

/// Rule: `-t` takes names and `*` globs, repeated or comma-separated, and
/// selects exactly the archived topics they match.
#[test]
fn topic_names_and_globs_select_exactly_their_topics() {
    let archive = Archive::build_blocking(Spec::standard());
    let rows = archive.rows_blocking();
    for patterns in [vec!["restore.*"], vec!["gcn.*", "lvk.alerts"], vec!["*.alert*,restore.order"]] {
        let mut args = Vec::new();
        for p in &patterns {
            args.extend(["-t", p]);
        }
        let split: Vec<&str> = patterns.iter().flat_map(|p| p.split(',')).collect();
        let expected = rows_where(&rows, |r| split.iter().any(|p| glob_match(p, &r.topic)));
        assert!(!expected.is_empty() && expected.len() < rows.len(), "{patterns:?} selects a part");
        assert_eq!(uuids(&archive.export("topics.jsonl", &args)), expected, "{patterns:?}");
    }
}

/// Rule: a selection that cannot mean what the operator wants is refused
/// before anything is written, quickly, naming the problem: an unknown
/// topic, a glob matching nothing, a window holding no message, an empty
/// or inverted window, an unreadable time, an unknown target.
#[test]
fn bad_selections_fail_fast_naming_the_problem() {
    let archive = Archive::build_blocking(Spec::standard());
    let out_path = archive.path("never.jsonl");
    let out = format!("--to=file:{}", out_path.display());
    let cases: &[(&[&str], &[&str])] = &[
        (&["-t", "gcn.notic"], &["unknown topic", "gcn.notic"]),
        (&["-t", "gcn.notice,nope.*"], &["nope.*", "matches no archived topic"]),
        (&["--start", "1990-01-01T00:00:00Z", "--end", "1990-01-02T00:00:00Z"], &["selection is empty"]),
        (&["-t", "restore.order", "--start", "0", "--end", "1000"], &["selection is empty"]),
        (&["--start", "1000", "--end", "1000"], &["empty window", "1000"]),
        (&["--start", "2026-01-02T00:00:00Z", "--end", "2026-01-01T00:00:00Z"], &["empty window"]),
        (&["--start", "yesterday"], &["invalid time", "yesterday"]),
        (&["--end", "2026-13-01T00:00:00Z"], &["invalid time"]),
        (&["--uuids", "/nonexistent/uuids.txt"], &["/nonexistent/uuids.txt"]),
    ];
    for (args, needles) in cases {
        let mut all = vec![out.as_str()];
        all.extend_from_slice(args);
        archive.restore(&all).fails_naming(needles);
        assert!(!out_path.exists(), "{args:?} created the output file");
    }
    archive.restore(&["--to", "ftp://x"]).fails_naming(&["ftp://x", "file:PATH"]);
}
