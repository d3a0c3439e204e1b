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

/// The throughput figure of the README: `archiver audit` (index → store
/// and store → index, no replica) against `mockhop get-ceiling`, the raw
/// GETs of the same objects at the same concurrency, on s3s-fs and
/// PostgreSQL. A measurement, not a check: run it by name with
/// `--run-ignored only` (`AUDIT_BENCH_COUNT` deliveries of the realistic
/// profile, 3000 by default); it deletes its objects afterwards.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement, run by hand"]
async fn measure_audit_against_the_get_ceiling() {
    let count = std::env::var("AUDIT_BENCH_COUNT").ok().and_then(|n| n.parse().ok()).unwrap_or(3000);
    let (store, store_url) = bucket("audit-bench").await;
    let store: Arc<dyn ObjectStore> = Arc::new(store);
    let index_url = support::fresh_database("audit_bench").await;
    let index = archiver::index::open(&index_url).await.expect("index");
    let options = mockhop::StreamOptions { seed: 3, count, profile: "realistic".into(), topic_prefix: String::new() };
    let deliveries = mockhop::generate::generate(&options).expect("generates");
    crate::ops_tools::pipeline_archive_of(Arc::clone(&store), index, &deliveries).await;
    let env = s3_keys(service("ARCHIVER_TEST_S3_SECRET_KEY"));
    for concurrency in ["16", "64"] {
        for _ in 0..2 {
            let args = ["audit", "--json", "--store", &store_url, "--index", &index_url, "--concurrency", concurrency];
            let (code, out, err) = archiver(&args, &env);
            assert_eq!(code, 0, "{err}");
            let report: serde_json::Value = serde_json::from_str(&out).expect("JSON");
            let output = std::process::Command::new(support::binary("mockhop"))
                .args(["get-ceiling", "--index", &index_url, "--store", &store_url, "--concurrency", concurrency])
                .envs(env.iter().map(|(k, v)| (k, v)))
                .output()
                .expect("mockhop runs");
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            eprintln!(
                "concurrency {concurrency}: audit {} objects, {:.0} objects checked/s, {:.0} store keys/s; {}",
                report["counts"]["rows_checked"],
                report["throughput"]["objects_checked_per_second"].as_f64().unwrap_or_default(),
                report["throughput"]["store_keys_per_second"].as_f64().unwrap_or_default(),
                String::from_utf8_lossy(&output.stdout).trim()
            );
        }
    }
    let name = index_url.rsplit('/').next().expect("a database name").to_owned();
    support::admin_exec(&service("ARCHIVER_TEST_PG_URL"), format!("DROP DATABASE \"{name}\" WITH (FORCE)")).await;
    let mut after: Option<String> = None;
    loop {
        let page = store.list("", after.as_deref(), 1000).await.expect("lists");
        for object in &page.objects {
            store.delete(&object.key).await.expect("deletes");
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
}
