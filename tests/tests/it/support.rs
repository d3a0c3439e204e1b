//! Helpers shared by every test module.

pub use mockhop::testing::service;

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

/// `archiver serve` (the real binary) on an empty archive in `dir` (SQLite
/// and files), listening on `listen`; returns the process and the address
/// it logged once listening. The caller stops it.
pub fn spawn_serve(dir: &std::path::Path, listen: &str) -> (std::process::Child, String) {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(binary("archiver"))
        .args(["serve", "--listen-addr", listen, "--log-format", "json"])
        .arg(format!("--index-url=sqlite://{}", dir.join("index.db").display()))
        .arg(format!("--store-url=file://{}", dir.join("objects").display()))
        .env_remove("ARCHIVER_CONFIG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start archiver serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("serve logs its address before exiting").expect("log line");
        let log: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if let Some(addr) = log["addr"].as_str() {
            break addr.to_owned();
        }
    };
    // Keep reading, so that later log lines neither fill the pipe nor hit a closed one.
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
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

/// A PostgreSQL cluster of one test's own (`scripts/services.sh` names the
/// server binaries in `ARCHIVER_TEST_PG_BIN`), which it may stop the hard
/// way; stopped when dropped.
pub struct PrivatePostgres {
    bin: std::path::PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// Server settings beyond address and socket (`-c name=value …`).
    settings: String,
}

impl PrivatePostgres {
    /// Blocks for `initdb` and the start (about 2 s).
    pub fn start(settings: &str) -> PrivatePostgres {
        let bin = std::path::PathBuf::from(service("ARCHIVER_TEST_PG_BIN"));
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let cluster = PrivatePostgres { bin, dir, port, settings: settings.to_owned() };
        if is_root() {
            let chown = std::process::Command::new("chown").arg("postgres:").arg(cluster.dir.path()).status();
            assert!(chown.is_ok_and(|s| s.success()), "chown of the cluster's directory to postgres");
        }
        cluster.pg(&["initdb", "-D", &cluster.data(), "-A", "trust", "-U", "postgres", "--no-sync"]);
        cluster.start_again();
        cluster
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl stop -m immediate`: the postmaster and its backends are
    /// killed, shared memory (unwritten WAL included) is lost.
    pub fn stop_immediately(&self) {
        self.pg(&["pg_ctl", "-D", &self.data(), "-w", "-m", "immediate", "stop"]);
    }

    pub fn start_again(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off {}",
            self.port,
            self.dir.path().display(),
            self.settings
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.pg(&["pg_ctl", "-D", &self.data(), "-l", &log, "-w", "-o", &options, "start"]);
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// A server program, as the postgres user when the test runs as root
    /// (initdb and postgres refuse to run as root).
    fn command(&self, program: &str) -> std::process::Command {
        let program = self.bin.join(program);
        if is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            std::process::Command::new(program)
        }
    }

    fn pg(&self, args: &[&str]) {
        let out = self.command(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.command("pg_ctl").args(["-D", &self.data(), "-m", "immediate", "stop"]).output();
    }
}

fn is_root() -> bool {
    std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// A Kafka broker (tansu, in memory) of one test's own, which it may stop;
/// `scripts/services.sh` names the binary in `ARCHIVER_TEST_TANSU_BIN`.
pub struct PrivateKafka {
    process: std::process::Child,
    pub brokers: String,
}

impl PrivateKafka {
    pub async fn start() -> PrivateKafka {
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let process = std::process::Command::new(service("ARCHIVER_TEST_TANSU_BIN"))
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("tansu starts");
        // Owned at once, so that a broker that never listens is still killed.
        let kafka = PrivateKafka { process, brokers: format!("127.0.0.1:{port}") };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(&kafka.brokers).await.is_ok() {
                return kafka;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("tansu does not listen on {}", kafka.brokers);
    }

    /// SIGKILL: the broker is gone, as in a crash.
    pub fn kill(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Drop for PrivateKafka {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Every record of `topic` (each partition from its start to its end),
/// read with a plain librdkafka consumer without a group. The end of a
/// partition is where librdkafka reports EOF, at the high watermark of a
/// fetch response: tansu 0.6 answered ListOffsets (`fetch_watermarks`)
/// with a stale high watermark (605 for a partition whose records went to
/// offset 642). Blocks; panics when the end is not reached within `timeout`.
pub fn read_topic(
    connection: &archiver::source::KafkaConnection,
    topic: &str,
    timeout: std::time::Duration,
) -> Vec<rdkafka::message::OwnedMessage> {
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    let consumer: BaseConsumer = connection
        .client_config()
        .set("group.id", "hop-archiver-tests-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("fetch.message.max.bytes", "4000000")
        .create()
        .expect("consumer");
    let mut assignment = rdkafka::TopicPartitionList::new();
    // One consumer per topic: an EOF names only its partition.
    let mut open: std::collections::BTreeSet<i32> = (0..partition_count_with(&consumer, topic)).collect();
    for partition in &open {
        assignment.add_partition_offset(topic, *partition, rdkafka::Offset::Beginning).expect("partition");
    }
    let mut seen = Vec::new();
    if open.is_empty() {
        return seen;
    }
    consumer.assign(&assignment).expect("assign");
    let deadline = std::time::Instant::now() + timeout;
    while !open.is_empty() {
        assert!(std::time::Instant::now() < deadline, "{topic}: partitions {open:?} not read to their end");
        match consumer.poll(std::time::Duration::from_millis(500)) {
            None => {}
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(partition))) => {
                open.remove(&partition);
            }
            Some(result) => seen.push(result.expect("consume").detach()),
        }
    }
    seen
}

/// The partition count of `topic` as `consumer` sees it (0: the cluster
/// does not have it).
pub fn partition_count_with(consumer: &rdkafka::consumer::BaseConsumer, topic: &str) -> i32 {
    use rdkafka::consumer::Consumer as _;
    let metadata = consumer.fetch_metadata(Some(topic), std::time::Duration::from_secs(10)).expect("metadata");
    let found = metadata.topics().iter().find(|t| t.name() == topic && t.error().is_none());
    found.map_or(0, |t| i32::try_from(t.partitions().len()).expect("partition count"))
}
