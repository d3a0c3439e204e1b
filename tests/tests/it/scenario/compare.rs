//! Comparing an archive made on another backend with memory's, ignoring
//! only row columns named here (see `scenarios/README.md`, "Backends").

use serde_json::Value as Json;
use std::collections::BTreeSet;

/// Row columns every other backend may fill differently from memory:
/// `bucket` is the store's name (`memory`, the fs store's directory, the
/// S3 bucket), not archive content; `id` is the database's serial, and
/// SQLite's `AUTOINCREMENT` (like PostgreSQL's sequence) also draws a
/// number for a row that `ON CONFLICT DO NOTHING` then refuses, which
/// `MemoryIndex` does not. Rows are compared in object-key order, so the
/// ids' order is not needed to line them up.
pub const DATABASE_SERIAL_AND_STORE_NAME: &[&str] = &["id", "bucket"];

/// Ignored in real mode: the above, and besides, real consumers interleave
/// partitions in another order, which moves the ids further.
/// `partition` and `kafka_offset` say which delivery wrote a row; when a
/// message is delivered twice (a redelivery or a replay) another delivery
/// may win on a real broker, and numbered faults hit other messages. Real
/// mode checks instead that they name *a* delivery of the row's message.
pub const DELIVERY_PROVENANCE: &[&str] = &["id", "bucket", "partition", "kafka_offset"];

/// `rows` without the `ignored` columns.
pub fn without(rows: &[Json], ignored: &[&str]) -> Vec<Json> {
    rows.iter()
        .map(|row| {
            let mut row = row.clone();
            if let Some(fields) = row.as_object_mut() {
                for column in ignored {
                    fields.remove(*column);
                }
            }
            row
        })
        .collect()
}

/// The first entry where two lists differ, with the fields that differ.
pub fn first_difference(what: &str, reference: &[Json], other: &[Json], backend: &str) -> Option<String> {
    let n = reference.len().max(other.len());
    let i = (0..n).find(|&i| reference.get(i) != other.get(i))?;
    let show = |v: Option<&Json>| v.map_or("(none)".to_owned(), |v| v.to_string().chars().take(300).collect());
    let (m, r) = (reference.get(i), other.get(i));
    let fields = match (m.and_then(Json::as_object), r.and_then(Json::as_object)) {
        (Some(m), Some(r)) => m
            .keys()
            .chain(r.keys())
            .filter(|k| m.get(*k) != r.get(*k))
            .map(|k| format!("\n    {k}: memory {}, {backend} {}", show(m.get(k)), show(r.get(k))))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<String>(),
        _ => format!("\n    memory: {}\n    {backend}: {}", show(m), show(r)),
    };
    let key = m.or(r).and_then(|v| v.get("key")).map_or(String::new(), |k| format!(" ({k})"));
    Some(format!("{what} #{i}{key}:{fields}"))
}

/// The first difference between two snapshots (as `super::snapshot_json`
/// builds them), rows compared without the `ignored` columns.
pub fn snapshots(reference: &Json, other: &Json, ignored: &[&str], backend: &str) -> Option<String> {
    let (Some(m), Some(o)) = (reference.as_object(), other.as_object()) else {
        return Some("a snapshot is not a map".to_owned());
    };
    let list = |v: Option<&Json>| v.and_then(Json::as_array).cloned().unwrap_or_default();
    for key in m.keys().chain(o.keys()).collect::<BTreeSet<_>>() {
        let found = match key.as_str() {
            "rows" => first_difference(
                "row",
                &without(&list(m.get(key)), ignored),
                &without(&list(o.get(key)), ignored),
                backend,
            ),
            "objects" | "fired" | "history" => first_difference(key, &list(m.get(key)), &list(o.get(key)), backend),
            _ => (m.get(key) != o.get(key))
                .then(|| format!("{key}: memory {}, {backend} {}", show_json(m.get(key)), show_json(o.get(key)))),
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

fn show_json(v: Option<&Json>) -> String {
    v.map_or("(none)".to_owned(), |v| v.to_string().chars().take(300).collect())
}

#[test]
fn differences_name_the_entry_and_field_and_ignore_only_named_columns() {
    let a = serde_json::json!({"rows": [{"key": "k", "id": 1, "bucket": "memory", "size": 3}], "totals": {"rows": 1}});
    let b = serde_json::json!({"rows": [{"key": "k", "id": 2, "bucket": "objects", "size": 3}], "totals": {"rows": 1}});
    assert_eq!(snapshots(&a, &b, DATABASE_SERIAL_AND_STORE_NAME, "fs+sqlite"), None);
    let found = snapshots(&a, &b, &["id"], "fs+sqlite").expect("bucket differs");
    assert!(
        found.contains("row #0 (\"k\")") && found.contains("bucket: memory \"memory\", fs+sqlite \"objects\""),
        "{found}"
    );
    let c = serde_json::json!({"rows": [{"key": "k", "id": 1, "bucket": "memory", "size": 4}], "totals": {"rows": 1}});
    assert!(
        snapshots(&a, &c, DATABASE_SERIAL_AND_STORE_NAME, "x").expect("size differs").contains("size: memory 3, x 4")
    );
}
