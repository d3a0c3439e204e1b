#!/usr/bin/env python3
"""make bench-status: how fast `archiver status`, `GET /topics` and
`GET /messages/count` answer on a large PostgreSQL index (issue 14's
target: under 100 ms at 10 million rows), and how fast the browse pages
render on it (issue 16's target: under 300 ms). A bench, not a test: it
prints figures against the targets and never fails because of one.

  1. a private PostgreSQL cluster (initdb into the work directory, its own
     port, fsync off: only the load writes, the measured reads do not);
  2. the schema from `archiver status` itself (it applies the migrations);
  3. BENCH_STATUS_ROWS rows straight into `messages` by generate_series,
     in chunks of a million, each chunk adding its `topic_counts` deltas in
     the same statement exactly as `insert_batch` does (a data-modifying
     WITH over the inserted rows): 40 topics of skewed sizes, timestamps in
     ingest order over BENCH_STATUS_SPAN_DAYS days up to now, 1-10 KB
     objects, 1 % conflicts, 0.1 % retracted; then VACUUM ANALYZE, as
     autovacuum would;
  4. the figures: `archiver status --json` (wall time of the process:
     start-up, connecting, the migration check, three queries), checked
     against a full count of `messages` (a mismatch is a failure); then
     `archiver serve` (every topic public) and `GET /topics` — uncached
     (each request after the API's 5 s topic cache expired) and cached —
     and `GET /messages/count` over every topic and over one topic, each the
     median of BENCH_STATUS_REQUESTS requests on a fresh connection. For
     contrast (no target): a bounded count (the last hour, still one
     `COUNT(*)`), and the statements these answers replaced: the full
     `COUNT(*)` and the full `GROUP BY topic`.

The binaries are the debug build (`cargo build -p hop-archiver`, as the
rest of the workspace's tooling here); set BENCH_STATUS_ARCHIVER to time
another `archiver` (say a release build). The archiver's own CPU is a small
part of these figures: the database's work dominates.

Settings (environment):
  BENCH_STATUS_ROWS=10000000   rows in the index (e.g. 1000000 for a quick run); about
                               650 bytes a row of disk under TMPDIR while it runs
  BENCH_STATUS_SPAN_DAYS=365   the timestamps' span, ending now
  BENCH_STATUS_REQUESTS=7      measured requests (and status runs) per figure
  BENCH_STATUS_ARCHIVER=       an archiver binary to use instead of building one
  BENCH_KEEP=0                 1 keeps the work directory (cluster, logs)
"""

from __future__ import annotations

import glob
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 100.0
# The browse pages' target (issue 16), for the whole HTML page.
PAGE_TARGET_MS = 300.0
TOPICS = 40
CHUNK = 1_000_000
TOPIC_CACHE_S = 5.0  # TOPIC_STATS_TTL in archiver/src/api/mod.rs


class BenchError(Exception):
    """A failed step: the message is printed and the bench exits 1."""


def say(message: str) -> None:
    print(f"bench-status: {message}", file=sys.stderr, flush=True)


def whole(name: str, default: int, least: int) -> int:
    value = os.environ.get(name) or str(default)
    if not re.fullmatch(r"[0-9]+", value) or int(value) < least:
        raise BenchError(f"{name} must be a whole number of at least {least}, not '{value}'")
    return int(value)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin() -> Path:
    given = os.environ.get("ARCHIVER_TEST_PG_BIN")
    candidates = ([given] if given else []) + sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise BenchError("PostgreSQL server binaries (initdb, pg_ctl) not found: install postgresql-15")


class Cluster:
    """A private PostgreSQL cluster in `work`, run as the postgres user when we are root."""

    def __init__(self, work: Path):
        self.bin = pg_bin()
        self.dir = work / "pg"
        self.port = free_port()
        self.started = False

    def command(self, program: str, *args: str) -> list[str]:
        argv = [str(self.bin / program), *args]
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def run(self, program: str, *args: str) -> None:
        done = subprocess.run(self.command(program, *args), stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if done.returncode != 0:
            raise BenchError(f"{program} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> None:
        self.dir.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self.run("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off -c full_page_writes=off "
            "-c synchronous_commit=off -c maintenance_work_mem=256MB -c max_wal_size=1GB "
            # Index builds write no WAL: less disk, less time.
            "-c wal_level=minimal -c max_wal_senders=0"
        )
        self.run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "server.log"), "-w", "-o", options, "start")
        self.started = True

    def stop(self) -> None:
        if self.started:
            subprocess.run(
                self.command("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop"),
                stdin=subprocess.DEVNULL,
                capture_output=True,
            )
            self.started = False

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "bench") -> str:
        """Runs `sql` (one or more statements) and returns the unaligned output."""
        argv = [str(self.bin / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", self.url(database)]
        done = subprocess.run(argv, input=sql, capture_output=True, text=True)
        if done.returncode != 0:
            raise BenchError(f"psql failed: {done.stderr.strip()}\n{sql[:500]}")
        return done.stdout

    def timed_ms(self, sql: str) -> float:
        """Server-side planning and execution time of one statement (EXPLAIN ANALYZE's, warm)."""
        self.psql(sql)  # warm the cache first, as the measured answers are
        plan = json.loads(self.psql(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}"))[0]
        return float(plan["Planning Time"]) + float(plan["Execution Time"])


# One chunk: rows lo..hi in ingest order, and their deltas in the same
# statement, as `insert_batch` adds them.
LOAD_CHUNK = """
WITH inserted AS (
  INSERT INTO messages (topic, "timestamp", uuid, size, key, bucket, crc32, is_client_uuid, public, direct_upload,
                        message_crc32, title, sender, media_type, file_name, originator, retracted, "partition",
                        kafka_offset, timestamp_type, ingested_at, fingerprint, claimed_uuid)
  SELECT topic, ts, u, size,
         topic || '/' || to_char(to_timestamp(ts / 1000.0) AT TIME ZONE 'UTC', 'YYYY/MM/DD') || '/' || u || '.bson',
         'bench', 12345, i % 100 <> 3, false, false,
         54321, '', '', 'application/json', '', '', i % 1000 = 7, (i % 3)::int,
         i, 'create', ts, decode(md5(i::text) || md5((-i)::text), 'hex'),
         CASE WHEN i % 100 = 3 THEN gen_random_uuid() END
  FROM (SELECT i, gen_random_uuid() AS u,
               -- skewed: the low-numbered topics hold most rows (a cube of a uniform draw)
               'bench.topic-' || lpad((floor(power(((i * 2654435761) % 1000003) / 1000003.0, 3) * {topics}))::int::text, 2, '0') AS topic,
               {start} + (i * {step})::bigint + (i % 7) AS ts,
               1000 + ((i * 7919) % 9000)::int AS size
        FROM generate_series({lo}::bigint, {hi}::bigint) AS i) AS g
  RETURNING topic, "timestamp", size, claimed_uuid, retracted)
INSERT INTO topic_counts (topic, messages, size_bytes, earliest_ms, latest_ms, conflicts, retracted)
SELECT topic, COUNT(*), SUM(size), MIN("timestamp"), MAX("timestamp"), COUNT(claimed_uuid),
       COUNT(*) FILTER (WHERE retracted)
FROM inserted GROUP BY topic;
"""

FULL_COUNT = """
SELECT topic, count(*), COALESCE(sum(size), 0), min("timestamp"), max("timestamp"), count(claimed_uuid),
       count(*) FILTER (WHERE retracted)
FROM messages GROUP BY topic ORDER BY topic COLLATE "C"
"""


# The statements `archiver status` sends (src/index/sql.rs), for their
# server-side times.
STATS_SINCE = """
SELECT topic, COUNT(*) AS count, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS size_bytes,
       MIN("timestamp") AS earliest_ms, MAX("timestamp") AS latest_ms, COUNT(claimed_uuid) AS conflicts,
       CAST(SUM(CASE WHEN retracted THEN 1 ELSE 0 END) AS BIGINT) AS retracted
FROM messages WHERE "timestamp" >= {since} GROUP BY topic ORDER BY topic COLLATE "C"
"""
STATS_OF_COUNTS = """
SELECT topic, CAST(SUM(messages) AS BIGINT) AS count, CAST(SUM(size_bytes) AS BIGINT) AS size_bytes,
       MIN(earliest_ms) AS earliest_ms, MAX(latest_ms) AS latest_ms, CAST(SUM(conflicts) AS BIGINT) AS conflicts,
       CAST(SUM(retracted) AS BIGINT) AS retracted
FROM topic_counts GROUP BY topic HAVING SUM(messages) > 0 ORDER BY topic COLLATE "C"
"""


def get(port: int, path: str, accept: str = "application/json") -> tuple[float, int, bytes]:
    """One GET on a fresh connection: (ms, status, body)."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path, headers={"Accept": accept})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    return (time.perf_counter() - started) * 1000, response.status, body


def build_archiver(work: Path) -> str:
    """The debug `archiver` (`cargo build -p hop-archiver`), its log in `work`."""
    log = work / "build.log"
    with open(log, "wb") as out:
        built = subprocess.run(["cargo", "build", "-p", "hop-archiver"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    if built.returncode != 0:
        raise BenchError(f"build failed; see {log}")
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    return str((target if target.is_absolute() else ROOT / target) / "debug" / "archiver")


def start_serve(archiver: str, work: Path, index_url: str) -> tuple[subprocess.Popen, int]:
    """`archiver serve` on `index_url`, every topic public, once it listens:
    (the process, its port). The environment's ARCHIVER_* settings are not
    passed on, so only the flags configure it."""
    port = free_port()
    log = open(work / "serve.log", "wb")
    serve = subprocess.Popen(
        [archiver, "serve", "--index-url", index_url, "--store-url", f"file://{work / 'objects'}",
         "--listen-addr", f"127.0.0.1:{port}", "--public-topics", "*"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")},
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        if serve.poll() is not None:
            raise BenchError(f"archiver serve exited; see {work / 'serve.log'}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return serve, port
        except OSError:
            time.sleep(0.1)
    stop_serve(serve)
    raise BenchError("archiver serve did not listen within 60 s")


def stop_serve(serve: subprocess.Popen | None) -> None:
    if serve is not None and serve.poll() is None:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()


class Bench:
    def __init__(self, work: Path):
        self.work = work
        self.rows = whole("BENCH_STATUS_ROWS", 10_000_000, 1)
        self.span_days = whole("BENCH_STATUS_SPAN_DAYS", 365, 1)
        self.requests = whole("BENCH_STATUS_REQUESTS", 7, 1)
        self.cluster = Cluster(work)
        self.archiver = os.environ.get("BENCH_STATUS_ARCHIVER", "")
        self.serve: subprocess.Popen | None = None
        self.serve_port = 0
        self.figures: list[tuple[str, list[float], float | None]] = []  # (what, ms per run, target ms or None)

    def build(self) -> None:
        if self.archiver:
            return
        say("building the archiver (cargo build -p hop-archiver; may wait for cargo's lock)")
        self.archiver = build_archiver(self.work)

    def status(self, database: str = "bench") -> tuple[float, dict]:
        started = time.perf_counter()
        done = subprocess.run(
            [self.archiver, "status", "--json", "--index-url", self.cluster.url(database)],
            capture_output=True,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")},
        )
        ms = (time.perf_counter() - started) * 1000
        if done.returncode != 0:
            raise BenchError(f"archiver status failed: {done.stderr.strip()}")
        return ms, json.loads(done.stdout)

    def load(self) -> None:
        # About 610 bytes a row with its indexes (measured), and the WAL.
        need = self.rows * 650 + 2 * 1024**3
        free = shutil.disk_usage(self.work).free
        if free < need:
            raise BenchError(
                f"{self.rows:,} rows need about {need / 1024**3:.1f} GiB under {self.work}, "
                f"{free / 1024**3:.1f} GiB are free: set TMPDIR elsewhere or BENCH_STATUS_ROWS lower"
            )
        say(f"private PostgreSQL on port {self.cluster.port}")
        self.cluster.start()
        self.cluster.psql("CREATE DATABASE bench", database="postgres")
        self.cluster.psql("CREATE DATABASE empty", database="postgres")
        self.status()  # applies the migrations to the empty database
        # Loading into a table without its indexes and building them after
        # is about twice as fast, and the built indexes are packed (about
        # half the disk): the timestamp index grows the same way in an
        # archive, which appends in ingest order.
        indexes = self.cluster.psql(
            "SELECT indexname || '|' || indexdef FROM pg_indexes WHERE tablename = 'messages' "
            "AND indexname NOT IN ('messages_pkey', 'messages_uuid_idx')"
        ).splitlines()
        drops = "".join(f"DROP INDEX {line.split('|')[0]};" for line in indexes if line)
        # message_ts (the text search entries, none here) references the uuid
        # constraint: its foreign key goes and comes back with it.
        self.cluster.psql(
            "ALTER TABLE message_ts DROP CONSTRAINT message_ts_uuid_fkey; "
            f"ALTER TABLE messages DROP CONSTRAINT messages_uuid_idx; {drops}"
        )
        now_ms = int(time.time() * 1000)
        span_ms = self.span_days * 86_400_000
        step = span_ms / self.rows
        loaded = time.perf_counter()
        for lo in range(1, self.rows + 1, CHUNK):
            hi = min(lo + CHUNK - 1, self.rows)
            chunk = time.perf_counter()
            self.cluster.psql(LOAD_CHUNK.format(lo=lo, hi=hi, topics=TOPICS, start=now_ms - span_ms, step=repr(step)))
            say(f"loaded rows {lo:,}-{hi:,} in {time.perf_counter() - chunk:.0f} s")
        say(f"{self.rows:,} rows in {time.perf_counter() - loaded:.0f} s; building {len(indexes) + 1} indexes")
        built = time.perf_counter()
        self.cluster.psql(
            "ALTER TABLE messages ADD CONSTRAINT messages_uuid_idx UNIQUE (uuid); "
            "ALTER TABLE message_ts ADD CONSTRAINT message_ts_uuid_fkey FOREIGN KEY (uuid) "
            "REFERENCES messages (uuid) ON DELETE CASCADE;"
        )
        for line in indexes:
            if line:
                self.cluster.psql(line.split("|", 1)[1] + ";")
        say(f"indexes built in {time.perf_counter() - built:.0f} s; VACUUM ANALYZE")
        self.cluster.psql("VACUUM ANALYZE messages; VACUUM ANALYZE topic_counts;")

    def measure_status(self) -> dict:
        say("archiver status --json")
        runs, doc = [], {}
        for _ in range(self.requests):
            ms, doc = self.status()
            runs.append(ms)
        self.figures.append(("archiver status --json (process wall)", runs, TARGET_MS))
        self.status("empty")
        empty = [self.status("empty")[0] for _ in range(self.requests)]
        self.figures.append(("  the same on an empty index (start-up, connect, migrations)", empty, None))
        for name in ("24h", "1h"):
            since = doc["since_ms"][name]
            sql = STATS_SINCE.format(since=since)
            self.figures.append((f"  server side: the {name} window's statement", [self.cluster.timed_ms(sql)], None))
        self.figures.append(("  server side: the summed deltas", [self.cluster.timed_ms(STATS_OF_COUNTS)], None))
        counted = [line.split("|") for line in self.cluster.psql(FULL_COUNT).splitlines() if line]
        want = [
            {"topic": t, "messages": int(n), "size_bytes": int(b), "earliest_ms": int(e), "latest_ms": int(l),
             "conflicts": int(c), "retracted": int(r)}
            for t, n, b, e, l, c, r in counted
        ]
        got = [{"topic": t["topic"], **t["all"]} for t in doc["topics"]]
        if got != want:
            raise BenchError("archiver status disagrees with a full count of messages: the statistics are wrong")
        say(f"status agrees with a full count: {len(want)} topics, {sum(w['messages'] for w in want):,} rows")
        return doc

    def start_serve(self) -> int:
        self.serve, port = start_serve(self.archiver, self.work, self.cluster.url("bench"))
        return port

    def requests_ms(self, port: int, path: str, pause_s: float = 0.0, accept: str = "application/json") -> list[float]:
        runs = []
        for _ in range(self.requests):
            if pause_s:
                time.sleep(pause_s)
            ms, status, body = get(port, path, accept)
            if status != 200:
                raise BenchError(f"GET {path}: {status} {body[:200]!r}")
            runs.append(ms)
        return runs

    def measure_api(self, doc: dict) -> None:
        port = self.start_serve()
        self.serve_port = port
        say(f"archiver serve on port {port}; GET /topics uncached takes {self.requests} x {TOPIC_CACHE_S:.0f} s")
        biggest = max(doc["topics"], key=lambda t: t["all"]["messages"])["topic"]
        total = doc["totals"]["all"]["messages"]
        ms, status, body = get(port, "/messages/count")
        if status != 200 or json.loads(body)["count"] != total:
            raise BenchError(f"GET /messages/count answered {status} {body[:200]!r}, not {total}")
        self.figures.append(("GET /topics (uncached)", self.requests_ms(port, "/topics", TOPIC_CACHE_S + 0.2), TARGET_MS))
        self.figures.append(("GET /topics (cached)", self.requests_ms(port, "/topics"), TARGET_MS))
        self.figures.append(("GET /messages/count (every topic)", self.requests_ms(port, "/messages/count"), TARGET_MS))
        one = f"/messages/count?topic={biggest}"
        self.figures.append((f"GET {one}", self.requests_ms(port, one), TARGET_MS))
        hour = f"/messages/count?start_time={doc['now_ms'] - 3_600_000}"
        self.figures.append((f"GET /messages/count?start_time=<1 h ago> (COUNT(*))", self.requests_ms(port, hour), None))

    def measure_pages(self, doc: dict) -> None:
        """The browse pages, whole HTML documents, on the same server."""
        port = self.serve_port
        biggest = max(doc["topics"], key=lambda t: t["all"]["messages"])["topic"]
        day_ago = doc["now_ms"] - 86_400_000
        pages = [
            ("GET / (front page: topics, 7-day charts)", "/"),
            (f"GET /browse/topic/{biggest} (30-day chart, 50 rows)", f"/browse/topic/{biggest}"),
            (f"GET /browse/topic/{biggest}?from=<1 day ago>", f"/browse/topic/{biggest}?from={day_ago}"),
            ("GET /browse/messages (every topic)", "/browse/messages"),
            ("GET /browse/status", "/browse/status"),
        ]
        for what, path in pages:
            self.figures.append((what, self.requests_ms(port, path, accept="text/html"), PAGE_TARGET_MS))

    def measure_replaced(self) -> None:
        say("the statements these answers replaced (server-side planning and execution time)")
        self.figures.append(
            ("SELECT count(*) FROM messages (the old /messages/count)", [self.cluster.timed_ms("SELECT count(*) FROM messages")], False)
        )
        self.figures.append(("full GROUP BY topic (the old topic_stats)", [self.cluster.timed_ms(FULL_COUNT)], None))

    def report(self, doc: dict) -> str:
        windows = ", ".join(
            f"{name}: {doc['totals'][name]['messages']:,} rows" for name in ("24h", "1h")
        )
        size = self.cluster.psql("SELECT pg_size_pretty(pg_total_relation_size('messages'))").strip()
        deltas = self.cluster.psql("SELECT count(*) FROM topic_counts").strip()
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        lines = [
            f"\nmachine load average (1, 5, 15 min) at the end: {load} on {os.cpu_count()} CPUs",
            f"{doc['totals']['all']['messages']:,} rows in {len(doc['topics'])} topics ({size} with indexes; "
            f"{deltas} delta rows); windows {windows}",
            f"{'what':<62} {'first':>9} {'median':>9} {'max':>9}  target",
        ]
        for what, runs, target_ms in self.figures:
            med = statistics.median(runs)
            verdict = f"{'met' if med < target_ms else 'MISSED'} ({target_ms:.0f} ms)" if target_ms else "(contrast)"
            lines.append(f"{what:<62} {runs[0]:>7.1f}ms {med:>7.1f}ms {max(runs):>7.1f}ms  {verdict}")
        return "\n".join(lines) + "\n"

    def stop(self) -> None:
        stop_serve(self.serve)
        self.cluster.stop()


def interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="hop-bench-status.", dir=os.environ.get("TMPDIR") or "/tmp"))
    if os.geteuid() == 0:
        os.chmod(work, 0o755)  # the postgres user creates the cluster inside
    signal.signal(signal.SIGTERM, interrupted)
    bench = None
    rc = 1
    try:
        bench = Bench(work)
        bench.build()
        bench.load()
        doc = bench.measure_status()
        bench.measure_api(doc)
        bench.measure_pages(doc)
        bench.measure_replaced()
        print(bench.report(doc), end="")
        rc = 0
    except BenchError as err:
        say(f"error: {err}")
    except KeyboardInterrupt:
        say("interrupted")
        rc = 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if bench is not None:
            bench.stop()
        if rc == 0 and os.environ.get("BENCH_KEEP", "0") != "1":
            shutil.rmtree(work, ignore_errors=True)
        else:
            say(f"work directory kept: {work}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
