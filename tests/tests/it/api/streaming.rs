//! `GET /msg/{uuid}` streams the stored object: byte-exact with the
//! store's size as `Content-Length`, and a store failure after the headers
//! cuts the transfer short instead of completing a wrong object.

use std::sync::Arc;

use archiver::api::ApiLimits;
use archiver::store::{FsStore, MemoryStore, ObjectStore, ObjectStream, STREAM_CHUNK_BYTES, StoreError};
use bytes::Bytes;
use futures::StreamExt as _;
use uuid::Uuid;

use super::endpoints::row;
use super::{PUBLIC, Server};
use crate::twisted::{Twist, Twisted};

/// Deterministic bytes that no store or HTTP layer could compress away.
fn object_bytes(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect()
}

/// Puts `bytes` in the server's store under a fresh message and indexes it;
/// the verbatim path serves objects as they are, so any bytes will do.
async fn put_object(server: &Server, bytes: &[u8]) -> Uuid {
    let uuid = Uuid::new_v4();
    let key = format!("{PUBLIC}/2024/1/5/7/{uuid}.bson");
    server.store.put_if_absent(&key, Bytes::copy_from_slice(bytes)).await.expect("put object");
    server.index.insert_batch(&[row(uuid, PUBLIC, &key, bytes.len())]).await.expect("index object");
    uuid
}

fn content_length(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers.get("content-length")?.to_str().ok()?.parse().ok()
}

#[tokio::test]
async fn api_msg_streams_a_multi_mib_object_byte_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs: Arc<dyn ObjectStore> = Arc::new(FsStore::create(dir.path()).await.expect("fs store"));
    // The fs store reads in chunks; the memory store slices its bytes.
    for store in [fs, Arc::new(MemoryStore::new())] {
        let server = Server::start_on(ApiLimits::default(), Arc::clone(&store)).await;
        let bytes = object_bytes(6 * (1 << 20) + 321);
        let uuid = put_object(&server, &bytes).await;
        let reply = server.get(&format!("/msg/{uuid}")).await;
        assert_eq!(reply.status, 200, "{store:?}: {}", reply.text());
        assert_eq!(reply.content_type(), "application/bson", "{store:?}");
        assert_eq!(content_length(&reply.headers), Some(bytes.len() as u64), "{store:?}: Content-Length");
        assert!(
            reply.body == bytes,
            "{store:?}: {} bytes served differ from the {} stored",
            reply.body.len(),
            bytes.len()
        );
        assert_eq!(reply.headers["x-content-type-options"], "nosniff", "{store:?}: headers of every response kept");

        let empty = put_object(&server, b"").await;
        let reply = server.get(&format!("/msg/{empty}")).await;
        assert_eq!((reply.status, content_length(&reply.headers)), (200, Some(0)), "{store:?}: empty object");
        assert!(reply.body.is_empty());

        let head = reqwest::Client::new().head(format!("{}/msg/{uuid}", server.base)).send().await.expect("HEAD");
        assert_eq!(head.status(), 200, "{store:?}: HEAD");
        assert_eq!(content_length(head.headers()), Some(bytes.len() as u64), "{store:?}: HEAD Content-Length");
    }
}

/// How [`CutStore`] spoils the stream after its first chunk.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// The store reports an error.
    Error,
    /// The body just ends (a connection closed without an error, say).
    Short,
}

/// Streams that break after the first chunk.
#[derive(Debug)]
struct CutStream {
    cut: Cut,
}

#[async_trait::async_trait]
impl Twist for CutStream {
    async fn get_stream(&self, inner: &MemoryStore, key: &str) -> Result<Option<ObjectStream>, StoreError> {
        let Some(bytes) = inner.get(key).await? else {
            return Ok(None);
        };
        let first = futures::stream::iter([Ok(bytes.slice(..STREAM_CHUNK_BYTES.min(bytes.len())))]);
        // The cut comes a little later, as a real one would: by then the
        // server has sent the status, the headers and the first chunk.
        let (cut, owned_key) = (self.cut, key.to_owned());
        let rest = futures::stream::once(async move {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            match cut {
                Cut::Error => Some(Err(StoreError::Unavailable { op: "get", key: owned_key, message: "reset".into() })),
                Cut::Short => None,
            }
        })
        .filter_map(futures::future::ready);
        Ok(Some(ObjectStream::new(key, bytes.len() as u64, first.chain(rest).boxed())))
    }
}

#[tokio::test]
async fn api_msg_store_failure_mid_body_truncates_the_transfer() {
    for cut in [Cut::Error, Cut::Short] {
        let store = Arc::new(Twisted::new(CutStream { cut }));
        let server = Server::start_on(ApiLimits::default(), store).await;
        let bytes = object_bytes(4 * STREAM_CHUNK_BYTES);
        let uuid = put_object(&server, &bytes).await;
        let response =
            reqwest::Client::new().get(format!("{}/msg/{uuid}", server.base)).send().await.expect("headers arrive");
        // The failure comes after the 200 and its length are sent...
        assert_eq!(response.status(), 200, "{cut:?}");
        assert_eq!(content_length(response.headers()), Some(bytes.len() as u64), "{cut:?}");
        // ...so the body must fail rather than end as if complete.
        let body = response.bytes().await;
        assert!(body.is_err(), "{cut:?}: the client must see a broken transfer, got {:?} bytes", body.map(|b| b.len()));
        // The server keeps serving.
        assert_eq!(server.get("/health_check").await.status, 200, "{cut:?}");
    }
}
