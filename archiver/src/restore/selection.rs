//! What a restore selects: topics (names or `*` globs), a half-open time
//! window, a file of UUIDs, retracted messages and direct uploads; and the
//! checks that make a bad selection a clear error before anything is read.

use crate::index::RowFilter;
use crate::topics::{glob_match, matches_any};
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Lines a UUID file may have: 16 bytes each in memory, so 10 million take
/// 160 MB. A larger restore selects by topic and window instead.
pub const UUID_FILE_LINES_MAX: usize = 10_000_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectionError {
    #[error("invalid time {text:?}: expected milliseconds since the epoch or RFC 3339 (2024-05-01T00:00:00Z)")]
    BadTime { text: String },
    #[error("empty window: start ({start_ms} ms) must be before end ({end_ms} ms)")]
    EmptyWindow { start_ms: i64, end_ms: i64 },
    #[error("cannot read the UUID file {}: {reason}", path.display())]
    UuidFile { path: PathBuf, reason: String },
    #[error("UUID file {}, line {line}: {text:?} is not a UUID", path.display())]
    BadUuid { path: PathBuf, line: usize, text: String },
    #[error("unknown topic {0:?}: the archive holds no message of it")]
    UnknownTopic(String),
    #[error("topic pattern {0:?} matches no archived topic")]
    NoTopicMatches(String),
    #[error("the selection is empty: no archived message matches it")]
    Empty,
    #[error(
        "{count} UUIDs of the file are not in the archive (first: {first}); pass --on-missing skip to go on without them"
    )]
    UnknownUuids { count: usize, first: Uuid },
}

/// A restore's selection. An empty `topics` means every topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    pub topics: Vec<String>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    /// The UUID file's UUIDs, when one was given.
    pub uuids: Option<BTreeSet<Uuid>>,
    pub include_retracted: bool,
    pub include_uploads: bool,
}

impl Selection {
    /// Refuses a window that selects nothing by construction.
    pub fn check(&self) -> Result<(), SelectionError> {
        match (self.start_ms, self.end_ms) {
            (Some(start_ms), Some(end_ms)) if start_ms >= end_ms => {
                Err(SelectionError::EmptyWindow { start_ms, end_ms })
            }
            _ => Ok(()),
        }
    }

    /// Whether `topic` is selected (every topic when none is named).
    pub fn wants_topic(&self, topic: &str) -> bool {
        self.topics.is_empty() || matches_any(&self.topics, topic)
    }

    /// Whether a timestamp falls in the window `[start, end)`.
    pub fn in_window(&self, timestamp_ms: i64) -> bool {
        self.start_ms.is_none_or(|s| timestamp_ms >= s) && self.end_ms.is_none_or(|e| timestamp_ms < e)
    }

    /// The selected topics among `archived` (every topic the archive
    /// holds). A name without `*` that the archive does not hold, or a glob
    /// that matches none of it, is an error: a typo must not restore nothing
    /// and succeed.
    pub fn resolve_topics<'a>(
        &self,
        archived: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Result<BTreeSet<String>, SelectionError> {
        for pattern in &self.topics {
            if !archived.clone().into_iter().any(|t| glob_match(pattern, t)) {
                return Err(if pattern.contains('*') {
                    SelectionError::NoTopicMatches(pattern.clone())
                } else {
                    SelectionError::UnknownTopic(pattern.clone())
                });
            }
        }
        Ok(archived.into_iter().filter(|t| self.wants_topic(t)).map(str::to_owned).collect())
    }

    /// The index filter for these resolved `topics`, frozen at `id_max`.
    pub fn row_filter(&self, topics: &BTreeSet<String>, id_max: Option<i64>) -> RowFilter {
        RowFilter {
            topics: topics.iter().cloned().collect(),
            start_ms: self.start_ms,
            end_ms: self.end_ms,
            include_retracted: self.include_retracted,
            include_uploads: self.include_uploads,
            id_max,
        }
    }

    /// A canonical one-line description, stored in a job's file so that a
    /// resumed job is the same job.
    pub fn describe(&self) -> String {
        let uuids = self.uuids.as_ref().map(|set| {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325; // FNV-1a over the sorted UUIDs
            for byte in set.iter().flat_map(|u| *u.as_bytes()) {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
            format!("{} uuids fnv1a {hash:016x}", set.len())
        });
        format!(
            "topics={:?} start={:?} end={:?} uuids={:?} retracted={} uploads={}",
            self.topics, self.start_ms, self.end_ms, uuids, self.include_retracted, self.include_uploads
        )
    }
}

/// A time given as milliseconds since the epoch or as RFC 3339.
pub fn parse_time(text: &str) -> Result<i64, SelectionError> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let bad = || SelectionError::BadTime { text: text.to_owned() };
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(|_| bad())?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).map_err(|_| bad())
}

/// The UUIDs of a file: one per line, blank lines and `#` comments ignored.
pub fn read_uuid_file(path: &Path) -> Result<BTreeSet<Uuid>, SelectionError> {
    let unreadable = |reason: String| SelectionError::UuidFile { path: path.to_owned(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| unreadable(e.to_string()))?;
    let mut uuids = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let uuid = Uuid::parse_str(line).map_err(|_| SelectionError::BadUuid {
            path: path.to_owned(),
            line: n + 1,
            text: line.to_owned(),
        })?;
        uuids.insert(uuid);
        if uuids.len() > UUID_FILE_LINES_MAX {
            return Err(unreadable(format!(
                "more than {UUID_FILE_LINES_MAX} UUIDs; select by topic and window instead"
            )));
        }
    }
    if uuids.is_empty() {
        return Err(unreadable("it names no UUID".into()));
    }
    Ok(uuids)
}

/// The UUIDs of `wanted` that `found` lacks, for the unknown-UUID error.
pub fn unknown_uuids(wanted: &BTreeSet<Uuid>, found: &HashSet<Uuid>) -> Vec<Uuid> {
    wanted.iter().filter(|u| !found.contains(u)).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_milliseconds_or_rfc3339() {
        assert_eq!(parse_time("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("2023-11-14T23:13:20.5+01:00"), Ok(1_700_000_000_500));
        assert!(matches!(parse_time("yesterday"), Err(SelectionError::BadTime { .. })));
    }

    #[test]
    fn a_window_must_not_be_empty() {
        let window = |start, end| Selection { start_ms: Some(start), end_ms: Some(end), ..Selection::default() };
        assert_eq!(window(5, 5).check(), Err(SelectionError::EmptyWindow { start_ms: 5, end_ms: 5 }));
        assert!(window(6, 5).check().is_err());
        assert_eq!(window(4, 5).check(), Ok(()));
        assert!(window(4, 5).in_window(4) && !window(4, 5).in_window(5));
    }

    #[test]
    fn unknown_names_and_empty_globs_are_errors() {
        let archived = ["gcn.notice", "gcn.circular", "lvk.alert"];
        let pick = |topics: &[&str]| {
            let selection =
                Selection { topics: topics.iter().map(|t| t.to_string()).collect(), ..Selection::default() };
            selection.resolve_topics(archived.iter().copied())
        };
        assert_eq!(pick(&["gcn.*"]).unwrap().len(), 2);
        assert_eq!(pick(&[]).unwrap().len(), 3);
        assert_eq!(pick(&["gcn.notic"]), Err(SelectionError::UnknownTopic("gcn.notic".into())));
        assert_eq!(pick(&["icecube.*"]), Err(SelectionError::NoTopicMatches("icecube.*".into())));
    }

    #[test]
    fn uuid_files_name_the_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("uuids.txt");
        std::fs::write(&path, "# wanted\n01234567-aaaa-bbbb-cccc-0123456789de\n\nnot-a-uuid\n").unwrap();
        let err = read_uuid_file(&path).unwrap_err();
        assert_eq!(err, SelectionError::BadUuid { path: path.clone(), line: 4, text: "not-a-uuid".into() });
        std::fs::write(&path, "01234567-aaaa-bbbb-cccc-0123456789de # the one\n").unwrap();
        assert_eq!(read_uuid_file(&path).unwrap().len(), 1);
        std::fs::write(&path, "# nothing\n").unwrap();
        assert!(read_uuid_file(&path).is_err());
    }
}
