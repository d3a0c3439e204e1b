//! `mockhop put-ceiling`: the object store's raw PUT rate for exactly the
//! objects an archive of a stream holds — the ceiling `make bench` compares
//! `archiver run` against. `mockhop get-ceiling`: the raw GET rate of every
//! object a store holds — the ceiling of `archiver audit`.
//!
//! The objects are the archiver's own: the stream as Kafka carried it
//! ([`produce::as_produced`]), replayed through the archiver's identity rules
//! ([`expect::expect`] with the default [`ArchiveRules`]), each distinct
//! message encoded by [`pipeline::prepare`] and written with
//! `put_if_absent`, `concurrency` requests in flight. Nothing else happens
//! (no Kafka, no index), so the figure is what the store alone allows.

use anyhow::{Context as _, bail};
use archiver::index::TimestampType;
use archiver::pipeline::{self, Provenance};
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
    /// Objects that already existed: the bucket was not fresh.
    pub existed: u64,
    pub seconds: f64,
    pub concurrency: usize,
}

impl Ceiling {
    /// The one machine-readable line `make bench` parses. MB are 10^6 bytes.
    pub fn line(&self) -> String {
        let seconds = self.seconds.max(f64::EPSILON);
        format!(
            "ceiling objects={} bytes={} existed={} concurrency={} seconds={:.3} objects_per_s={:.1} mb_per_s={:.2}",
            self.objects,
            self.bytes,
            self.existed,
            self.concurrency,
            self.seconds,
            self.objects as f64 / seconds,
            self.bytes as f64 / 1e6 / seconds,
        )
    }
}

/// What one GET measurement read and how long it took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GetCeiling {
    /// Objects read.
    pub objects: u64,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Listed objects that were gone when read.
    pub missing: u64,
    /// The GETs alone (the listing before them is not timed).
    pub seconds: f64,
    pub concurrency: usize,
}

impl GetCeiling {
    /// One machine-readable line. MB are 10^6 bytes.
    pub fn line(&self) -> String {
        let seconds = self.seconds.max(f64::EPSILON);
        format!(
            "get-ceiling objects={} bytes={} missing={} concurrency={} seconds={:.3} objects_per_s={:.1} mb_per_s={:.2}",
            self.objects,
            self.bytes,
            self.missing,
            self.concurrency,
            self.seconds,
            self.objects as f64 / seconds,
            self.bytes as f64 / 1e6 / seconds,
        )
    }
}

/// Lists every key of the store at `store_url` (untimed), then GETs each
/// object whole, `concurrency` requests in flight, each in its own task:
/// the rate `archiver audit` reads objects at, without checking them.
pub async fn get_ceiling(store_url: &str, concurrency: usize) -> anyhow::Result<GetCeiling> {
    if concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let store = store::open(store_url).await.context("cannot open the store")?;
    let mut keys = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list("", after.as_deref(), 1000).await.context("cannot list the store")?;
        keys.extend(page.objects.into_iter().map(|o| o.key));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let started = Instant::now();
    let (objects, bytes, missing) = futures::stream::iter(keys)
        .map(|key| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.get(&key).await.with_context(|| format!("GET {key} failed")) })
        })
        .buffer_unordered(concurrency)
        .map(|joined| joined.context("a GET task failed")?)
        .try_fold((0u64, 0u64, 0u64), |(objects, bytes, missing), got| async move {
            Ok(match got {
                Some(object) => (objects + 1, bytes + object.len() as u64, missing),
                None => (objects, bytes, missing + 1),
            })
        })
        .await?;
    Ok(GetCeiling { objects, bytes, missing, seconds: started.elapsed().as_secs_f64(), concurrency })
}

/// Computes the archive `deliveries` (as generated) must produce when fed
/// through Kafka, creates the bucket if asked, and measures the PUTs.
pub async fn run(
    mut deliveries: Vec<Delivery>,
    topic_prefix: &str,
    store_url: &str,
    concurrency: usize,
    create_bucket: bool,
) -> anyhow::Result<Ceiling> {
    if concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    // `produce::as_produced`, in place: a 100k stream is ~600 MB.
    for d in &mut deliveries {
        d.message.timestamp = produce::kafka_timestamp(d.message.timestamp);
    }
    let expected = expect::expect(&deliveries, &ArchiveRules::defaults(topic_prefix))?;
    drop(deliveries);
    if create_bucket {
        create_s3_bucket(store_url).await?;
    }
    let store = store::open(store_url).await.context("cannot open the store")?;
    if !expected.messages.is_empty() {
        let first = store.list("", None, 1).await.context("cannot list the store")?;
        if !first.objects.is_empty() {
            bail!("the store is not empty (it holds {}): measure into a fresh bucket", first.objects[0].key);
        }
    }
    measure(expected.messages.into(), store, concurrency).await
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
    let started = Instant::now();
    let (objects, bytes, existed) = futures::stream::iter(0..messages.len())
        .map(|i| {
            let (messages, store) = (Arc::clone(&messages), Arc::clone(&store));
            tokio::spawn(async move { put_one(&messages[i], store.as_ref(), ingested_at_ms).await })
        })
        .buffer_unordered(concurrency)
        .map(|joined| joined.context("a PUT task failed")?)
        .try_fold((0u64, 0u64, 0u64), |(objects, bytes, existed), (size, outcome)| async move {
            Ok((objects + 1, bytes + size, existed + u64::from(outcome == PutOutcome::AlreadyExists)))
        })
        .await?;
    Ok(Ceiling { objects, bytes, existed, seconds: started.elapsed().as_secs_f64(), concurrency })
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
        assert_eq!(ceiling.existed, 0);
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
            };
            let prepared = pipeline::prepare(&m.message, m.fingerprint, &m.placement, &provenance, store.bucket())?;
            assert_eq!(object.as_ref(), prepared.object.as_slice(), "{key}");
            total += 1;
        }
        assert!(total > 0);
        let again = measure(messages, store, 8).await?;
        assert!(again.existed >= total, "a second pass finds the objects already there");
        assert!(ceiling.line().starts_with("ceiling objects="));
        Ok(())
    }

    #[tokio::test]
    async fn get_ceiling_reads_every_object_of_the_store() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = store::FsStore::create(dir.path()).await?;
        for i in 0..5u8 {
            store.put_if_absent(&format!("t/2024/01/0{}/x.bson", i + 1), vec![i; 10 * usize::from(i)].into()).await?;
        }
        let url = format!("file://{}", dir.path().display());
        let measured = get_ceiling(&url, 2).await?;
        assert_eq!((measured.objects, measured.bytes, measured.missing), (5, 100, 0));
        assert!(measured.line().starts_with("get-ceiling objects=5 bytes=100 missing=0 concurrency=2"));
        Ok(())
    }
}
