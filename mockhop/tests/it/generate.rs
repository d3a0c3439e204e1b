//! The traffic generator: reproducibility, coverage of every feature, and
//! the shape of each feature's messages.

use std::collections::{BTreeMap, HashSet};

use archiver::record::{Header, HeaderValue, Key, Message};
use mockhop::generate::{GenerateError, MAX_COUNT, PROFILES, generate, labels, profile};
use mockhop::{Delivery, StreamOptions};
use sha2::{Digest, Sha256};

const DAY_MS: i64 = 86_400_000;

fn options(seed: u64, count: usize, profile: &str) -> StreamOptions {
    StreamOptions { seed, count, profile: profile.into(), topic_prefix: String::new() }
}

fn stream(seed: u64, count: usize, profile: &str) -> Vec<Delivery> {
    generate(&options(seed, count, profile)).expect("a built-in profile and a small count")
}

fn has(delivery: &Delivery, label: &str) -> bool {
    delivery.labels.contains(&label)
}

fn is_duplicate(delivery: &Delivery) -> bool {
    delivery.labels.iter().any(|l| l.starts_with("dup:"))
}

/// The UUID the archive would take from the message: its first 16-byte `_id`.
fn client_id(message: &Message) -> Option<&[u8]> {
    message.headers.iter().filter(|h| h.key == "_id").filter_map(|h| h.value.as_bytes()).find(|v| v.len() == 16)
}

fn payload(delivery: &Delivery) -> &[u8] {
    delivery.message.payload.as_deref().unwrap_or_default()
}

fn json(delivery: &Delivery) -> serde_json::Value {
    serde_json::from_slice(payload(delivery)).expect("a JSON payload")
}

fn header_keys(message: &Message) -> Vec<&str> {
    message.headers.iter().map(|h| h.key.as_str()).collect()
}

/// SHA-256 over every field of every delivery, each length-prefixed.
fn digest(deliveries: &[Delivery]) -> String {
    fn bytes(hash: &mut Sha256, tag: u8, data: Option<&[u8]>) {
        hash.update([tag]);
        if let Some(data) = data {
            hash.update((data.len() as u64).to_le_bytes());
            hash.update(data);
        }
    }
    let mut hash = Sha256::new();
    for d in deliveries {
        hash.update(d.seq.to_le_bytes());
        hash.update(d.partition_hint.to_le_bytes());
        bytes(&mut hash, b't', Some(d.message.topic.as_bytes()));
        hash.update(d.message.timestamp.to_le_bytes());
        match &d.message.key {
            Key::Null => bytes(&mut hash, b'n', None),
            Key::Bytes(b) => bytes(&mut hash, b'b', Some(b)),
            Key::Text(t) => bytes(&mut hash, b's', Some(t.as_bytes())),
        }
        hash.update((d.message.headers.len() as u64).to_le_bytes());
        for Header { key, value } in &d.message.headers {
            bytes(&mut hash, b'k', Some(key.as_bytes()));
            let tag = match value {
                HeaderValue::Bytes(_) => b'b',
                HeaderValue::Null => b'n',
                HeaderValue::Text(_) => b's',
            };
            bytes(&mut hash, tag, value.as_bytes());
        }
        bytes(&mut hash, b'p', d.message.payload.as_deref());
        hash.update((d.labels.len() as u64).to_le_bytes());
        for label in &d.labels {
            bytes(&mut hash, b'l', Some(label.as_bytes()));
        }
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn same_options_give_the_same_stream_and_another_seed_another() {
    let first = stream(42, 300, "default");
    assert_eq!(first, stream(42, 300, "default"));
    assert_ne!(first, stream(43, 300, "default"));
    assert_eq!(first.iter().map(|d| d.seq).collect::<Vec<_>>(), (0..300).collect::<Vec<_>>());
}

#[test]
fn a_topic_prefix_changes_only_topic_names() {
    let plain = stream(7, 200, "default");
    let prefixed = generate(&StreamOptions { topic_prefix: "mockhop.t1.".into(), ..options(7, 200, "default") })
        .expect("a valid request");
    for (plain, mut prefixed) in plain.into_iter().zip(prefixed) {
        prefixed.message.topic = prefixed.message.topic.strip_prefix("mockhop.t1.").expect("prefixed").to_owned();
        assert_eq!(plain, prefixed);
    }
}

/// Changes whenever the generator's output does. If the change is
/// intended, update the digest (and tell whoever keeps scenario snapshots).
#[test]
fn the_stream_for_seed_42_is_pinned() {
    assert_eq!(digest(&stream(42, 300, "default")), "72e597c32d34ebb729afa1ab72ad8eb4addda1f2d03a8b25e067634b64efcdaf");
}

#[test]
fn default_exercises_every_feature_in_500_deliveries() {
    for seed in [1, 42, 2026] {
        let deliveries = stream(seed, 500, "default");
        let mut counts: BTreeMap<&str, usize> = labels::ALL.iter().map(|l| (*l, 0)).collect();
        for label in deliveries.iter().flat_map(|d| &d.labels) {
            *counts.get_mut(label).expect("every label is in labels::ALL") += 1;
        }
        let missing: Vec<_> = counts.iter().filter(|(_, n)| **n == 0).map(|(l, _)| *l).collect();
        assert!(missing.is_empty(), "seed {seed}: no delivery exercises {missing:?}");
    }
}

#[test]
fn every_profile_labels_each_delivery_once_per_axis() {
    for profile in PROFILES {
        for d in stream(5, 300, profile.name) {
            let count = |prefix: &str| d.labels.iter().filter(|l| l.starts_with(prefix)).count();
            assert_eq!(count("era:"), 1, "{}: {:?}", profile.name, d.labels);
            assert_eq!(count("id:"), 1, "{}: {:?}", profile.name, d.labels);
            assert_eq!(count("payload:") - usize::from(has(&d, labels::PAYLOAD_ENVELOPE)), 1, "{:?}", d.labels);
            assert!(count("dup:") <= 1 && count("ts:") <= 1, "{:?}", d.labels);
            let identified = client_id(&d.message).is_some();
            assert_eq!(has(&d, labels::ID_CLIENT), identified, "{:?}", d.message.headers);
            assert_content_matches_labels(profile.name, &d);
        }
    }
}

/// What each content label promises about the message.
fn assert_content_matches_labels(profile: &str, d: &Delivery) {
    let at = format!("{profile} #{}: {:?}", d.seq, d.labels);
    let value = d.message.payload.as_deref();
    let text = value.map(String::from_utf8_lossy).unwrap_or_default();
    let envelope = has(d, labels::PAYLOAD_ENVELOPE);
    assert_eq!(has(d, labels::PAYLOAD_NULL), value.is_none(), "null payload iff payload:null: {at}");
    assert_eq!(has(d, labels::PAYLOAD_EMPTY), value == Some(&[][..]), "empty payload iff payload:empty: {at}");
    if has(d, labels::PAYLOAD_VOEVENT) {
        // XML from 0.8+ and non-hop producers; hop's JSON rendering before.
        if has(d, labels::ERA_08) || has(d, labels::ERA_NON_HOP) {
            assert!(text.starts_with("<?xml"), "VOEvent XML: {at}");
        } else {
            assert!(text.starts_with('{') && text.contains("\"ivorn\""), "VOEvent as JSON: {at}: {text:.80}");
        }
    }
    if has(d, labels::PAYLOAD_GCN_NOTICE) {
        assert!(text.starts_with("TITLE:"), "GCN notice: {at}");
    }
    if has(d, labels::PAYLOAD_CIRCULAR) {
        match envelope {
            false => assert!(text.starts_with("TITLE:") && text.contains("\nSUBJECT: "), "circular: {at}"),
            true => assert!(text.contains("\"subject\""), "circular in an envelope: {at}"),
        }
    }
    if envelope {
        let json: serde_json::Value = serde_json::from_str(&text).expect("an envelope is JSON");
        assert!(json["format"].is_string() && !json["content"].is_null(), "envelope: {at}");
    }
    if has(d, labels::PAYLOAD_JSON) || has(d, labels::PAYLOAD_EXTERNAL) || has(d, labels::PAYLOAD_HEARTBEAT) {
        serde_json::from_str::<serde_json::Value>(&text).unwrap_or_else(|e| panic!("JSON payload: {e}: {at}"));
    }
    assert_eq!(has(d, labels::KEY_BYTES), d.message.key != Key::Null, "key iff key:bytes: {at}");
    if has(d, labels::USER_HEADERS) {
        let user = |h: &Header| ["title", "file_name", "originator"].contains(&h.key.as_str());
        assert!(d.message.headers.iter().any(user), "user headers: {at}: {:?}", header_keys(&d.message));
    }
    if has(d, labels::HOP_TEST) {
        assert!(d.message.headers.iter().any(|h| h.key == "_test"), "_test header: {at}");
    }
}

#[test]
fn redeliveries_replays_and_id_less_resends_are_exact_copies() {
    let deliveries = stream(42, 500, "duplicates");
    let mut seen = HashSet::new();
    let mut checked = 0;
    for d in &deliveries {
        let exact = [labels::DUP_REDELIVERY, labels::DUP_REPLAY, labels::DUP_ID_LESS_TWICE];
        if exact.iter().any(|l| has(d, l)) {
            assert!(seen.contains(&(&d.message, d.partition_hint)), "seq {} copies nothing earlier", d.seq);
            checked += 1;
        }
        if has(d, labels::DUP_ID_LESS_TWICE) {
            assert_eq!(client_id(&d.message), None);
        }
        seen.insert((&d.message, d.partition_hint));
    }
    assert!(checked > 50, "only {checked} exact duplicates");
}

#[test]
fn a_conflict_reuses_an_earlier_id_on_other_content() {
    let deliveries = stream(42, 500, "duplicates");
    let mut first_by_id: BTreeMap<&[u8], &Delivery> = BTreeMap::new();
    let mut conflicts = 0;
    for d in &deliveries {
        let id = client_id(&d.message);
        if has(d, labels::DUP_CONFLICT) {
            let first = first_by_id.get(id.expect("a conflict has a client id")).expect("an earlier holder of the id");
            assert_ne!(first.message.payload, d.message.payload);
            conflicts += 1;
        }
        if let Some(id) = id {
            first_by_id.entry(id).or_insert(d);
        }
    }
    assert!(conflicts > 10, "only {conflicts} conflicts");
}

#[test]
fn same_content_under_a_new_id_is_a_new_message() {
    let deliveries = stream(42, 500, "duplicates");
    let mut resends = 0;
    for (i, d) in deliveries.iter().enumerate().filter(|(_, d)| has(d, labels::DUP_SAME_CONTENT_NEW_ID)) {
        let earlier = &deliveries[..i];
        let id = client_id(&d.message).expect("a new client id");
        assert!(earlier.iter().all(|e| client_id(&e.message) != Some(id)), "seq {}: the id is not new", d.seq);
        let original = earlier.iter().find(|e| {
            e.message.payload == d.message.payload
                && e.message.topic == d.message.topic
                && client_id(&e.message).is_some()
        });
        assert!(original.is_some(), "seq {}: no earlier message with the same content", d.seq);
        resends += 1;
    }
    assert!(resends > 10, "only {resends} resends");
}

#[test]
fn hop_client_headers_follow_producer_pack() {
    for d in stream(3, 500, "default").iter().filter(|d| !is_duplicate(d) && !has(d, labels::HEARTBEAT)) {
        let keys = header_keys(&d.message);
        let test: &[&str] = if has(d, labels::HOP_TEST) { &["_test"] } else { &[] };
        let tail = |hop: &[&'static str]| [hop, test, &["_format"]].concat();
        if has(d, labels::ERA_08) || has(d, labels::ERA_EXTERNAL) {
            assert!(keys.ends_with(&tail(&["_id", "_sender"])), "{keys:?}");
        } else if has(d, labels::ERA_06) {
            assert!(keys.ends_with(&tail(&[])), "{keys:?}");
        } else if has(d, labels::ERA_PRE_06) {
            assert!(keys.is_empty());
            let envelope = json(d);
            assert_eq!(
                envelope.as_object().map(|o| o.keys().map(String::as_str).collect::<Vec<_>>()),
                Some(vec!["format", "content"])
            );
        } else if !d.labels.iter().any(|l| l.starts_with("header:")) {
            assert!(keys.is_empty(), "non-hop producers send no headers: {keys:?}");
        }
        if has(d, labels::ERA_EXTERNAL) {
            assert_eq!(keys.len(), 3 + test.len(), "a placeholder carries only hop's headers");
            assert_eq!(d.message.headers.last(), Some(&Header::new("_format", Some(b"external"))));
            let url = json(d)["url"].as_str().map(str::to_owned).expect("a url");
            let uuid = url.strip_prefix("https://archive.scimma.org/msg/").expect("an archive URL");
            assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{url}");
        }
    }
}

#[test]
fn odd_headers_are_what_their_labels_say() {
    type Check = fn(&[Header]) -> bool;
    fn id_of_len(headers: &[Header], len: usize) -> bool {
        headers.iter().any(|h| h.key == "_id" && h.value.as_bytes().is_some_and(|v| v.len() == len))
    }
    let checks: &[(&str, Check)] = &[
        (labels::HEADER_DUPLICATE_KEY, |h| h.iter().enumerate().any(|(i, a)| h[..i].iter().any(|b| a.key == b.key))),
        (labels::HEADER_NULL_VALUE, |h| h.iter().any(|h| h.value == HeaderValue::Null)),
        (labels::HEADER_EMPTY_VALUE, |h| h.iter().any(|h| h.value.as_bytes() == Some(b""))),
        (labels::HEADER_NON_UTF8, |h| h.iter().any(|h| h.value.as_bytes().is_some_and(|v| str::from_utf8(v).is_err()))),
        (labels::HEADER_UNICODE_KEY, |h| h.iter().any(|h| !h.key.is_ascii())),
        (labels::HEADER_ID_EMPTY, |h| id_of_len(h, 0)),
        (labels::HEADER_ID_SHORT, |h| id_of_len(h, 15)),
        (labels::HEADER_ID_LONG, |h| id_of_len(h, 17)),
        (labels::HEADER_ID_TEXT, |h| {
            h.iter()
                .filter(|h| h.key == "_id")
                .filter_map(|h| h.value.as_bytes())
                .any(|v| uuid::Uuid::try_parse_ascii(v).is_ok() && v.len() == 36)
        }),
        (labels::HEADER_MULTIPLE_IDS, |h| h.iter().filter(|h| h.key == "_id").count() >= 2),
        (labels::HEADER_MANY, |h| h.len() > 100),
        (labels::HEADER_LARGE_VALUE, |h| h.iter().any(|h| h.value.as_bytes().is_some_and(|v| v.len() >= 65_536))),
    ];
    let deliveries = stream(11, 600, "odd-headers");
    for (label, check) in checks {
        let labelled: Vec<_> = deliveries.iter().filter(|d| has(d, label)).collect();
        assert!(!labelled.is_empty(), "no {label}");
        for d in labelled {
            assert!(check(&d.message.headers), "seq {} is labelled {label}: {:?}", d.seq, header_keys(&d.message));
        }
    }
}

#[test]
fn timestamps_advance_from_2026_and_edges_are_edges() {
    let deliveries = stream(8, 2000, "default");
    let mut last = 1_767_225_600_000 - 1;
    for d in &deliveries {
        let ts = d.message.timestamp;
        let in_day = |start: i64, days: i64| (start..start + days * DAY_MS).contains(&ts);
        let edge = d.labels.iter().find(|l| l.starts_with("ts:"));
        match edge.copied() {
            Some(labels::TS_ZERO) => assert_eq!(ts, 0),
            Some(labels::TS_MISSING) => assert_eq!(ts, -1),
            Some(labels::TS_MIDNIGHT) => assert!([0, DAY_MS - 1].contains(&ts.rem_euclid(DAY_MS)), "{ts}"),
            Some(labels::TS_LEAP_DAY) => assert!(in_day(1_709_164_800_000, 1), "{ts}"),
            Some(labels::TS_FAR_FUTURE) => assert!(in_day(4_102_444_800_000, 365), "{ts}"),
            Some(labels::TS_YEAR_BOUNDARY) => {
                assert!([0, DAY_MS - 1].contains(&ts.rem_euclid(DAY_MS)), "{ts}");
                let boundaries = [1_767_225_600_000, 1_798_761_600_000];
                assert!(boundaries.iter().any(|b| (b - 1..=*b).contains(&ts)), "{ts}");
            }
            Some(other) => panic!("unknown timestamp edge {other}"),
            None if !is_duplicate(d) => {
                assert!(ts > last, "seq {}: {ts} after {last}", d.seq);
                last = ts;
            }
            None => {}
        }
    }
}

#[test]
fn realistic_payloads_are_1_to_10_kb_from_current_clients() {
    let deliveries = stream(42, 500, "realistic");
    for d in &deliveries {
        let size = d.message.payload.as_ref().map(Vec::len);
        assert!(size.is_some_and(|n| (1_000..=10_240).contains(&n)), "seq {}: {size:?} bytes", d.seq);
        assert!(!d.labels.iter().any(|l| l.starts_with("header:") && *l != labels::USER_HEADERS), "{:?}", d.labels);
    }
    let current = deliveries.iter().filter(|d| has(d, labels::ERA_08)).count();
    assert!(current > 450, "only {current} of 500 from hop-client 0.8+");
    let duplicates = deliveries.iter().filter(|d| is_duplicate(d)).count();
    assert!(duplicates < 25, "{duplicates} duplicates is not rare");
}

#[test]
fn near_limit_messages_fit_under_the_hopskotch_limit() {
    let deliveries = stream(42, 500, "default");
    let near: Vec<_> = deliveries.iter().filter(|d| has(d, labels::PAYLOAD_NEAR_LIMIT)).collect();
    assert!(!near.is_empty());
    for d in near {
        assert!((1_000_000..=1_048_000).contains(&payload(d).len()), "{}", payload(d).len());
        let headers: usize =
            d.message.headers.iter().map(|h| h.key.len() + h.value.as_bytes().map_or(0, <[u8]>::len)).sum();
        assert!(payload(d).len() + headers < 1_048_576 - 512, "seq {}: too close to the limit", d.seq);
        assert!(json(d)["skymap"].is_string());
    }
}

#[test]
fn heartbeats_count_up_on_sys_heartbeat() {
    let beats: Vec<_> =
        stream(42, 1000, "default").into_iter().filter(|d| has(d, labels::HEARTBEAT) && !is_duplicate(d)).collect();
    assert!(beats.len() > 5);
    for (n, d) in beats.iter().enumerate() {
        assert_eq!(d.message.topic, "sys.heartbeat");
        let beat = json(d);
        let keys: Vec<_> = beat.as_object().expect("an object").keys().map(String::as_str).collect();
        assert_eq!(keys, ["timestamp", "count", "beat"]);
        assert_eq!(beat["count"], n + 1);
        assert_eq!(beat["beat"], "listen");
    }
}

#[test]
fn avro_payloads_are_object_container_files() {
    let deliveries = stream(42, 500, "default");
    let avro: Vec<_> = deliveries.iter().filter(|d| has(d, labels::PAYLOAD_AVRO)).map(payload).collect();
    assert!(!avro.is_empty());
    for file in avro {
        assert!(file.starts_with(b"Obj\x01"));
        let contains = |needle: &[u8]| file.windows(needle.len()).any(|w| w == needle);
        assert!(contains(b"\x16avro.schema") && contains(b"\x14avro.codec\x08null"));
        let sync = &file[file.len() - 16..];
        assert_eq!(file.windows(16).filter(|w| *w == sync).count(), 2, "the sync marker ends the header and the block");
    }
}

#[test]
fn bad_requests_are_refused() {
    let error = generate(&options(1, 10, "nonesuch")).expect_err("an unknown profile");
    assert!(matches!(error, GenerateError::UnknownProfile { .. }));
    let message = error.to_string();
    for profile in PROFILES {
        assert!(message.contains(profile.name), "{message}");
    }
    for name in ["default", "realistic", "old-clients", "odd-headers", "duplicates"] {
        assert!(profile(name).is_some(), "{name}");
    }
    let too_many = generate(&options(1, MAX_COUNT + 1, "default"));
    assert_eq!(too_many, Err(GenerateError::TooMany { count: MAX_COUNT + 1, max: MAX_COUNT }));
    assert_eq!(generate(&options(1, 0, "default")), Ok(Vec::new()));
}
