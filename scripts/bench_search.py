#!/usr/bin/env python3
"""make bench-search: how fast `GET /messages?search_query=…` answers on a
large PostgreSQL index (issue 16's target: under 200 ms for a selective
query at 1 million indexed messages). A bench, not a test: it prints
figures against the target and never fails because of one.

  1. a private PostgreSQL cluster (bench_status.py's: initdb into the work
     directory, its own port, fsync off);
  2. the schema from `archiver status` itself (it applies the migrations);
  3. BENCH_SEARCH_ROWS rows straight into `messages` and their text entries
     into `message_ts` (`to_tsvector('english', text)`, as `insert_batch`
     writes them), in chunks of 200 000: 40 topics of skewed sizes,
     timestamps over a year, each text 40 words drawn from a vocabulary of
     2 000 with an event name `S<hex>` unique to the message, and the word
     `kilonova` in one message of 10 000; the GIN index built after the
     load, then VACUUM ANALYZE;
  4. `archiver serve` (every topic public) and, each the median of
     BENCH_SEARCH_REQUESTS requests on a fresh connection: selective
     searches (the rare word, one event name, a rare phrase), each as a
     metadata page (`meta=true`, the first 64) and as a count; for
     contrast (no target), a word found in about one message of 20 and
     one in most of them.

Settings (environment):
  BENCH_SEARCH_ROWS=1000000    rows in the index (e.g. 100000 for a quick run); about
                               1.5 KB a row of disk under TMPDIR while it runs
  BENCH_SEARCH_REQUESTS=7      measured requests per figure
  BENCH_SEARCH_ARCHIVER=       an archiver binary to use instead of building one
  BENCH_KEEP=0                 1 keeps the work directory (cluster, logs)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_status import BenchError, Cluster, build_archiver, get, start_serve, stop_serve, whole  # noqa: E402

TARGET_MS = 200.0
TOPICS = 40
CHUNK = 200_000
VOCABULARY = 2000


def say(message: str) -> None:
    print(f"bench-search: {message}", file=sys.stderr, flush=True)


# One chunk of rows lo..hi and their text entries in one statement, as
# `insert_batch` writes them. Words are `w<n>` plus a few real ones, so
# English stemming leaves them alone; `kilonova` in one row of 10 000.
LOAD_CHUNK = """
WITH input AS (
  SELECT i, gen_random_uuid() AS u,
         'bench.topic-' || lpad((floor(power(((i * 2654435761) % 1000003) / 1000003.0, 3) * {topics}))::int::text, 2, '0') AS topic,
         {start} + (i * {step})::bigint + (i % 7) AS ts,
         1000 + ((i * 7919) % 9000)::int AS size,
         'S' || to_hex(i * 2654435761 % 4294967291) || ' '
           || (SELECT string_agg(CASE WHEN k = 7 AND i % 20 = 3 THEN 'afterglow'
                                      WHEN k = 9 THEN 'neutrino'
                                      ELSE 'w' || ((i * 31 + k * 7919 + k * k * i) % {vocabulary}) END, ' ')
               FROM generate_series(1, 40) AS k)
           || CASE WHEN i % 10000 = 17 THEN ' kilonova candidate' ELSE '' END AS body
  FROM generate_series({lo}::bigint, {hi}::bigint) AS i),
inserted AS (
  INSERT INTO messages (topic, "timestamp", uuid, size, key, bucket, crc32, is_client_uuid, public, direct_upload,
                        message_crc32, title, sender, media_type, file_name, originator, retracted, "partition",
                        kafka_offset, timestamp_type, ingested_at, fingerprint, claimed_uuid, text_fully_indexed)
  SELECT topic, ts, u, size, topic || '/' || u || '.bson', 'bench', 12345, true, true, false,
         54321, '', '', 'application/json', '', '', false, (i % 3)::int,
         i, 'create', ts, decode(md5(i::text) || md5((-i)::text), 'hex'), NULL, true
  FROM input
  RETURNING uuid, topic, "timestamp", size),
texts AS (
  INSERT INTO message_ts (uuid, text_data, text_fully_indexed)
  SELECT input.u, to_tsvector('english', input.body), true FROM input JOIN inserted ON inserted.uuid = input.u)
INSERT INTO topic_counts (topic, messages, size_bytes, earliest_ms, latest_ms, conflicts, retracted)
SELECT topic, COUNT(*), SUM(size), MIN("timestamp"), MAX("timestamp"), 0, 0 FROM inserted GROUP BY topic;
"""


class Bench:
    def __init__(self, work: Path):
        self.work = work
        self.rows = whole("BENCH_SEARCH_ROWS", 1_000_000, 10_000)
        self.requests = whole("BENCH_SEARCH_REQUESTS", 7, 1)
        self.cluster = Cluster(work)
        self.archiver = os.environ.get("BENCH_SEARCH_ARCHIVER", "")
        self.serve: subprocess.Popen | None = None
        self.figures: list[tuple[str, list[float], int, bool]] = []  # (what, ms per request, matches, has a target)

    def build(self) -> None:
        if self.archiver:
            return
        say("building the archiver (cargo build -p hop-archiver; may wait for cargo's lock)")
        self.archiver = build_archiver(self.work)

    def env(self) -> dict:
        return {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")}

    def load(self) -> None:
        need = self.rows * 1500 + 2 * 1024**3
        free = shutil.disk_usage(self.work).free
        if free < need:
            raise BenchError(f"{self.rows:,} rows need about {need / 1024**3:.1f} GiB under {self.work}, {free / 1024**3:.1f} GiB free")
        say(f"private PostgreSQL on port {self.cluster.port}")
        self.cluster.start()
        self.cluster.psql("CREATE DATABASE bench", database="postgres")
        done = subprocess.run([self.archiver, "status", "--index-url", self.cluster.url("bench")], capture_output=True,
                              text=True, env=self.env())
        if done.returncode != 0:
            raise BenchError(f"archiver status (migrations) failed: {done.stderr.strip()}")
        self.cluster.psql("DROP INDEX message_ts_idx;")
        span_ms = 365 * 86_400_000
        start, step = int(time.time() * 1000) - span_ms, span_ms / self.rows
        loaded = time.perf_counter()
        for lo in range(1, self.rows + 1, CHUNK):
            hi = min(lo + CHUNK - 1, self.rows)
            chunk = time.perf_counter()
            self.cluster.psql(LOAD_CHUNK.format(lo=lo, hi=hi, topics=TOPICS, start=start, step=repr(step), vocabulary=VOCABULARY))
            say(f"loaded rows {lo:,}-{hi:,} with their vectors in {time.perf_counter() - chunk:.0f} s")
        say(f"{self.rows:,} rows in {time.perf_counter() - loaded:.0f} s; building the GIN index")
        built = time.perf_counter()
        self.cluster.psql("CREATE INDEX message_ts_idx ON message_ts USING GIN (text_data);")
        say(f"GIN index built in {time.perf_counter() - built:.0f} s; VACUUM ANALYZE")
        self.cluster.psql("VACUUM ANALYZE messages; VACUUM ANALYZE message_ts; VACUUM ANALYZE topic_counts;")

    def start_serve(self) -> int:
        self.serve, port = start_serve(self.archiver, self.work, self.cluster.url("bench"))
        return port

    def measure(self, port: int, what: str, query: str, targeted: bool) -> None:
        encoded = "".join(c if c.isalnum() else f"%{ord(c):02X}" for c in query)
        _, status, body = get(port, f"/messages/count?search_query={encoded}")
        if status != 200:
            raise BenchError(f"count {query!r}: {status} {body[:200]!r}")
        count = json.loads(body)["count"]
        for path, kind in ((f"/messages?meta=true&search_query={encoded}", "page"), (f"/messages/count?search_query={encoded}", "count")):
            runs = []
            for _ in range(self.requests):
                ms, status, body = get(port, path)
                if status != 200:
                    raise BenchError(f"GET {path}: {status} {body[:200]!r}")
                runs.append(ms)
            self.figures.append((f"{what} ({kind})", runs, count, targeted))

    def measure_all(self) -> None:
        port = self.start_serve()
        event = "S" + format(12345 * 2654435761 % 4294967291, "x")
        say(f"archiver serve on port {port}")
        self.measure(port, "rare word: kilonova", "kilonova", True)
        self.measure(port, f"one event: {event}", event, True)
        self.measure(port, "rare phrase: \"kilonova candidate\"", "\"kilonova candidate\"", True)
        self.measure(port, "rare word and an exclusion", "kilonova -w1", True)
        self.measure(port, "1 in 20: afterglow", "afterglow", False)
        self.measure(port, "in every message: neutrino", "neutrino", False)

    def report(self) -> str:
        size = self.cluster.psql("SELECT pg_size_pretty(pg_total_relation_size('message_ts'))").strip()
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        lines = [
            f"\nmachine load average (1, 5, 15 min) at the end: {load} on {os.cpu_count()} CPUs",
            f"{self.rows:,} rows, message_ts {size} with its GIN index; debug build; "
            f"each figure the median of {self.requests} requests on a fresh connection",
            f"{'what':<52} {'matches':>8} {'first':>9} {'median':>9} {'max':>9}  target {TARGET_MS:.0f} ms",
        ]
        for what, runs, count, targeted in self.figures:
            med = statistics.median(runs)
            verdict = ("met" if med < TARGET_MS else "MISSED") if targeted else "(contrast)"
            lines.append(f"{what:<52} {count:>8,} {runs[0]:>7.1f}ms {med:>7.1f}ms {max(runs):>7.1f}ms  {verdict}")
        return "\n".join(lines) + "\n"

    def stop(self) -> None:
        stop_serve(self.serve)
        self.cluster.stop()


def interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="hop-bench-search.", dir=os.environ.get("TMPDIR") or "/tmp"))
    if os.geteuid() == 0:
        os.chmod(work, 0o755)  # the postgres user creates the cluster inside
    signal.signal(signal.SIGTERM, interrupted)
    bench = None
    rc = 1
    try:
        bench = Bench(work)
        bench.build()
        bench.load()
        bench.measure_all()
        print(bench.report(), end="")
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
