//! `mockhop put-ceiling` and `get-ceiling`: the object store's raw PUT rate
//! for exactly the objects an archive of a stream holds, and its raw GET
//! rate for the objects of an archive — the ceilings `make bench` compares
//! `archiver run` and `archiver restore` against.
//!
//! PUT: the objects are the archiver's own: the stream as Kafka carried it
//! ([`produce::as_produced`]), replayed through the archiver's identity rules
//! ([`expect::expect`] with the default [`ArchiveRules`]: [`archived`]), each
//! distinct message encoded by [`pipeline::prepare`] and written with
//! `put_if_absent`, `concurrency` requests in flight. Nothing else happens
//! (no Kafka, no index), so the figure is what the store alone allows.
//!
//! GET: the objects a restore of the whole archive reads, found the way it
//! finds them (its default selection, walked lane by lane with
//! [`IndexWalk`], in its order) before the clock starts, then read with
//! `concurrency` requests in flight (the restore's `fetch_concurrency`).
//! No decoding, no Kafka.

use anyhow::{Context as _, bail};
use archiver::index::{self, Index, PAGE_ROWS_MAX, TimestampType};
use archiver::pipeline::{self, Provenance};
use archiver::restore::Selection;
use archiver::restore::walk::{IndexWalk, Walk as _};
use archiver::store::{self, ObjectStore, PutOutcome, S3Config, S3Store};
use futures::{StreamExt as _, TryStreamExt as _};
use mockhop::expect::{self, ArchiveRules, ExpectedMessage};
use mockhop::{Delivery, produce};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What one measurement wrote and how long it took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ceiling {
    /// Objects written (distinct archived messages).
    pub objects: u64,
    /// Their total size in bytes.
    pub bytes: u64,
    /// PUT: objects that already existed (the bucket was not fresh); `None`
    /// for GETs.
    pub existed: Option<u64>,
    pub seconds: f64,
    pub concurrency: usize,
}

impl Ceiling {
    /// The one machine-readable line `make bench` parses. MB are 10^6 bytes.
    pub fn line(&self) -> String {
        let seconds = self.seconds.max(f64::EPSILON);
        let existed = self.existed.map(|n| format!(" existed={n}")).unwrap_or_default();
        format!(
            "ceiling objects={} bytes={}{existed} concurrency={} seconds={:.3} objects_per_s={:.1} mb_per_s={:.2}",
            self.objects,
            self.bytes,
            self.concurrency,
            self.seconds,
            self.objects as f64 / seconds,
            self.bytes as f64 / 1e6 / seconds,
        )
    }
}

/// The distinct messages the archive of `deliveries` (as generated, with
/// `topic_prefix`) holds when the stream is fed through Kafka and archived
/// with the default rules, in stream order. Consumes the stream (a 100k
/// stream is ~600 MB, so it is not copied).
pub fn archived(mut deliveries: Vec<Delivery>, topic_prefix: &str) -> anyhow::Result<Vec<ExpectedMessage>> {
    // `produce::as_produced`, in place.
    for d in &mut deliveries {
        d.message.timestamp = produce::kafka_timestamp(d.message.timestamp);
    }
    Ok(expect::expect(&deliveries, &ArchiveRules::defaults(topic_prefix))?.messages)
}

/// Computes the archive `deliveries` (as generated) must produce when fed
/// through Kafka, creates the bucket if asked, and measures the PUTs.
pub async fn run(
    deliveries: Vec<Delivery>,
    topic_prefix: &str,
    store_url: &str,
    concurrency: usize,
    create_bucket: bool,
) -> anyhow::Result<Ceiling> {
    if concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let messages = archived(deliveries, topic_prefix)?;
    if create_bucket {
        create_s3_bucket(store_url).await?;
    }
    let store = store::open(store_url).await.context("cannot open the store")?;
    if !messages.is_empty() {
        let first = store.list("", None, 1).await.context("cannot list the store")?;
        if !first.objects.is_empty() {
            bail!("the store is not empty (it holds {}): measure into a fresh bucket", first.objects[0].key);
        }
    }
    measure(messages.into(), store, concurrency).await
}

/// Lists the objects of the archive in `index_url` as a restore of all of
/// it would read them, then measures GETs of them from `store_url`.
pub async fn run_get(index_url: &str, store_url: &str, concurrency: usize) -> anyhow::Result<Ceiling> {
    if concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let index = index::open(index_url).await.context("cannot open the index")?;
    let store = store::open(store_url).await.context("cannot open the store")?;
    let keys = restored_keys(index).await?;
    if keys.is_empty() {
        bail!("the archive is empty: nothing to read");
    }
    measure_get(keys.into(), store, concurrency).await
}

/// The object keys `archiver restore` with no selection flags reads, in its
/// order: every topic, retracted messages left out, uploads included, rows
/// up to the index's largest id.
async fn restored_keys(index: Arc<dyn Index>) -> anyhow::Result<Vec<String>> {
    let selection = Selection { include_uploads: true, ..Selection::default() };
    let archived = index.topic_stats().await?;
    let topics = selection.resolve_topics(archived.iter().map(|t| t.topic.as_str()))?;
    let filter = selection.row_filter(&topics, index.id_max().await?);
    let lanes = index.lanes(&filter).await?;
    let mut walk = IndexWalk::new(index, filter, lanes, None, PAGE_ROWS_MAX);
    let mut keys = Vec::new();
    while let Some(page) = walk.next_page().await? {
        keys.extend(page.into_iter().map(|item| item.object_key));
    }
    Ok(keys)
}

/// Runs `op(i)` for each `i` in `0..count`, each in a task of its own,
/// `concurrency` at once (the first error ends it). Each returns its bytes
/// and a flag; the result is (operations, bytes, operations flagged,
/// seconds from the first start to the last end).
async fn timed<F>(count: usize, concurrency: usize, op: impl Fn(usize) -> F) -> anyhow::Result<(u64, u64, u64, f64)>
where
    F: Future<Output = anyhow::Result<(u64, bool)>> + Send + 'static,
{
    let started = Instant::now();
    let (objects, bytes, flagged) = futures::stream::iter(0..count)
        .map(|i| tokio::spawn(op(i)))
        .buffer_unordered(concurrency)
        .map(|joined| joined.context("a request task failed")?)
        .try_fold((0u64, 0u64, 0u64), |(objects, bytes, flagged), (size, flag)| async move {
            Ok((objects + 1, bytes + size, flagged + u64::from(flag)))
        })
        .await?;
    Ok((objects, bytes, flagged, started.elapsed().as_secs_f64()))
}

/// PUTs every message's archive object with `concurrency` requests in
/// flight. Each object is encoded and sent by its own task, as the archiver
/// does, so encoding and request signing use every core.
pub async fn measure(
    messages: Arc<[ExpectedMessage]>,
    store: Arc<dyn ObjectStore>,
    concurrency: usize,
) -> anyhow::Result<Ceiling> {
    let ingested_at_ms = now_ms();
    let (objects, bytes, existed, seconds) = timed(messages.len(), concurrency, |i| {
        let (messages, store) = (Arc::clone(&messages), Arc::clone(&store));
        async move {
            let (size, outcome) = put_one(&messages[i], store.as_ref(), ingested_at_ms).await?;
            Ok((size, outcome == PutOutcome::AlreadyExists))
        }
    })
    .await?;
    Ok(Ceiling { objects, bytes, existed: Some(existed), seconds, concurrency })
}

/// GETs every object of `keys` with `concurrency` requests in flight, each
/// in its own task; a missing object is an error (the archive is broken).
pub async fn measure_get(
    keys: Arc<[String]>,
    store: Arc<dyn ObjectStore>,
    concurrency: usize,
) -> anyhow::Result<Ceiling> {
    let (objects, bytes, _, seconds) = timed(keys.len(), concurrency, |i| {
        let (keys, store) = (Arc::clone(&keys), Arc::clone(&store));
        async move {
            let key = &keys[i];
            let object = store.get(key).await.with_context(|| format!("GET {key} failed"))?;
            let object = object.with_context(|| format!("{key} is missing from the store"))?;
            Ok((object.len() as u64, false))
        }
    })
    .await?;
    Ok(Ceiling { objects, bytes, existed: None, seconds, concurrency })
}

/// Prepares `m` exactly as the archiver would and creates its object;
/// returns the object's size and what the store did.
async fn put_one(
    m: &ExpectedMessage,
    store: &dyn ObjectStore,
    ingested_at_ms: i64,
) -> anyhow::Result<(u64, PutOutcome)> {
    let provenance = Provenance {
        partition: None,
        offset: None,
        timestamp_type: TimestampType::Create,
        ingested_at_ms,
        public: false,
        direct_upload: false,
        text: None,
    };
    let prepared = pipeline::prepare(&m.message, m.fingerprint, &m.placement, &provenance, store.bucket())
        .with_context(|| format!("cannot prepare message #{}", m.seq))?;
    let size = prepared.object.len() as u64;
    let outcome = store
        .put_if_absent(&prepared.key, prepared.object.into())
        .await
        .with_context(|| format!("PUT {} failed", prepared.key))?;
    Ok((size, outcome))
}

/// Creates the bucket of an `s3://` store URL unless it exists (the
/// archiver's store never creates buckets). Other schemes need nothing.
async fn create_s3_bucket(url: &str) -> anyhow::Result<()> {
    let Some(config) = s3_config(url)? else {
        return Ok(());
    };
    let bucket = config.bucket.clone();
    S3Store::new(config)
        .await
        .create_bucket_if_missing()
        .await
        .with_context(|| format!("cannot create bucket {bucket}"))
}

/// The [`S3Config`] of `s3://BUCKET?endpoint=..&region=..&path_style=..`, or
/// `None` for another scheme. Full validation is `store::open`'s job; this
/// only reads the parameters it understands, the same way.
fn s3_config(url: &str) -> anyhow::Result<Option<S3Config>> {
    let Some(rest) = url.strip_prefix("s3://") else {
        return Ok(None);
    };
    let (bucket, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut config = S3Config::new(bucket.trim_end_matches('/'));
    let mut path_style = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value)?;
        match name {
            "endpoint" => config.endpoint = Some(value.trim_end_matches('/').to_owned()),
            "region" if !value.is_empty() => config.region = value,
            "path_style" => path_style = Some(matches!(value.as_str(), "true" | "1")),
            _ => bail!("unknown or empty store URL parameter {name:?}"),
        }
    }
    config.path_style = path_style.unwrap_or(config.endpoint.is_some());
    Ok(Some(config))
}

/// Decodes `%XX` escapes and `+` (form encoding, as the store's URL parser does).
fn percent_decode(text: &str) -> anyhow::Result<String> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hex = [bytes.next(), bytes.next()];
                let digits = match hex {
                    [Some(h), Some(l)] => {
                        std::str::from_utf8(&[h, l]).ok().and_then(|s| u8::from_str_radix(s, 16).ok())
                    }
                    _ => None,
                };
                out.push(digits.with_context(|| format!("bad %-escape in store URL parameter {text:?}"))?);
            }
            b'+' => out.push(b' '),
            _ => out.push(b),
        }
    }
    String::from_utf8(out).with_context(|| format!("store URL parameter {text:?} is not UTF-8"))
}

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use archiver::store::MemoryStore;
    use mockhop::StreamOptions;
    use mockhop::generate;

    #[test]
    fn reads_s3_urls_like_the_store() -> anyhow::Result<()> {
        let config =
            s3_config("s3://bench-a?endpoint=http%3A%2F%2F127.0.0.1:9000/&region=eu-west-1")?.context("an s3 URL")?;
        assert_eq!(config.bucket, "bench-a");
        assert_eq!(config.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(config.region, "eu-west-1");
        assert!(config.path_style);
        assert!(s3_config("file:///tmp/x")?.is_none());
        assert!(s3_config("s3://b?colour=blue").is_err());
        Ok(())
    }

    #[tokio::test]
    async fn writes_each_distinct_message_once_with_the_archivers_bytes() -> anyhow::Result<()> {
        let options = StreamOptions { seed: 7, count: 300, profile: "realistic".into(), topic_prefix: "t-".into() };
        let deliveries = generate::generate(&options)?;
        let expected = expect::expect(&produce::as_produced(&deliveries), &ArchiveRules::defaults("t-"))?;
        let store = Arc::new(MemoryStore::new());
        let messages: Arc<[ExpectedMessage]> = expected.messages.clone().into();
        let ceiling = measure(Arc::clone(&messages), Arc::clone(&store) as Arc<dyn ObjectStore>, 8).await?;
        assert_eq!(ceiling.objects, expected.messages.len() as u64);
        assert_eq!(ceiling.existed, Some(0));
        let mut total = 0;
        for m in expected.messages.iter().filter(|m| m.object_key.is_some()) {
            let key = m.object_key.as_deref().context("key")?;
            let object = store.get(key).await?.with_context(|| format!("{key} missing"))?;
            let provenance = Provenance {
                partition: None,
                offset: None,
                timestamp_type: TimestampType::Create,
                ingested_at_ms: 0,
                public: false,
                direct_upload: false,
                text: None,
            };
            let prepared = pipeline::prepare(&m.message, m.fingerprint, &m.placement, &provenance, store.bucket())?;
            assert_eq!(object.as_ref(), prepared.object.as_slice(), "{key}");
            total += 1;
        }
        assert!(total > 0);
        let again = measure(messages, store, 8).await?;
        assert!(again.existed >= Some(total), "a second pass finds the objects already there");
        assert!(ceiling.line().starts_with("ceiling objects="));
        Ok(())
    }

    #[tokio::test]
    async fn reads_every_object_once_and_a_missing_one_is_an_error() -> anyhow::Result<()> {
        let store = Arc::new(MemoryStore::new());
        let mut keys = Vec::new();
        for (i, size) in [10usize, 200, 3000].into_iter().enumerate() {
            let key = format!("t/{i}.bson");
            store.put_if_absent(&key, vec![7u8; size].into()).await?;
            keys.push(key);
        }
        let keys: Arc<[String]> = keys.into();
        let ceiling = measure_get(Arc::clone(&keys), Arc::clone(&store) as Arc<dyn ObjectStore>, 2).await?;
        assert_eq!((ceiling.objects, ceiling.bytes, ceiling.existed), (3, 3210, None));
        assert!(!ceiling.line().contains("existed="), "{}", ceiling.line());
        let missing: Arc<[String]> = vec!["t/none.bson".to_owned()].into();
        let err = measure_get(missing, store, 2).await.err().context("a missing object fails")?;
        assert!(format!("{err:#}").contains("missing"), "{err:#}");
        Ok(())
    }
}
