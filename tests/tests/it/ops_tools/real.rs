//! `archiver reindex` on the real servers: s3s-fs and PostgreSQL.

use super::{all_rows, archiver, pipeline_archive, reindexed, total};
use crate::support::{self, service};
use archiver::index::{IndexRow, TimestampType};
use archiver::store::{ObjectStore, S3Store};
use std::sync::Arc;

const MS_PER_DAY: i64 = 86_400_000;

/// A fresh bucket on s3s-fs, and its `s3://` URL.
pub async fn bucket(prefix: &str) -> (S3Store, String) {
    let name = format!("{prefix}-{}", uuid::Uuid::new_v4().simple());
    let store = support::s3_store(&name, &service("ARCHIVER_TEST_S3_SECRET_KEY")).await;
    store.create_bucket_if_missing().await.expect("a fresh bucket");
    let url = format!("s3://{name}?endpoint={}&region=us-east-1", service("ARCHIVER_TEST_S3_ENDPOINT"));
    (store, url)
}

pub fn s3_keys(secret: String) -> [(&'static str, String); 2] {
    [("AWS_ACCESS_KEY_ID", service("ARCHIVER_TEST_S3_ACCESS_KEY")), ("AWS_SECRET_ACCESS_KEY", secret)]
}

/// The columns reindex cannot know (partition, offset, ingest time,
/// timestamp type) set aside; and for a message without a Kafka timestamp,
/// whose row held the ingest time, the start of that day — all its key says.
pub fn comparable(row: &IndexRow) -> IndexRow {
    let timestamp = match row.timestamp_type {
        TimestampType::NotAvailable => row.timestamp.div_euclid(MS_PER_DAY) * MS_PER_DAY,
        _ => row.timestamp,
    };
    IndexRow {
        partition: None,
        kafka_offset: None,
        ingested_at: 0,
        timestamp_type: TimestampType::Create,
        timestamp,
        ..row.clone()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pipeline_archive_reindexed_from_the_store_gives_the_same_rows() {
    // An archive built by the ingest loop: a seeded mockhop stream (redeliveries,
    // disputed `_id`s, messages without a timestamp) on three partitions.
    let (store, store_url) = bucket("reindex").await;
    let store: Arc<dyn ObjectStore> = Arc::new(store);
    let original_url = support::fresh_database("reindex_a").await;
    let original = archiver::index::open(&original_url).await.expect("index");
    let summary = pipeline_archive(Arc::clone(&store), Arc::clone(&original), 11, 400).await;
    assert!(summary.conflicts > 0 && summary.duplicates > 0, "the stream exercises identity: {summary:?}");
    let before = all_rows(&*original).await;
    assert!(before.values().any(|r| r.timestamp_type == TimestampType::NotAvailable), "no message without a timestamp");

    // The index lost: a fresh database, rebuilt from the store alone.
    let rebuilt_url = support::fresh_database("reindex_b").await;
    let secret = service("ARCHIVER_TEST_S3_SECRET_KEY");
    let args = ["--store", &store_url, "--index", &rebuilt_url, "--public-topics", "gcn.*"];
    let report = reindexed(&args, &s3_keys(secret.clone()));
    let n = before.len() as u64;
    assert_eq!((total(&report, "objects"), total(&report, "inserted")), (n, n), "{report}");
    assert_eq!(total(&report, "duplicates"), 0, "the pipeline never stores a message twice: {report}");
    assert_eq!(total(&report, "conflicts"), before.values().filter(|r| r.claimed_uuid.is_some()).count() as u64);
    eprintln!(
        "reindexed {n} objects from s3s-fs into PostgreSQL at {:.0} objects/s",
        report["objects_per_second"].as_f64().unwrap_or_default()
    );

    let rebuilt = archiver::index::open(&rebuilt_url).await.expect("index");
    let after = all_rows(&*rebuilt).await;
    assert_eq!(after.keys().collect::<Vec<_>>(), before.keys().collect::<Vec<_>>(), "the same UUIDs");
    for (uuid, row) in &after {
        let was = &before[uuid];
        assert_eq!((row.partition, row.kafka_offset), (None, None), "{uuid}");
        let expected_type =
            if was.timestamp_type == TimestampType::NotAvailable { was.timestamp_type } else { TimestampType::Create };
        assert_eq!(row.timestamp_type, expected_type, "{uuid}");
        assert_eq!(comparable(row), comparable(was), "every other column of {uuid}");
    }

    // A second pass over the rebuilt index finds every row in place.
    let again = reindexed(&args, &s3_keys(secret));
    assert_eq!((total(&again, "inserted"), total(&again, "already_indexed")), (0, n), "{again}");
    let totals = |stats: Vec<archiver::index::TopicStats>| {
        stats.into_iter().map(|s| (s.topic, s.count, s.size_bytes)).collect::<Vec<_>>()
    };
    assert_eq!(
        totals(rebuilt.topic_stats().await.expect("stats")),
        totals(original.topic_stats().await.expect("stats"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_refusing_the_secret_and_a_missing_bucket_are_named() {
    let (_, store_url) = bucket("reindex-denied").await;
    let index_url = support::fresh_database("reindex_denied").await;
    let (code, out, err) =
        archiver(&["reindex", "--store", &store_url, "--index", &index_url], &s3_keys("wrong-secret".into()));
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("object store s3://reindex-denied-") && err.contains("refused the credentials"), "{err}");
    assert!(!err.contains("wrong-secret"), "{err}");

    let missing = store_url.replace("reindex-denied-", "reindex-missing-");
    let (code, out, err) = archiver(
        &["reindex", "--store", &missing, "--index", &index_url],
        &s3_keys(service("ARCHIVER_TEST_S3_SECRET_KEY")),
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("object store s3://reindex-missing-") && err.contains("rejected"), "{err}");
}
