//! Helpers shared by every test module.

/// The value of a service variable written by `scripts/services.sh start`.
///
/// A test that needs a real server fails (never skips) when the variable is
/// missing, so a run without services cannot pass by testing nothing.
pub fn service(var: &str) -> String {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{var} is not set: this test needs the real services. Run `make test`, \
             or `scripts/services.sh start && . .services/env` before `cargo nextest run`."
        ),
    }
}

/// Runs one SQL statement on the PostgreSQL server at `admin`.
pub async fn admin_exec(admin: &str, sql: String) {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .unwrap_or_else(|e| panic!("connect to ARCHIVER_TEST_PG_URL {admin}: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(sql.clone())).execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// `admin` (a PostgreSQL URL) pointing at database `name` instead.
pub fn with_database(admin: &str, name: &str) -> String {
    let (base, params) = admin.split_once('?').map_or((admin, None), |(b, p)| (b, Some(p)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..].find('/').map_or(base.len(), |i| authority + i);
    let mut url = format!("{}/{name}", &base[..path]);
    if let Some(params) = params {
        url = format!("{url}?{params}");
    }
    url
}

/// A new, empty PostgreSQL database on the test server; returns its URL.
pub async fn fresh_database(prefix: &str) -> String {
    let admin = service("ARCHIVER_TEST_PG_URL");
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    admin_exec(&admin, format!("CREATE DATABASE \"{name}\"")).await;
    with_database(&admin, &name)
}

/// A workspace binary built next to this test binary (`cargo nextest run
/// --workspace` builds them all).
pub fn binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(std::path::Path::parent).expect("target directory");
    let path = dir.join(name);
    assert!(path.exists(), "{} is missing: build it with `cargo build --workspace`", path.display());
    path
}

/// The s3s-fs server binary that `scripts/services.sh` installs.
pub fn s3s_fs_binary() -> std::path::PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("s3s-fs")).find(|b| b.exists()))
        .unwrap_or_default();
    let in_cargo = std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cargo/bin/s3s-fs"));
    on_path.or(in_cargo.filter(|b| b.exists())).expect("s3s-fs is not installed: run scripts/services.sh start")
}

/// An S3 store on the test server (`ARCHIVER_TEST_S3_ENDPOINT`) for
/// `bucket`, signing with `secret` (the real one, or a wrong one to test
/// refusals). The bucket is not created.
pub async fn s3_store(bucket: &str, secret: &str) -> archiver::store::S3Store {
    archiver::store::S3Store::new(archiver::store::S3Config {
        bucket: bucket.to_owned(),
        endpoint: Some(service("ARCHIVER_TEST_S3_ENDPOINT")),
        region: "us-east-1".to_owned(),
        path_style: true,
        credentials: Some((service("ARCHIVER_TEST_S3_ACCESS_KEY"), secret.to_owned())),
        ..archiver::store::S3Config::new(bucket)
    })
    .await
}
