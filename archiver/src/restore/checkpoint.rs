//! A named restore job's state on disk: what it selected, the last
//! position Kafka acknowledged (everything up to it is delivered), how far
//! it may have sent beyond that, and its counts. Written atomically
//! (temporary file, fsync, rename, fsync of the directory), so a kill -9 at
//! any moment leaves the previous state or the next, never a torn one.
//! [`JobFile`] holds any serde state: `archiver reindex` keeps its own in it.

use super::RestoreError;
use super::walk::Position;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The format of the job file; a file of another version is refused.
const VERSION: u32 = 1;

/// Per-topic counts of a job (target topic names).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub messages: u64,
    pub bytes: u64,
    /// Sent without a timestamp because Kafka had none.
    pub without_timestamp: u64,
    /// Objects missing or unreadable, skipped under `--on-missing skip`.
    pub skipped: u64,
    /// Copies sent again after restarts: one per interrupted run that may
    /// have sent the message already.
    pub resent: u64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.messages += other.messages;
        self.bytes += other.bytes;
        self.without_timestamp += other.without_timestamp;
        self.skipped += other.skipped;
        self.resent += other.resent;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobState {
    pub version: u32,
    /// [`super::Selection::describe`] plus the target: a resumed job must
    /// be the same job.
    pub selection: String,
    /// The index's largest row id when the job started: rows archived later
    /// are not part of it.
    pub id_max: Option<i64>,
    /// Every selected message up to here (inclusive) was acknowledged.
    pub done: Option<Position>,
    /// Messages up to here may have been sent; after a restart, those past
    /// `done` are sent again and counted as re-sent.
    pub sent_mark: Option<Position>,
    /// The `sent_mark`s that resumed runs found (saved before they sent
    /// anything), past `done`: a message at or before k of them may have
    /// gone out k times already, so a run killed while re-sending is
    /// counted too.
    #[serde(default)]
    pub interrupted: Vec<Position>,
    pub finished: bool,
    pub topics: BTreeMap<String, Counts>,
    /// A file export's length at the checkpoint: a resumed export cuts the
    /// file back to it, so no line is written twice.
    #[serde(default)]
    pub sink_position: Option<u64>,
}

impl JobState {
    pub fn new(selection: String, id_max: Option<i64>) -> JobState {
        JobState {
            version: VERSION,
            selection,
            id_max,
            done: None,
            sent_mark: None,
            interrupted: Vec::new(),
            finished: false,
            topics: BTreeMap::new(),
            sink_position: None,
        }
    }
}

impl JobState {
    /// The state saved in `job`, `None` for a new job; a file of another
    /// format version is refused.
    pub fn load(job: &JobFile) -> Result<Option<JobState>, JobFileError> {
        let Some(state) = job.load::<JobState>()? else { return Ok(None) };
        if state.version != VERSION {
            return Err(job.error(format!("version {} (this archiver writes {VERSION})", state.version)));
        }
        Ok(Some(state))
    }
}

/// A job file that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("job file {path}: {reason}")]
pub struct JobFileError {
    pub path: String,
    pub reason: String,
}

impl From<JobFileError> for RestoreError {
    fn from(e: JobFileError) -> RestoreError {
        RestoreError::Job { path: e.path, reason: e.reason }
    }
}

/// Where a job's state lives: `<state_dir>/<job>.json`, any serde state
/// (restore's [`JobState`], reindex's own), replaced atomically.
#[derive(Debug, Clone)]
pub struct JobFile {
    path: PathBuf,
}

impl JobFile {
    /// The file of job `name` in `dir` (created on first save).
    pub fn new(dir: &Path, name: &str) -> Result<JobFile, JobFileError> {
        let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if name.is_empty() || name.len() > 128 || name.starts_with('.') || !name.chars().all(legal) {
            return Err(JobFileError {
                path: name.into(),
                reason: "a job name is 1-128 of a-z A-Z 0-9 . _ - and does not start with '.'".into(),
            });
        }
        Ok(JobFile { path: dir.join(format!("{name}.json")) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An error about this file.
    pub fn error(&self, reason: impl std::fmt::Display) -> JobFileError {
        JobFileError { path: self.path.display().to_string(), reason: reason.to_string() }
    }

    /// The saved state, `None` for a new job.
    pub fn load<T: DeserializeOwned>(&self) -> Result<Option<T>, JobFileError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.error(e)),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| self.error(format!("unreadable: {e}")))
    }

    /// Replaces the saved state atomically and durably.
    pub fn save<T: Serialize>(&self, state: &T) -> Result<(), JobFileError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.error(format!("cannot create its directory: {e}")))?;
        let text = serde_json::to_vec_pretty(state).map_err(|e| self.error(e))?;
        let temporary = self.path.with_extension("json.tmp");
        let mut file = std::fs::File::create(&temporary).map_err(|e| self.error(e))?;
        file.write_all(&text).and_then(|()| file.sync_all()).map_err(|e| self.error(e))?;
        std::fs::rename(&temporary, &self.path).map_err(|e| self.error(e))?;
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_state_loads_back_and_bad_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let job = JobFile::new(&dir.path().join("jobs"), "replay-2024").unwrap();
        assert_eq!(JobState::load(&job).unwrap(), None);
        let mut state = JobState::new("topics=[]".into(), Some(41));
        state.done =
            Some(Position { topic: "t".into(), lane: 2, group: String::new(), seq: 7, uuid: uuid::Uuid::from_u128(9) });
        state.topics.entry("t".into()).or_default().messages = 8;
        job.save(&state).unwrap();
        assert_eq!(JobState::load(&job).unwrap(), Some(state));
        assert!(JobFile::new(dir.path(), "../escape").is_err());
        assert!(JobFile::new(dir.path(), ".hidden").is_err());
    }
}
