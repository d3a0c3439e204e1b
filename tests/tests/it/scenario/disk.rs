//! The `fs+sqlite` backend: an `FsStore` and a SQLite file index in a
//! temporary directory of their own, doing real file I/O.
//!
//! The scenario runs on a paused clock, which tokio advances whenever the
//! runtime is idle — also while a SQLite query (on sqlx's worker thread)
//! or a file write is in flight, which would fire timers that a memory
//! run never sees. So every call is made on an I/O runtime of its own
//! while the scenario's thread *blocks* until it is answered: a call takes
//! no simulated time and lets no other task run in between, as a call to
//! the memory backends does. The sequencer still orders the calls; this
//! keeps the runs deterministic and their archive the same as memory's.

use archiver::index::{
    self, Index, IndexEntry, IndexError, IndexRow, Lane, LaneCursor, ListQuery, Page, RowFilter, RowText, TopicStats,
};
use archiver::store::{FsStore, ListPage, ObjectMeta, ObjectStore, PutOutcome, StoreError};
use async_trait::async_trait;
use bytes::Bytes;
use std::future::Future;
use std::sync::Arc;
use tempfile::TempDir;
use uuid::Uuid;

/// The directory and the runtime the disk backends live on; dropped last.
struct Io {
    runtime: Option<tokio::runtime::Runtime>,
    _dir: TempDir,
}

impl Drop for Io {
    /// A runtime may not be dropped (blocking) inside another one's task.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl std::fmt::Debug for Io {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Io").field("dir", &self._dir.path()).finish_non_exhaustive()
    }
}

impl Io {
    /// Runs `work` on the I/O runtime and blocks this thread until it ends.
    fn wait<T: Send + 'static>(&self, work: impl Future<Output = T> + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let runtime = self.runtime.as_ref().expect("the I/O runtime lives until dropped");
        runtime.spawn(async move {
            // The receiver waits for this answer; it is gone only if the
            // test is being torn down.
            let _ = tx.send(work.await);
        });
        rx.recv().expect("the I/O runtime answers every call")
    }
}

/// An `FsStore` on `<tmp>/objects` and a SQLite index in `<tmp>/index.db`.
pub fn open() -> (Arc<dyn ObjectStore>, Arc<dyn Index>) {
    let dir = tempfile::tempdir().expect("a temporary directory for fs+sqlite");
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("the I/O runtime");
    let (objects, index_url) =
        (dir.path().join("objects"), format!("sqlite://{}", dir.path().join("index.db").display()));
    // `index::open`'s future is not provably `Send` for `spawn`; a thread
    // of its own may block on it (this one is inside the paused runtime).
    let (store, index) = std::thread::scope(|scope| {
        let opening = scope.spawn(|| {
            runtime.block_on(async move {
                let store = FsStore::create(objects).await.expect("an fs store in the temporary directory");
                let index = index::open(&index_url).await.expect("a SQLite index in the temporary directory");
                (store, index)
            })
        });
        opening.join().expect("opening fs+sqlite")
    });
    let io = Arc::new(Io { runtime: Some(runtime), _dir: dir });
    let store = Arc::new(DiskStore { inner: Arc::new(store), io: Arc::clone(&io) });
    (store, Arc::new(DiskIndex { inner: index, io }))
}

#[derive(Debug)]
struct DiskStore {
    inner: Arc<FsStore>,
    io: Arc<Io>,
}

#[async_trait]
impl ObjectStore for DiskStore {
    async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<PutOutcome, StoreError> {
        let (inner, key) = (Arc::clone(&self.inner), key.to_owned());
        self.io.wait(async move { inner.put_if_absent(&key, bytes).await })
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        let (inner, key) = (Arc::clone(&self.inner), key.to_owned());
        self.io.wait(async move { inner.get(&key).await })
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        let (inner, key) = (Arc::clone(&self.inner), key.to_owned());
        self.io.wait(async move { inner.head(&key).await })
    }

    async fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<ListPage, StoreError> {
        let (inner, prefix, after) = (Arc::clone(&self.inner), prefix.to_owned(), after.map(str::to_owned));
        self.io.wait(async move { inner.list(&prefix, after.as_deref(), limit).await })
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let (inner, key) = (Arc::clone(&self.inner), key.to_owned());
        self.io.wait(async move { inner.delete(&key).await })
    }

    fn bucket(&self) -> &str {
        self.inner.bucket()
    }
}

#[derive(Debug)]
struct DiskIndex {
    inner: Arc<dyn Index>,
    io: Arc<Io>,
}

#[async_trait]
impl Index for DiskIndex {
    async fn insert_batch(&self, rows: &[IndexRow]) -> Result<Vec<bool>, IndexError> {
        let (inner, rows) = (Arc::clone(&self.inner), rows.to_vec());
        self.io.wait(async move { inner.insert_batch(&rows).await })
    }

    async fn get(&self, uuid: Uuid) -> Result<Option<IndexEntry>, IndexError> {
        let inner = Arc::clone(&self.inner);
        self.io.wait(async move { inner.get(uuid).await })
    }

    async fn get_many(&self, uuids: &[Uuid]) -> Result<Vec<IndexEntry>, IndexError> {
        let (inner, uuids) = (Arc::clone(&self.inner), uuids.to_vec());
        self.io.wait(async move { inner.get_many(&uuids).await })
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, IndexError> {
        let (inner, query) = (Arc::clone(&self.inner), query.clone());
        self.io.wait(async move { inner.list(&query).await })
    }

    async fn count(&self, query: &ListQuery) -> Result<u64, IndexError> {
        let (inner, query) = (Arc::clone(&self.inner), query.clone());
        self.io.wait(async move { inner.count(&query).await })
    }

    async fn topic_stats(&self) -> Result<Vec<TopicStats>, IndexError> {
        let inner = Arc::clone(&self.inner);
        self.io.wait(async move { inner.topic_stats().await })
    }

    async fn topic_stats_since(&self, since_ms: i64) -> Result<Vec<TopicStats>, IndexError> {
        let inner = Arc::clone(&self.inner);
        self.io.wait(async move { inner.topic_stats_since(since_ms).await })
    }

    async fn set_retracted(&self, uuid: Uuid, retracted: bool) -> Result<bool, IndexError> {
        let inner = Arc::clone(&self.inner);
        self.io.wait(async move { inner.set_retracted(uuid, retracted).await })
    }

    async fn lanes(&self, filter: &RowFilter) -> Result<Vec<Lane>, IndexError> {
        let (inner, filter) = (Arc::clone(&self.inner), filter.clone());
        self.io.wait(async move { inner.lanes(&filter).await })
    }

    async fn lane_page(
        &self,
        filter: &RowFilter,
        topic: &str,
        partition: Option<i32>,
        after: Option<LaneCursor>,
        limit: u32,
    ) -> Result<Vec<IndexEntry>, IndexError> {
        let (inner, filter, topic) = (Arc::clone(&self.inner), filter.clone(), topic.to_owned());
        self.io.wait(async move { inner.lane_page(&filter, &topic, partition, after, limit).await })
    }

    async fn id_max(&self) -> Result<Option<i64>, IndexError> {
        let inner = Arc::clone(&self.inner);
        self.io.wait(async move { inner.id_max().await })
    }

    async fn set_texts(&self, texts: &[RowText]) -> Result<u64, IndexError> {
        let (inner, texts) = (Arc::clone(&self.inner), texts.to_vec());
        self.io.wait(async move { inner.set_texts(&texts).await })
    }

    async fn rows_without_text(
        &self,
        topics: &[String],
        after_id: i64,
        partial: bool,
        limit: u32,
    ) -> Result<Vec<IndexEntry>, IndexError> {
        let (inner, topics) = (Arc::clone(&self.inner), topics.to_vec());
        self.io.wait(async move { inner.rows_without_text(&topics, after_id, partial, limit).await })
    }
}
