//! Full-text search: what is extracted from each payload kind, the query
//! syntax, the embedded index's answers, and that a row and its text entry
//! are written together. `real` holds the tests against PostgreSQL (its
//! answers are the oracle for SQLite's).

mod real;

use archiver::identity::{Identity, Placement};
use archiver::index::{self, Index, IndexRow, ListQuery, PAGE_ROWS_MAX, TimestampType};
use archiver::pipeline::{Provenance, prepare};
use archiver::record::{Header, Key, Message};
use archiver::text::query::SearchQuery;
use archiver::text::{TextLimits, extract, lexemes::lexemes};
use mockhop::generate::labels;
use mockhop::{Delivery, StreamOptions};
use proptest::prelude::*;
use std::collections::{BTreeSet, HashSet};
use uuid::Uuid;

/// A seeded mockhop stream of every payload kind.
fn stream(seed: u64, count: usize) -> Vec<Delivery> {
    let options = StreamOptions { seed, count, profile: "realistic".into(), topic_prefix: String::new() };
    mockhop::generate::generate(&options).expect("stream")
}

/// The rows ingest writes for `deliveries` with every topic's text indexed
/// (each UUID once: the first message claiming it).
pub fn rows_of(deliveries: &[Delivery]) -> Vec<IndexRow> {
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    for (n, d) in deliveries.iter().enumerate() {
        let id = Identity::of(&d.message);
        let placement = match id.client_uuid {
            Some(uuid) => Placement { uuid, is_client_uuid: true, claimed_uuid: None },
            None => Placement { uuid: id.derived_uuid, is_client_uuid: false, claimed_uuid: None },
        };
        if !seen.insert(placement.uuid) {
            continue;
        }
        let provenance = Provenance {
            partition: Some(0),
            offset: Some(n as i64),
            timestamp_type: TimestampType::Create,
            ingested_at_ms: 1_700_000_000_000,
            public: true,
            direct_upload: false,
            text: Some(TextLimits::default()),
        };
        rows.push(prepare(&d.message, id.fingerprint, &placement, &provenance, "b").expect("prepares").row);
    }
    rows
}

/// Every UUID `index` matches for `search` (all topics, paged to the end).
pub async fn matches(index: &dyn Index, search: &str) -> BTreeSet<Uuid> {
    let search = SearchQuery::parse(search).unwrap_or_else(|e| panic!("{search:?}: {e}"));
    let mut query = ListQuery { search: Some(search), ..ListQuery::every_row(Vec::new(), PAGE_ROWS_MAX) };
    let mut found = BTreeSet::new();
    loop {
        let page = index.list(&query).await.expect("search");
        found.extend(page.entries.iter().map(|e| e.row.uuid));
        match page.next {
            Some(next) => query.after = Some(next),
            None => return found,
        }
    }
}

/// The payload kinds mockhop labels its deliveries with.
const KINDS: [&str; 9] = [
    labels::PAYLOAD_JSON,
    labels::PAYLOAD_VOEVENT,
    labels::PAYLOAD_GCN_NOTICE,
    labels::PAYLOAD_CIRCULAR,
    labels::PAYLOAD_AVRO,
    labels::PAYLOAD_BLOB,
    labels::PAYLOAD_EMPTY,
    labels::PAYLOAD_NULL,
    labels::PAYLOAD_NEAR_LIMIT,
];

/// The media type a payload kind is labelled with by hop-client's `_format`.
fn own_media_type(kind: &str) -> &'static str {
    match kind {
        labels::PAYLOAD_JSON | labels::PAYLOAD_NEAR_LIMIT => "application/json",
        labels::PAYLOAD_VOEVENT => "application/x.voevent",
        labels::PAYLOAD_GCN_NOTICE => "application/x.gcn.notice",
        labels::PAYLOAD_CIRCULAR => "application/x.gcn.circular",
        labels::PAYLOAD_AVRO => "application/avro",
        labels::PAYLOAD_EMPTY | labels::PAYLOAD_NULL => "application/x-empty",
        _ => "application/octet-stream",
    }
}

/// What the text of one payload kind must and must not hold (and whether
/// the payload is read), given its payload as text. A message whose media
/// type is not its kind's (no `_format`, or a misleading one) is read by
/// its media type's extractor: only that is checked then.
fn check_kind(kind: &str, media_type: &str, payload: &str, text: &str, full: bool) -> Result<(), String> {
    let has = |s: &str| text.contains(s);
    let expect = |ok: bool, what: &str| if ok { Ok(()) } else { Err(format!("{kind}: {what}: {text:?}")) };
    let as_is = ["text/plain", "application/x.gcn.notice", "application/x.gcn.circular"].contains(&media_type);
    if media_type != own_media_type(kind) || kind == labels::PAYLOAD_GCN_NOTICE || kind == labels::PAYLOAD_CIRCULAR {
        return match media_type {
            _ if as_is && !payload.contains('\u{fffd}') => {
                let start: String = payload.chars().take(20).map(|c| if c.is_control() { ' ' } else { c }).collect();
                expect(full && has(start.trim()), "text as is")
            }
            "application/octet-stream" | "application/x-empty" => expect(!full, "bytes are not read"),
            _ => Ok(()),
        };
    }
    let envelope = payload.starts_with("{\"format\"");
    match kind {
        labels::PAYLOAD_JSON if !envelope => {
            expect(full, "JSON is read")?;
            expect(!has("superevent_id") && !has("alert_type"), "keys are left out")?;
            let id = payload.split("\"superevent_id\": \"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("?");
            expect(has(id), "string values are in")
        }
        labels::PAYLOAD_VOEVENT if payload.starts_with("<?xml") => {
            expect(full, "XML is read")?;
            expect(has("Scott Barthelmy") && has("VO-GCN"), "element text is in")?;
            let trig =
                payload.split("name=\"TrigID\" value=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("?");
            expect(has(trig), "Param values are in")?;
            expect(!has("TrigID") && !has("meta.id"), "attribute names and other attributes are left out")
        }
        labels::PAYLOAD_VOEVENT | labels::PAYLOAD_JSON => {
            expect(full && !has("{"), "hop-client's JSON renderings are read as JSON")
        }
        labels::PAYLOAD_AVRO => expect(full && text.split(' ').any(|w| Uuid::parse_str(w).is_ok()), "alert ids"),
        labels::PAYLOAD_NEAR_LIMIT => {
            expect(full, "under the 4 MiB limit")?;
            expect(text.split(' ').all(|w| w.len() < 128), "the base64 sky map is left out")
        }
        _ => expect(!full, "bytes are not read"),
    }
}

#[test]
fn every_mockhop_payload_kind_gives_its_text() {
    let mut checked: BTreeSet<&str> = BTreeSet::new();
    let streams = mockhop::generate::PROFILES.iter().map(|p| {
        let options = StreamOptions { seed: 5, count: 1500, profile: p.name.into(), topic_prefix: String::new() };
        mockhop::generate::generate(&options).expect("stream")
    });
    for d in streams.flatten() {
        let Some(kind) = KINDS.iter().find(|k| d.labels.contains(k)) else { continue };
        let media_type = archiver::identity::media_type(&d.message);
        let got = extract(&d.message, &media_type, &TextLimits::default());
        let payload = String::from_utf8_lossy(d.message.payload.as_deref().unwrap_or_default()).into_owned();
        if let Err(problem) = check_kind(kind, &media_type, &payload, &got.text, got.fully_indexed) {
            panic!("message {} ({media_type}): {problem}", d.seq);
        }
        assert!(got.text.chars().count() <= TextLimits::default().text_chars_max);
        if media_type == own_media_type(kind) {
            checked.insert(kind);
        }
    }
    assert_eq!(checked.len(), KINDS.len(), "every kind under its own media type: {checked:?}");
}

#[test]
fn a_payload_at_the_size_limit_is_indexed_by_its_headers_only() {
    let message = Message {
        topic: "t".into(),
        timestamp: 1,
        key: Key::Null,
        headers: vec![Header::new("title", Some(b"GRB 240101A")), Header::new("_format", Some(b"json"))],
        payload: Some(br#"{"event": "neutrino"}"#.to_vec()),
    };
    let limits = |bytes| TextLimits { message_size_bytes_max: bytes, ..TextLimits::default() };
    let under = extract(&message, "application/json", &limits(22));
    assert_eq!((under.text.as_str(), under.fully_indexed), ("title GRB 240101A neutrino", true));
    let at = extract(&message, "application/json", &limits(21));
    assert_eq!((at.text.as_str(), at.fully_indexed), ("title GRB 240101A", false), "partial, as upstream");
}

const MEDIA_TYPES: [&str; 8] = [
    "application/json",
    "application/x.voevent",
    "application/avro",
    "text/plain",
    "application/x.gcn.notice",
    "application/x.gcn.circular",
    "application/octet-stream",
    "text/xml",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Any bytes, under any media type: no panic, and the text bound holds.
    #[test]
    fn extraction_never_panics_and_keeps_to_its_bound(
        payload in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..600),
            "[<>{}\"\\[\\]:,a-z &;#x0-9/=-]{0,300}".prop_map(String::into_bytes),
            Just(b"Obj\x01".to_vec()).prop_flat_map(|magic| proptest::collection::vec(any::<u8>(), 0..200)
                .prop_map(move |rest| [magic.clone(), rest].concat())),
        ],
        media in 0..MEDIA_TYPES.len(),
        chars_max in 0usize..64,
    ) {
        let message = Message { topic: "t".into(), timestamp: 1, key: Key::Null, headers: Vec::new(), payload: Some(payload) };
        let limits = TextLimits { message_size_bytes_max: 1 << 20, text_chars_max: chars_max };
        let got = extract(&message, MEDIA_TYPES[media], &limits);
        prop_assert!(got.text.chars().count() <= chars_max);
        prop_assert!(!got.text.chars().any(|c| (c as u32) < 32 || c == '\u{7f}'), "control characters: {:?}", got.text);
    }

    /// Any query: checked without a panic; what reaches FTS5 is only
    /// quoted lexemes (letters and digits) and its own operators.
    #[test]
    fn queries_reach_fts5_only_as_quoted_lexemes(raw in "[-\"a-zA-Zé0-9 ()|&!<:*';=\\\\]{0,80}|\\PC{0,40}") {
        if let Ok(query) = SearchQuery::parse(&raw) {
            let fts = query.fts5();
            let mut rest = fts.as_str();
            while let Some(open) = rest.find('"') {
                let outside = &rest[..open];
                prop_assert!(outside.split(|c: char| "() ".contains(c)).all(|w| ["", "AND", "OR", "NOT"].contains(&w)), "{fts}");
                let inner = &rest[open + 1..];
                let close = inner.find('"').expect("closed");
                let token = |c: char| c.is_alphanumeric() || c == ' ' || c.to_string() == archiver::text::lexemes::STOP;
                prop_assert!(inner[..close].chars().all(token), "{fts}");
                rest = &inner[close + 1..];
            }
            prop_assert!(rest.split(|c: char| "() ".contains(c)).all(|w| ["", "AND", "OR", "NOT"].contains(&w)), "{fts}");
        }
    }
}

/// The documented syntax (words, stems, phrases, `or`, `-`, stop words,
/// numbers, diacritics) on the embedded index and the memory index, against
/// answers written by hand.
#[tokio::test]
async fn sqlite_and_memory_answer_the_documented_syntax_alike() {
    let texts = [
        ("a", "GRB 240101A: Swift-BAT detection of a long burst"),
        ("b", "Fermi-GBM observation of the burst, no optical counterpart"),
        ("c", "ZTF upper limits for the neutrino candidate"),
        ("d", "IceCube neutrino search, no counterpart found by Zoë Müller"),
    ];
    let mut rows = Vec::new();
    for (n, (name, text)) in texts.iter().enumerate() {
        let mut row = hop_archiver_tests::rows::row(Uuid::from_u128(n as u128 + 1), name, &format!("{name}/k"), 10);
        row.text_fully_indexed = Some(true);
        row.text = Some((*text).to_owned());
        rows.push(row);
    }
    let sqlite = index::open("sqlite::memory:").await.expect("sqlite");
    let memory = index::MemoryIndex::new();
    sqlite.insert_batch(&rows).await.expect("insert");
    memory.insert_batch(&rows).await.expect("insert");
    let by_name = |names: &[&str]| -> BTreeSet<Uuid> {
        names.iter().map(|n| rows.iter().find(|r| r.topic == *n).expect("row").uuid).collect()
    };
    let cases: [(&str, &[&str]); 10] = [
        ("burst", &["a", "b"]),
        ("bursts", &["a", "b"]),
        ("neutrino counterpart", &["d"]),
        ("\"upper limits\"", &["c"]),
        ("\"limits upper\"", &[]),
        ("swift or ztf", &["a", "c"]),
        ("counterpart -icecube", &["b"]),
        ("müller", &["d"]),
        ("the of", &[]),
        ("240101a", &["a"]),
    ];
    for (query, expected) in cases {
        let expected = by_name(expected);
        assert_eq!(matches(&*sqlite, query).await, expected, "sqlite: {query}");
        assert_eq!(matches(&memory, query).await, expected, "memory: {query}");
    }
    // Rows of a topic without text indexing have no entry: never matched.
    let plain = hop_archiver_tests::rows::row(Uuid::from_u128(99), "plain", "plain/k", 1);
    sqlite.insert_batch(&[plain]).await.expect("insert");
    assert!(!matches(&*sqlite, "burst").await.contains(&Uuid::from_u128(99)));
    assert_eq!(lexemes("bursts"), ["burst"]);
}

/// A text entry that cannot be written takes its row (and the topic's
/// statistics) with it: the fault is injected inside the insert's
/// transaction by removing the FTS5 table under it.
#[tokio::test]
async fn regression_a_failed_text_write_leaves_no_row_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("index.db").display());
    let index = index::open(&url).await.expect("index");
    let mut row = hop_archiver_tests::rows::row(Uuid::from_u128(7), "t", "t/k", 10);
    row.text_fully_indexed = Some(true);
    row.text = Some("burst".into());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.expect("connect");
    sqlx::query("ALTER TABLE message_text RENAME TO message_text_away").execute(&mut conn).await.expect("fault in");
    assert!(index.insert_batch(std::slice::from_ref(&row)).await.is_err(), "the text write fails");
    assert_eq!(index.get(row.uuid).await.expect("get"), None, "no row without its text entry");
    assert!(index.topic_stats().await.expect("stats").is_empty(), "nothing counted");
    sqlx::query("ALTER TABLE message_text_away RENAME TO message_text").execute(&mut conn).await.expect("fault out");
    assert_eq!(index.insert_batch(std::slice::from_ref(&row)).await.expect("insert"), [true]);
    assert_eq!(matches(&*index, "burst").await, BTreeSet::from([row.uuid]), "row and entry together");
}

/// `reindex-text` gives rows written without text their entries, resumes
/// by what is still missing, and redoes partial ones only when asked.
#[tokio::test(flavor = "multi_thread")]
async fn reindex_text_fills_in_rows_written_without_text() {
    use archiver::ops::reindex_text::{ReindexTextArgs, reindex_text};
    use clap::Parser as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let index_url = format!("sqlite://{}", dir.path().join("index.db").display());
    let store_url = format!("file://{}", dir.path().join("objects").display());
    let index = index::open(&index_url).await.expect("index");
    let store = archiver::store::open(&store_url).await.expect("store");
    // Archived before text indexing: rows without entries.
    let deliveries = stream(3, 200);
    let mut written = Vec::new();
    let mut expected = Vec::new();
    for (n, d) in deliveries.iter().enumerate().filter(|(_, d)| d.message.topic.starts_with("gcn.")) {
        let id = Identity::of(&d.message);
        let placement = Placement { uuid: id.derived_uuid, is_client_uuid: false, claimed_uuid: None };
        let provenance = Provenance {
            partition: Some(0),
            offset: Some(n as i64),
            timestamp_type: TimestampType::Create,
            ingested_at_ms: 1,
            public: true,
            direct_upload: false,
            text: None,
        };
        let p = prepare(&d.message, id.fingerprint, &placement, &provenance, store.bucket()).expect("prepares");
        if store.put_if_absent(&p.key, p.object.clone().into()).await.expect("put")
            == archiver::store::PutOutcome::Created
        {
            let media_type = archiver::identity::media_type(&d.message);
            expected.push((p.row.uuid, extract(&d.message, &media_type, &TextLimits::default())));
            written.push(p.row);
        }
    }
    assert!(written.len() > 20, "the stream has gcn.* messages: {}", written.len());
    index.insert_batch(&written).await.expect("insert");
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        tool: archiver::config::ToolArgs,
        #[command(flatten)]
        text: ReindexTextArgs,
    }
    let cli = |extra: &[&str]| {
        let base = ["x", "--index", &index_url, "--store", &store_url, "--text-topics", "gcn.*", "--batch-rows", "7"];
        Cli::parse_from(base.iter().chain(extra))
    };
    let run = |extra: &'static [&'static str]| async move {
        let cli = cli(extra);
        let config = archiver::config::load_tool_from(&cli.tool, false, &Default::default()).expect("config");
        reindex_text(&config, &cli.text, std::future::pending()).await.expect("reindex-text")
    };
    let first = run(&[]).await;
    assert_eq!(first.counts.indexed, written.len() as u64, "{first:?}");
    assert_eq!(first.counts.missing_objects + first.counts.unreadable_objects, 0);
    let after = index.rows_without_text(&first.topics, 0, false, 1000).await.expect("rows");
    assert!(after.is_empty(), "every row has its entry");
    // What ingest with text indexing would have written.
    for (uuid, extracted) in &expected {
        let entry = index.get(*uuid).await.expect("get").expect("row");
        assert_eq!(entry.row.text_fully_indexed, Some(extracted.fully_indexed), "{uuid}");
        let word = extracted
            .text
            .split(' ')
            .find(|w| w.len() > 6 && w.chars().all(char::is_alphabetic) && !lexemes(w).is_empty());
        if let Some(word) = word {
            assert!(matches(&*index, word).await.contains(uuid), "{uuid}: {word:?} finds it");
        }
    }
    assert_eq!(run(&[]).await.counts.indexed, 0, "nothing left to do: the selection is what is missing");
    let partial = run(&["--partial"]).await;
    assert_eq!(partial.counts.indexed, partial.counts.partial, "--partial redoes the partial entries only");
}
