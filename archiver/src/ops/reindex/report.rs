//! What a reindex found, per topic and as notes about single objects; the
//! state a job saves (`--job`), and the summary an operator reads.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use uuid::Uuid;

/// The format of a reindex job file; a file of another version is refused.
pub const VERSION: u32 = 1;

/// Notes of one kind kept for the summary; the counts hold the totals.
pub const NOTES_PER_KIND_MAX: usize = 100;

/// Per-topic counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Archive objects listed (keys of either layout).
    pub objects: u64,
    pub bytes: u64,
    /// Rows inserted (a dry run: rows that would be).
    pub inserted: u64,
    /// A row with the same UUID, key and fingerprint was there already.
    pub already_indexed: u64,
    /// A row with the UUID exists for another key or another message: left alone.
    pub index_differs: u64,
    /// Messages stored twice under different UUIDs (upstream's random
    /// UUIDs for messages without `_id`): both are indexed.
    pub duplicates: u64,
    /// A client `_id` other than the key's UUID: indexed as a conflict.
    pub conflicts: u64,
    /// Objects whose `con_text_uuid` names another UUID than their key.
    pub uuid_mismatches: u64,
    /// Objects whose message names another topic than their key.
    pub topic_mismatches: u64,
    /// Objects in upstream's legacy layout (E0–E2).
    pub legacy: u64,
    /// Objects that do not decode (or do not fit the index): not indexed.
    pub unreadable: u64,
    /// Listed, then gone when read: not indexed.
    pub missing: u64,
    /// Keys that are not archive objects: left alone.
    pub ignored_keys: u64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        let pairs = [
            (&mut self.objects, o.objects),
            (&mut self.bytes, o.bytes),
            (&mut self.inserted, o.inserted),
            (&mut self.already_indexed, o.already_indexed),
            (&mut self.index_differs, o.index_differs),
            (&mut self.duplicates, o.duplicates),
            (&mut self.conflicts, o.conflicts),
            (&mut self.uuid_mismatches, o.uuid_mismatches),
            (&mut self.topic_mismatches, o.topic_mismatches),
            (&mut self.legacy, o.legacy),
            (&mut self.unreadable, o.unreadable),
            (&mut self.missing, o.missing),
            (&mut self.ignored_keys, o.ignored_keys),
        ];
        for (mine, theirs) in pairs {
            *mine += theirs;
        }
    }
}

/// What a note is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    Duplicate,
    IndexDiffers,
    UuidMismatch,
    TopicMismatch,
    Unreadable,
    Missing,
    IgnoredKey,
}

/// One object an operator should hear about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub kind: NoteKind,
    pub key: String,
    pub uuid: Option<Uuid>,
    pub detail: String,
}

/// A job's state: what it selected, the last key done (every key up to it,
/// in the store's order, is indexed), and what it found so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobState {
    pub version: u32,
    /// Store, index and topic patterns: a resumed job must be the same job.
    pub selection: String,
    pub last_key: Option<String>,
    pub finished: bool,
    pub topics: BTreeMap<String, Counts>,
    pub notes: Vec<Note>,
}

impl JobState {
    pub fn new(selection: String) -> JobState {
        JobState {
            version: VERSION,
            selection,
            last_key: None,
            finished: false,
            topics: BTreeMap::new(),
            notes: Vec::new(),
        }
    }

    pub fn total(&self) -> Counts {
        let mut total = Counts::default();
        self.topics.values().for_each(|c| total.add(c));
        total
    }

    /// Keeps `note` unless [`NOTES_PER_KIND_MAX`] of its kind are kept.
    pub fn note(&mut self, note: Note) {
        if self.notes.iter().filter(|n| n.kind == note.kind).count() < NOTES_PER_KIND_MAX {
            self.notes.push(note);
        }
    }
}

/// How a reindex ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub state: JobState,
    pub dry_run: bool,
    /// The job had finished before this run: nothing was done.
    pub already_finished: bool,
    /// Stopped at `--max-objects`; the same command resumes the job.
    pub stopped_early: bool,
    /// Objects listed by this run, and its duration.
    pub objects_this_run: u64,
    pub seconds: f64,
}

impl Report {
    pub fn objects_per_second(&self) -> f64 {
        if self.seconds > 0.0 { self.objects_this_run as f64 / self.seconds } else { 0.0 }
    }
}

/// The columns of the text summary: name and value.
fn columns(c: &Counts) -> [(&'static str, u64); 9] {
    [
        ("objects", c.objects),
        ("inserted", c.inserted),
        ("already", c.already_indexed),
        ("differs", c.index_differs),
        ("dups", c.duplicates),
        ("conflicts", c.conflicts),
        ("legacy", c.legacy),
        ("unreadable", c.unreadable + c.missing),
        ("ignored", c.ignored_keys),
    ]
}

/// The summary as an operator reads it: a line per topic, totals, notes.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    if report.already_finished {
        out.push_str("this job had already finished: nothing was done\n");
    }
    if report.dry_run {
        out.push_str("dry run: nothing was inserted (`inserted` counts the rows that would be)\n");
    }
    let _ = write!(out, "{:<40}", "topic");
    for (name, _) in columns(&Counts::default()) {
        let _ = write!(out, " {name:>10}");
    }
    out.push('\n');
    let total = report.state.total();
    for (topic, counts) in report.state.topics.iter().chain([(&"total".to_owned(), &total)]) {
        let _ = write!(out, "{topic:<40}");
        for (_, value) in columns(counts) {
            let _ = write!(out, " {value:>10}");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{} keys in {:.1} s ({:.0} keys/s), {} bytes of objects read",
        report.objects_this_run,
        report.seconds,
        report.objects_per_second(),
        total.bytes
    );
    for note in &report.state.notes {
        let uuid = note.uuid.map(|u| format!(" {u}")).unwrap_or_default();
        let _ = writeln!(out, "{}{uuid} ({}): {}", kind_text(note.kind), note.key, note.detail);
    }
    let kept = report.state.notes.len() as u64;
    let noted = total.duplicates
        + total.index_differs
        + total.uuid_mismatches
        + total.topic_mismatches
        + total.unreadable
        + total.missing
        + total.ignored_keys;
    if noted > kept {
        let _ = writeln!(out, "({} more not listed: at most {NOTES_PER_KIND_MAX} of each kind)", noted - kept);
    }
    if report.stopped_early {
        out.push_str("stopped at --max-objects: run the same command again to go on\n");
    }
    out
}

fn kind_text(kind: NoteKind) -> &'static str {
    match kind {
        NoteKind::Duplicate => "stored twice:",
        NoteKind::IndexDiffers => "index holds another row for",
        NoteKind::UuidMismatch => "object names another UUID than its key:",
        NoteKind::TopicMismatch => "object names another topic than its key:",
        NoteKind::Unreadable => "unreadable, not indexed:",
        NoteKind::Missing => "vanished before it was read:",
        NoteKind::IgnoredKey => "not an archive object, ignored:",
    }
}

/// The summary as JSON, for scripts.
pub fn render_json(report: &Report) -> serde_json::Value {
    serde_json::json!({
        "dry_run": report.dry_run,
        "already_finished": report.already_finished,
        "complete": report.state.finished,
        "stopped_early": report.stopped_early,
        "objects_this_run": report.objects_this_run,
        "seconds": report.seconds,
        "objects_per_second": report.objects_per_second(),
        "last_key": report.state.last_key,
        "topics": report.state.topics,
        "total": report.state.total(),
        "notes": report.state.notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_bounded_per_kind_and_counts_add_up() {
        let mut state = JobState::new("s".into());
        for i in 0..(NOTES_PER_KIND_MAX + 5) {
            let note = |kind| Note { kind, key: format!("t/{i}"), uuid: None, detail: String::new() };
            state.note(note(NoteKind::Duplicate));
            if i < 3 {
                state.note(note(NoteKind::Missing));
            }
        }
        assert_eq!(state.notes.len(), NOTES_PER_KIND_MAX + 3);
        state.topics.entry("a".into()).or_default().objects = 2;
        state.topics.entry("b".into()).or_default().objects = 3;
        assert_eq!(state.total().objects, 5);
    }
}
