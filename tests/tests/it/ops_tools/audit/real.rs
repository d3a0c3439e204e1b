//! `archiver audit` and `repair` on the real servers: s3s-fs and PostgreSQL.

use super::{Archive, every_damage_is_found_and_only_the_safe_repaired};
use crate::ops_tools::archiver;
use crate::ops_tools::real::{bucket, s3_keys};
use crate::support::{self, service};
use archiver::store::ObjectStore;
use std::sync::Arc;

/// An archive of `count` deliveries in a fresh bucket and database, and a
/// replica bucket copied from it.
async fn real_archive(count: usize) -> Archive {
    let (store, store_url) = bucket("audit").await;
    let (replica, replica_url) = bucket("audit-replica").await;
    let index_url = support::fresh_database("audit").await;
    let env = s3_keys(service("ARCHIVER_TEST_S3_SECRET_KEY")).to_vec();
    let (store, replica): (Arc<dyn ObjectStore>, Arc<dyn ObjectStore>) = (Arc::new(store), Arc::new(replica));
    Archive::build((store, store_url), (replica, replica_url), index_url, env, count).await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_damage_is_found_and_only_the_safe_repaired_on_s3_and_postgres() {
    every_damage_is_found_and_only_the_safe_repaired(real_archive(60).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_that_refuses_or_does_not_exist_is_named() {
    let archive = real_archive(5).await;
    let missing = archive.replica_url.replace("audit-replica-", "audit-missing-");
    let (code, out, err) = archiver(
        &["audit", "--store", &archive.store_url, "--index", &archive.index_url, "--replica", &missing],
        &archive.env,
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("replica object store s3://audit-missing-") && err.contains("rejected"), "{err}");

    let wrong = s3_keys("wrong-secret".into());
    let (code, out, err) = archiver(
        &["repair", "--store", &archive.store_url, "--index", &archive.index_url, "--replica", &archive.replica_url],
        &wrong,
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("object store s3://audit-") && err.contains("refused the credentials"), "{err}");
    assert!(!err.contains("wrong-secret"), "{err}");
}
