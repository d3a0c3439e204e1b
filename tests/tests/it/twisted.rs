//! Test stores that misbehave in one way: a [`Twist`] changes what it needs
//! (a put, a get, a stream) and [`Twisted`] forwards everything else to a
//! [`MemoryStore`], so each test store is only its misbehaviour.

use archiver::store::{ListPage, MemoryStore, ObjectMeta, ObjectStore, ObjectStream, PutOutcome, StoreError};
use async_trait::async_trait;
use bytes::Bytes;

/// One misbehaviour; every method defaults to the honest store's answer.
#[async_trait]
pub trait Twist: Send + Sync + std::fmt::Debug {
    async fn put_if_absent(&self, inner: &MemoryStore, key: &str, bytes: Bytes) -> Result<PutOutcome, StoreError> {
        inner.put_if_absent(key, bytes).await
    }
    async fn get(&self, inner: &MemoryStore, key: &str) -> Result<Option<Bytes>, StoreError> {
        inner.get(key).await
    }
    /// By default a stream of what this twist's `get` returns.
    async fn get_stream(&self, inner: &MemoryStore, key: &str) -> Result<Option<ObjectStream>, StoreError> {
        Ok(self.get(inner, key).await?.map(|bytes| ObjectStream::from_bytes(key, bytes)))
    }
}

/// A memory store with a [`Twist`].
#[derive(Debug, Default)]
pub struct Twisted<T> {
    pub inner: MemoryStore,
    pub twist: T,
}

impl<T> Twisted<T> {
    pub fn new(twist: T) -> Twisted<T> {
        Twisted { inner: MemoryStore::new(), twist }
    }
}

#[async_trait]
impl<T: Twist> ObjectStore for Twisted<T> {
    async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<PutOutcome, StoreError> {
        self.twist.put_if_absent(&self.inner, key, bytes).await
    }
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        self.twist.get(&self.inner, key).await
    }
    async fn get_stream(&self, key: &str) -> Result<Option<ObjectStream>, StoreError> {
        self.twist.get_stream(&self.inner, key).await
    }
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        self.inner.head(key).await
    }
    async fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<ListPage, StoreError> {
        self.inner.list(prefix, after, limit).await
    }
    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        self.inner.delete(key).await
    }
    fn bucket(&self) -> &str {
        self.inner.bucket()
    }
}
