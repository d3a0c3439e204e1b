//! Object store on a local directory: `<root>/<key>`, the S3 key layout as
//! a file tree.
//!
//! Creates are atomic and never overwrite: the bytes go to a uniquely named
//! temporary file in the target directory, which is fsynced and then
//! hard-linked to the final name. `link(2)` fails with `EEXIST` if the name is
//! taken, which makes it the filesystem's `If-None-Match: *`. Temporary names
//! start with [`RESERVED_SEGMENT_PREFIX`], which no valid key segment may, so
//! they can never be mistaken for objects.
//!
//! A file tree cannot hold both `a` and `a/b`, which S3 can; such a collision
//! is reported as [`StoreError::Rejected`]. Archive keys all have the same
//! depth, so it does not happen in practice.

use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use tokio::io::AsyncReadExt as _;
use uuid::Uuid;

use super::{
    ListPage, ObjectMeta, ObjectStore, ObjectStream, PutOutcome, RESERVED_SEGMENT_PREFIX, STREAM_CHUNK_BYTES,
    StoreError, clamp_limit, validate_key, validate_prefix,
};

/// Objects as files under a root directory.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
    bucket: String,
}

impl FsStore {
    /// A store on `root`, which is created on the first write if missing.
    /// `bucket()` is the root's directory name.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let bucket = root.file_name().map_or_else(|| "fs".to_owned(), |name| name.to_string_lossy().into_owned());
        Self { root, bucket }
    }

    /// Like [`FsStore::new`], but creates `root` now so that a bad path fails
    /// at start-up rather than on the first message.
    pub async fn create(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let store = Self::new(root);
        let root = store.root.clone();
        run("create", "", move || std::fs::create_dir_all(&root).map_err(|e| io_error("create", "", e))).await?;
        Ok(store)
    }

    /// Sets the name reported by `bucket()` (and so recorded in index rows).
    pub fn with_bucket(mut self, bucket: impl Into<String>) -> Self {
        self.bucket = bucket.into();
        self
    }

    /// The directory holding the objects.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

#[async_trait]
impl ObjectStore for FsStore {
    async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<PutOutcome, StoreError> {
        validate_key(key)?;
        let (root, owned_key) = (self.root.clone(), key.to_owned());
        run("put_if_absent", key, move || put_sync(&root, &owned_key, &bytes)).await
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        validate_key(key)?;
        let (path, owned_key) = (self.root.join(key), key.to_owned());
        run("get", key, move || get_sync(&path).map_err(|e| io_error("get", &owned_key, e))).await
    }

    /// Opens the file now (so a missing object is `None` before any byte is
    /// sent) and reads it [`STREAM_CHUNK_BYTES`] at a time as the consumer
    /// asks; the open handle keeps reading the same object even if a repair
    /// tool deletes it meanwhile.
    async fn get_stream(&self, key: &str) -> Result<Option<ObjectStream>, StoreError> {
        validate_key(key)?;
        let io = |e| io_error("get", key, e);
        let file = match tokio::fs::File::open(self.root.join(key)).await {
            Ok(file) => file,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let meta = file.metadata().await.map_err(io)?;
        if !meta.is_file() {
            return Ok(None);
        }
        let chunks = futures::stream::try_unfold((file, key.to_owned()), |(mut file, key)| async move {
            // A fresh buffer per chunk: the previous one now belongs to the consumer.
            let mut chunk = BytesMut::with_capacity(STREAM_CHUNK_BYTES);
            // `read_buf` fills at most the spare capacity, so chunks stay bounded.
            match file.read_buf(&mut chunk).await {
                Ok(0) => Ok(None),
                Ok(_) => Ok(Some((chunk.freeze(), (file, key)))),
                Err(e) => Err(io_error("get", &key, e)),
            }
        });
        Ok(Some(ObjectStream::new(key, meta.len(), chunks.boxed())))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        validate_key(key)?;
        let (path, owned_key) = (self.root.join(key), key.to_owned());
        run("head", key, move || {
            let meta = file_meta(&path).map_err(|e| io_error("head", &owned_key, e))?;
            Ok(meta.map(|(size_bytes, modified_ms)| ObjectMeta { key: owned_key, size_bytes, modified_ms }))
        })
        .await
    }

    async fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<ListPage, StoreError> {
        validate_prefix(prefix)?;
        let root = self.root.clone();
        let (prefix_owned, after) = (prefix.to_owned(), after.map(str::to_owned));
        let want = clamp_limit(limit);
        run("list", prefix, move || {
            list_sync(&root, &prefix_owned, after.as_deref(), want).map_err(|e| io_error("list", &prefix_owned, e))
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        validate_key(key)?;
        let (path, owned_key) = (self.root.join(key), key.to_owned());
        run("delete", key, move || delete_sync(&path).map_err(|e| io_error("delete", &owned_key, e))).await
    }

    fn bucket(&self) -> &str {
        &self.bucket
    }
}

/// Runs blocking filesystem work off the async runtime.
///
/// A panic in `work` is re-raised (it is a bug, not an I/O condition); a
/// cancelled task (runtime shutting down) is reported as a transient I/O error.
async fn run<T, F>(op: &'static str, key: &str, work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(join) => Err(io_error(op, key, io::Error::other(join.to_string()))),
    }
}

fn io_error(op: &'static str, key: &str, source: io::Error) -> StoreError {
    StoreError::Io { op, key: key.to_owned(), source }
}

fn rejected(key: &str, message: &str) -> StoreError {
    StoreError::Rejected { op: "put_if_absent", key: key.to_owned(), message: message.to_owned() }
}

/// "No such object": the file or one of its parent directories is missing,
/// or a parent is a file.
fn is_missing(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
}

/// Temp file, link, unlink temp, fsync directory. Durable once it returns `Created`.
fn put_sync(root: &Path, key: &str, bytes: &[u8]) -> Result<PutOutcome, StoreError> {
    let io = |e| io_error("put_if_absent", key, e);
    let target = root.join(key);
    let dir = target.parent().unwrap_or(root);
    ensure_dir(root, dir).map_err(|e| match e.kind() {
        ErrorKind::AlreadyExists | ErrorKind::NotADirectory => {
            rejected(key, "a leading part of the key is an existing object")
        }
        _ => io(e),
    })?;
    let temp = TempFile::write(dir, bytes).map_err(io)?;
    match std::fs::hard_link(&temp.path, &target) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return existing_outcome(key, &target),
        Err(e) => return Err(io(e)),
    }
    drop(temp);
    sync_dir(dir).map_err(io)?;
    Ok(PutOutcome::Created)
}

/// What an `EEXIST` from `link` means: an object, or a directory of other keys.
fn existing_outcome(key: &str, target: &Path) -> Result<PutOutcome, StoreError> {
    match std::fs::symlink_metadata(target) {
        Ok(meta) if meta.is_file() => Ok(PutOutcome::AlreadyExists),
        Ok(_) => Err(rejected(key, "the key names a directory holding other keys")),
        Err(e) => Err(io_error("put_if_absent", key, e)),
    }
}

/// Creates `dir` if missing, then fsyncs every ancestor up to `root` so the
/// new directory entries survive a crash along with the object.
fn ensure_dir(root: &Path, dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    for ancestor in dir.ancestors().skip(1) {
        sync_dir(ancestor)?;
        if ancestor == root {
            break;
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A fully written, fsynced temporary file, removed when dropped (after a
/// successful link the object lives on under its final name).
struct TempFile {
    path: PathBuf,
}

impl TempFile {
    fn write(dir: &Path, bytes: &[u8]) -> io::Result<Self> {
        let path = dir.join(format!("{RESERVED_SEGMENT_PREFIX}{}", Uuid::new_v4().simple()));
        let mut file = OpenOptions::new().write(true).create_new(true).open(&path)?;
        let temp = TempFile { path };
        file.write_all(bytes)?;
        file.sync_all()?;
        Ok(temp)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // Best effort: a leftover is invisible to listings and reads anyway.
        let _ = std::fs::remove_file(&self.path);
    }
}

fn get_sync(path: &Path) -> io::Result<Option<Bytes>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if is_missing(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes)?;
    Ok(Some(Bytes::from(bytes)))
}

/// The size of the regular file at `path`, or `None` if there is none.
/// A regular file's size and modification time (ms since the epoch, `None`
/// where the filesystem keeps none), `None` when there is no such file.
fn file_meta(path: &Path) -> io::Result<Option<(u64, Option<i64>)>> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(Some((meta.len(), modified_ms(&meta)))),
        Ok(_) => Ok(None),
        Err(e) if is_missing(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

fn modified_ms(meta: &std::fs::Metadata) -> Option<i64> {
    let modified = meta.modified().ok()?;
    let ms = match modified.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).ok()?,
        Err(before) => -i64::try_from(before.duration().as_millis()).ok()?,
    };
    Some(ms)
}

fn delete_sync(path: &Path) -> io::Result<bool> {
    if file_meta(path)?.is_none() {
        return Ok(false);
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if is_missing(&e) => return Ok(false),
        Err(e) => return Err(e),
    }
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(true)
}

/// One page of keys in lexicographic order, walking only the directories
/// that can hold keys matching `prefix` and sorting after `after`.
fn list_sync(root: &Path, prefix: &str, after: Option<&str>, limit: usize) -> io::Result<ListPage> {
    let mut lister = Lister { prefix, after, want: limit + 1, found: Vec::new() };
    match prefix.rsplit_once('/') {
        Some((dir, _)) => lister.walk(&root.join(dir), &format!("{dir}/"))?,
        None => lister.walk(root, "")?,
    }
    let more = lister.found.len() > limit;
    lister.found.truncate(limit);
    Ok(super::page(lister.found, more))
}

struct Lister<'a> {
    prefix: &'a str,
    after: Option<&'a str>,
    want: usize,
    found: Vec<ObjectMeta>,
}

impl Lister<'_> {
    /// Visits `dir`, whose keys all start with `key_prefix`, in key order,
    /// until `want` objects are found.
    fn walk(&mut self, dir: &Path, key_prefix: &str) -> io::Result<()> {
        for entry in sorted_entries(dir)? {
            if self.found.len() >= self.want {
                break;
            }
            let path = dir.join(&entry.name);
            if entry.is_dir {
                let sub_prefix = format!("{key_prefix}{}/", entry.name);
                if self.may_hold_wanted(&sub_prefix) {
                    self.walk(&path, &sub_prefix)?;
                }
                continue;
            }
            let key = format!("{key_prefix}{}", entry.name);
            if self.wants(&key)
                && let Some((size_bytes, modified_ms)) = file_meta(&path)?
            {
                self.found.push(ObjectMeta { key, size_bytes, modified_ms });
            }
        }
        Ok(())
    }

    fn wants(&self, key: &str) -> bool {
        key.starts_with(self.prefix) && self.after.is_none_or(|after| key > after)
    }

    /// Whether some key starting with `sub_prefix` can match the prefix and
    /// sort after `after` (otherwise the whole subtree is skipped).
    fn may_hold_wanted(&self, sub_prefix: &str) -> bool {
        let prefix_ok = sub_prefix.starts_with(self.prefix) || self.prefix.starts_with(sub_prefix);
        let after_ok = self.after.is_none_or(|after| sub_prefix > after || after.starts_with(sub_prefix));
        prefix_ok && after_ok
    }
}

struct Entry {
    name: String,
    is_dir: bool,
}

/// The entries of `dir` that can be part of keys, in the order of the keys
/// they lead to: a directory `d` sorts as `d/`, because every key under it
/// starts with that.
fn sorted_entries(dir: &Path) -> io::Result<Vec<Entry>> {
    let reader = match std::fs::read_dir(dir) {
        Ok(reader) => reader,
        Err(e) if is_missing(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut entries = Vec::new();
    for entry in reader {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with(RESERVED_SEGMENT_PREFIX) {
            continue;
        }
        let file_type = entry.file_type()?;
        if file_type.is_dir() || file_type.is_file() {
            entries.push(Entry { name, is_dir: file_type.is_dir() });
        }
    }
    entries.sort_by_cached_key(|e| if e.is_dir { format!("{}/", e.name) } else { e.name.clone() });
    Ok(entries)
}
