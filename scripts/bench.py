#!/usr/bin/env python3
"""make bench: end-to-end throughput and memory of `archiver run` and
`archiver restore`, measured against ceilings taken in the same run (README:
performance is measured, not timed in tests; the history of runs is in
docs/benchmarks.md).

For a backlog of BENCH_COUNT realistic messages (1-10 KB) and then one of
BENCH_LARGE_COUNT, on private servers (PostgreSQL, s3s-fs, tansu):
  1. produce the seeded mockhop stream into tansu;
  2. ceiling: PUT exactly the objects the archive must hold into a fresh
     bucket, with as many requests in flight as the archiver may have
     (`mockhop put-ceiling`);
  3. `archiver run --until-eos` into a fresh database, bucket and consumer
     group (wall time; CPU seconds and peak RSS from the kernel's rusage of
     the process, as `/usr/bin/time -v` reports them), then `mockhop verify`
     its archive: a failure here is a broken run, not noise;
  4. the ceiling again; steps 3-4 repeat BENCH_RUNS times for each
     membership in BENCH_MODES (C G C S C G C S ...): `group` joins the
     consumer group (the default), `standalone` assigns itself every
     partition without joining (`--kafka-membership standalone`);
  5. unless BENCH_RESTORE=0, the restore phase, after the backlog's last
     archiver run: every archive steps 3-4 built and verified is restored
     whole into fresh topics of the same tansu (`archiver restore
     --topic-prefix <fresh>. --create-topics --json`: wall time, CPU seconds
     and peak RSS as in step 3; its summary's message count must be the
     archive's row count), each restore between two pairs of ceilings
     (g p R g p R g p ...): g = `mockhop get-ceiling`, raw GETs of the same
     objects with the restore's fetch concurrency; p = `mockhop produce
     --archived --timing`, the same messages produced into fresh topics
     (first send to last acknowledgement).
Every measured phase starts after `sync` and dropping the page cache.
Then prints, as medians over the runs, the archiver's messages/s and MB/s
from its first archived message to its exit, the ceiling's (first PUT to
last), their ratio (target >= 0.8; each run against the two ceilings
around it), the same with the archiver's start-up (and the consumer-group
join within it) included, and peak RSS per backlog (must not grow with the
backlog); then the same for the restores: messages/s and MB/s from the
restore's "restoring" log line (plan made, target topics created) to its
exit, both ceilings, the ratio against the lower of the two (target >= 0.8),
with start-up, and peak RSS (must not grow with the selection).

Exits non-zero only when a step fails or an archive or a restore is wrong,
never because a figure is low: timings on a shared 2-core machine are noisy.

Settings (environment; an empty value means the default):
  BENCH_COUNT=10000          the first backlog (e.g. 1000 for a smoke run)
  BENCH_LARGE=1              0 skips the large backlog
  BENCH_LARGE_COUNT=100000   the large backlog (takes minutes on 2 cores)
  BENCH_RUNS=5               archiver runs of the first backlog, per membership
  BENCH_LARGE_RUNS=1         archiver runs of the large backlog
  BENCH_MODES="group standalone"  memberships measured on the first backlog
  BENCH_LARGE_MODES=group    memberships measured on the large backlog
  BENCH_SEED=42              mockhop seed
  BENCH_IN_FLIGHT=64         archiver --in-flight-max = ceiling concurrency
  BENCH_PARTITIONS=3         partitions per topic
  BENCH_ARCHIVER_ARGS=       extra `archiver run` flags, e.g. "--batch-rows-max 1000"
  BENCH_RESTORE=1            0 skips the restore phase
  BENCH_FETCH_CONCURRENCY=64 archiver restore --fetch-concurrency = GET ceiling concurrency
  BENCH_RESTORE_ARGS=        extra `archiver restore` flags, e.g. "--in-flight-messages-max 5000"
  BENCH_KEEP=0               1 keeps the work directory (logs) after success

A smoke run (a minute or two): BENCH_LARGE=0 BENCH_COUNT=1000 BENCH_RUNS=1 make bench

The work directory (kept on failure or with BENCH_KEEP=1) holds every
log, and ceilings.jsonl, runs.jsonl and restores.jsonl: one JSON object per
measured phase, with the fields of `Ceiling`, `Run` and `Restore` below.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROFILE = "realistic"
TARGET_RATIO = 0.8
MEMBERSHIPS = ("group", "standalone")
SERVERS = ("postgres", "s3s-fs", "tansu")


class BenchError(Exception):
    """A failed step: the message is printed and the bench exits 1."""


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def tail(path: Path, lines: int) -> None:
    """Copies the last `lines` lines of a log to stderr (a failed step's context)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return
    for line in text[-lines:]:
        print(line, file=sys.stderr)


# ---- settings ----------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    count: int
    large: bool
    large_count: int
    runs: int
    large_runs: int
    modes: list[str]
    large_modes: list[str]
    seed: int
    in_flight: int
    partitions: int
    archiver_args: list[str]
    restore: bool
    fetch_concurrency: int
    restore_args: list[str]
    keep: bool

    @staticmethod
    def from_env(env: dict[str, str]) -> Settings:
        def get(name: str, default: str) -> str:
            return env.get(f"BENCH_{name}") or default

        def whole(name: str, default: str, least: int) -> int:
            value = get(name, default)
            if not re.fullmatch(r"[0-9]+", value):
                raise BenchError(f"BENCH_{name} must be a whole number, not '{value}'")
            if int(value) < least:
                raise BenchError(f"BENCH_{name} must be at least {least}")
            return int(value)

        settings = Settings(
            count=whole("COUNT", "10000", 1),
            large=get("LARGE", "1") != "0",
            large_count=whole("LARGE_COUNT", "100000", 1),
            runs=whole("RUNS", "5", 1),
            large_runs=whole("LARGE_RUNS", "1", 1),
            modes=get("MODES", "group standalone").split(),
            large_modes=get("LARGE_MODES", "group").split(),
            seed=whole("SEED", "42", 0),
            in_flight=whole("IN_FLIGHT", "64", 1),
            partitions=whole("PARTITIONS", "3", 1),
            archiver_args=env.get("BENCH_ARCHIVER_ARGS", "").split(),
            restore=get("RESTORE", "1") != "0",
            fetch_concurrency=whole("FETCH_CONCURRENCY", "64", 1),
            restore_args=env.get("BENCH_RESTORE_ARGS", "").split(),
            keep=env.get("BENCH_KEEP", "0") == "1",
        )
        if settings.large and settings.count == settings.large_count:
            raise BenchError("BENCH_COUNT and BENCH_LARGE_COUNT must differ")
        if not settings.modes or not settings.large_modes:
            raise BenchError("BENCH_MODES and BENCH_LARGE_MODES must name a membership")
        for mode in settings.modes + settings.large_modes:
            if mode not in MEMBERSHIPS:
                raise BenchError(f"unknown membership '{mode}' (group or standalone)")
        return settings


# ---- measurements --------------------------------------------------------------


@dataclass(frozen=True)
class Ceiling:
    """One ceiling: `put` (`mockhop put-ceiling`: the archive's objects PUT
    into a fresh bucket), `get` (`mockhop get-ceiling`: an archive's objects
    read) or `produce` (`mockhop produce --archived`: its messages produced
    into fresh topics)."""

    count: int  # backlog (messages in the stream)
    index: int  # ceilings of this kind and backlog before it (0 = before the first archiver run or restore)
    seconds: float  # first request to the last response (produce: first send to last acknowledgement)
    objects: int  # objects or messages
    bytes: int  # put, get: object bytes; produce: key, header and value bytes
    kind: str = "put"


@dataclass(frozen=True)
class Run:
    """One `archiver run --until-eos` of a backlog, verified."""

    count: int  # backlog
    mode: str  # membership: group or standalone
    run: int  # 1.. per backlog and membership
    ceiling_before: int  # index of the ceiling just before it (the one after is +1)
    wall_s: float  # process start to exit
    start_s: float  # process start to the first archived message (ingested_at)
    window_s: float  # first to last archived message
    drain_s: float  # last archived message to the process's exit
    join_s: float  # consumer-group join within start_s ("subscribing" to "partitions assigned")
    rss_kib: int  # peak resident set size
    cpu_s: float  # user + system CPU seconds of the archiver
    objects: int
    bytes: int


@dataclass(frozen=True)
class Restore:
    """One `archiver restore` of a whole verified archive into fresh topics."""

    count: int  # backlog
    mode: str  # membership of the archiver run that built the archive
    run: int  # that run's number
    ceiling_before: int  # index of the get and produce ceilings just before it (those after are +1)
    wall_s: float  # process start to exit
    start_s: float  # process start to its "restoring" log line (plan made, target topics created)
    rss_kib: int  # peak resident set size
    cpu_s: float  # user + system CPU seconds of the restore
    messages: int  # the summary's total messages (= the archive's rows)
    bytes: int  # the summary's total bytes: key, headers and value


@dataclass(frozen=True)
class Process:
    """What the kernel reports for a finished child (wait4), as GNU time does."""

    returncode: int
    started: float  # epoch seconds, just before the fork
    ended: float  # epoch seconds, just after the child was reaped
    cpu_s: float  # user + system
    rss_kib: int  # peak resident set size (ru_maxrss is in KiB on Linux)

    @property
    def wall_s(self) -> float:
        return self.ended - self.started


def run_measured(argv: list[str], stdout: Path, stderr: Path | None = None) -> Process:
    """Runs `argv` with its output in files (stderr into stdout's file unless
    named) and returns its wall time, CPU seconds and peak RSS: the rusage
    that `/usr/bin/time` reads, taken from wait4 directly."""
    with open(stdout, "wb") as out, open(stderr or os.devnull, "wb") as err:
        started = time.time()
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err if stderr else subprocess.STDOUT
        )
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            process.kill()
            process.wait()
            raise
        ended = time.time()
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait for it again
    return Process(
        returncode=process.returncode,
        started=started,
        ended=ended,
        cpu_s=usage.ru_utime + usage.ru_stime,
        rss_kib=usage.ru_maxrss,
    )


def settle_disk(can_drop: bool) -> None:
    """Every measured phase starts with the disk caught up and the page cache
    empty. s3s-fs does not fsync, so each phase leaves hundreds of MB of
    dirty pages behind, and with the page cache full the kernel reclaims
    memory in the writer's own time. Measured (30 000 objects PUT into fresh
    buckets): as is, 14.7 s to 30.5 s, and once 125 s with s3s-fs at 188
    CPU-s for 100 000; after `sync` + drop_caches, four runs within 1 %
    (14.6-14.9 s). Dropping caches needs root; otherwise only `sync`, and
    the report says so."""
    os.sync()
    if can_drop:
        with open("/proc/sys/vm/drop_caches", "w") as caches:
            caches.write("3\n")


def log_stamps(log: Path, events: tuple[str, ...]) -> dict[str, datetime]:
    """When the archiver first logged each of `events` (its text log lines
    start with an RFC 3339 time; the message follows the target)."""
    stamps: dict[str, datetime] = {}
    with open(log, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            for event in events:
                if event not in stamps and f" {event} " in line:
                    # Python before 3.11 does not read a trailing "Z".
                    stamps[event] = datetime.fromisoformat(line.split()[0].replace("Z", "+00:00"))
    missing = [event for event in events if event not in stamps]
    if missing:
        raise BenchError(f"{log}: no {' or '.join(repr(event) for event in missing)} line")
    return stamps


def group_join_seconds(log: Path) -> float:
    """Seconds from the archiver's "subscribing" log line to its first
    "partitions assigned": the consumer-group join, which the broker holds."""
    stamps = log_stamps(log, ("subscribing", "partitions assigned"))
    return (stamps["partitions assigned"] - stamps["subscribing"]).total_seconds()


# ---- the bench -------------------------------------------------------------------


class Bench:
    def __init__(self, settings: Settings, work: Path):
        self.s = settings
        self.work = work
        self.services = work / "scripts" / "services.sh"
        self.can_drop = os.access("/proc/sys/vm/drop_caches", os.W_OK)
        self.clk_tck = os.sysconf("SC_CLK_TCK")
        self.ceilings: list[Ceiling] = []
        self.runs: list[Run] = []
        self.restores: list[Restore] = []
        self.archiver = ""
        self.mockhop = ""
        self.psql = ""
        self.env: dict[str, str] = {}  # the services' addresses (.services/env)

    # -- set-up --

    def find_psql(self) -> None:
        psql = shutil.which("psql") or (sorted(glob.glob("/usr/lib/postgresql/*/bin/psql")) or [""])[-1]
        if not psql:
            raise BenchError("psql not found: install postgresql-client")
        self.psql = psql

    def build(self) -> None:
        say("building release binaries (cargo build --release -p hop-archiver -p mockhop; may wait for cargo's lock)")
        log = self.work / "build.log"
        with open(log, "wb") as out:
            done = subprocess.run(
                ["cargo", "build", "--release", "-p", "hop-archiver", "-p", "mockhop"],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if done.returncode != 0:
            tail(log, 30)
            raise BenchError("release build failed")
        target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
        if not target.is_absolute():
            target = ROOT / target
        self.archiver = str(target / "release" / "archiver")
        self.mockhop = str(target / "release" / "mockhop")
        if not (os.access(self.archiver, os.X_OK) and os.access(self.mockhop, os.X_OK)):
            raise BenchError(f"release binaries not found under {target}/release")

    def start_services(self) -> None:
        # A private copy of services.sh keeps its state (.services: PID files,
        # env, S3 data) under the work directory, so the bench never stops or
        # reuses the servers of a `make test` running from the same checkout.
        say("starting PostgreSQL, s3s-fs and tansu (private instances)")
        self.services.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / "scripts" / "services.sh", self.services)
        log = self.work / "services.log"
        with open(log, "wb") as err:
            started = subprocess.run([str(self.services), "start"], stdin=subprocess.DEVNULL, stderr=err)
        if started.returncode != 0:
            tail(log, 1_000_000)
            raise BenchError("services did not start")
        for line in (self.work / ".services" / "env").read_text().splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            if name:
                self.env[name] = value
        os.environ.update(self.env)
        os.environ.update(
            AWS_ACCESS_KEY_ID=self.env["ARCHIVER_TEST_S3_ACCESS_KEY"],
            AWS_SECRET_ACCESS_KEY=self.env["ARCHIVER_TEST_S3_SECRET_KEY"],
            AWS_REGION="us-east-1",
            AWS_EC2_METADATA_DISABLED="true",
        )
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "ARCHIVER_CONFIG"):
            os.environ.pop(name, None)

    def stop_services(self) -> None:
        if os.access(self.services, os.X_OK):
            stopped = subprocess.run(
                [str(self.services), "stop"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if stopped.returncode != 0:
                say(f"warning: stopping the services failed; see {self.work}/.services")

    # -- helpers --

    def store_url(self, bucket: str) -> str:
        return f"s3://{bucket}?endpoint={self.env['ARCHIVER_TEST_S3_ENDPOINT']}&region=us-east-1"

    def stream_args(self, count: int) -> list[str]:
        return ["--seed", str(self.s.seed), "--count", str(count), "--profile", PROFILE,
                "--topic-prefix", f"bench{count}-"]

    def archive_of(self, count: int, run: int, mode: str) -> tuple[str, str, str]:
        """The database name, index URL and store URL of one archiver run's archive."""
        db = f"bench_{count}_{run}_{mode}"
        admin = self.env["ARCHIVER_TEST_PG_URL"]
        return db, f"{admin.rsplit('/', 1)[0]}/{db}", self.store_url(f"bench-archive-{count}-{run}-{mode}")

    def record(self, name: str, measured: Ceiling | Run | Restore) -> None:
        with open(self.work / name, "a") as record:
            record.write(json.dumps(dataclasses.asdict(measured)) + "\n")

    def server_cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each server (PostgreSQL with its
        backends, live and exited). On 2 cores the servers and the archiver
        share the CPU: this shows where it went."""
        stats = []
        for path in glob.glob("/proc/[0-9]*/stat"):
            try:
                with open(path) as stat:
                    line = stat.read()
            except OSError:
                continue  # the process ended meanwhile
            pid = line.partition(" ")[0]
            # After the command: [1] ppid, [11..14] utime stime cutime cstime.
            fields = line[line.rfind(") ") + 2 :].split()
            stats.append((pid, fields[1], [int(f) for f in fields[11:15]]))
        seconds = {}
        for name in SERVERS:
            try:
                server = (self.work / ".services" / f"{name}.pid").read_text().strip()
            except OSError:
                continue
            ticks = 0
            for pid, ppid, (utime, stime, cutime, cstime) in stats:
                if pid == server:
                    ticks += utime + stime + cutime + cstime  # itself and its waited-for children
                elif ppid == server:
                    ticks += utime + stime  # live children (PostgreSQL backends)
            seconds[name] = ticks / self.clk_tck
        return seconds

    @staticmethod
    def cpu_delta(before: dict[str, float], after: dict[str, float]) -> str:
        """CPU seconds each server spent in between, as "postgres=S s3s-fs=S tansu=S"."""
        return " ".join(f"{name}={after.get(name, 0.0) - spent:.1f}" for name, spent in before.items())

    def psql_run(self, url: str, *args: str) -> subprocess.CompletedProcess:
        argv = [self.psql, url, "-v", "ON_ERROR_STOP=1", *args]
        return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)

    # -- the ceiling --

    def measure_ceiling(self, count: int, index: int) -> Ceiling:
        """PUTs the objects of a backlog of `count` messages into a fresh bucket
        named after `index` (the number of archiver runs before it)."""
        tag = f"[{count}]"
        out = f"{self.work}/ceiling-{count}-{index}"
        txt, err = Path(f"{out}.txt"), Path(f"{out}.err")
        say(f"{tag} ceiling {index}: PUT the archive's objects into a fresh bucket, {self.s.in_flight} in flight")
        settle_disk(self.can_drop)
        cpu_before = self.server_cpu()
        bucket = f"bench-ceiling-{count}-{index}"
        argv = [self.mockhop, "put-ceiling", *self.stream_args(count), "--store", self.store_url(bucket),
                "--concurrency", str(self.s.in_flight), "--create-bucket"]
        process = run_measured(argv, txt, err)
        if process.returncode != 0:
            tail(err, 20)
            raise BenchError(f"{tag} mockhop put-ceiling failed")
        say(f"{tag}   CPU seconds: put-ceiling={process.cpu_s:.1f} {self.cpu_delta(cpu_before, self.server_cpu())}")
        lines = [line for line in txt.read_text().splitlines() if line.startswith("ceiling ")]
        if not lines:
            raise BenchError(f"{tag} put-ceiling printed no result")
        say(f"{tag} {lines[0]}")
        # "ceiling objects=.. bytes=.. existed=.. concurrency=.. seconds=.. ..."
        fields = dict(word.split("=", 1) for word in lines[0].split()[1:] if "=" in word)
        if fields.get("existed") != "0":
            raise BenchError(f"{tag} the ceiling bucket was not fresh ({fields.get('existed')} objects existed)")
        ceiling = Ceiling(
            count=count,
            index=index,
            seconds=float(fields["seconds"]),
            objects=int(fields["objects"]),
            bytes=int(fields["bytes"]),
        )
        self.ceilings.append(ceiling)
        self.record("ceilings.jsonl", ceiling)
        return ceiling

    def result_fields(self, tag: str, what: str, out: Path, prefix: str) -> dict[str, str]:
        """The `name=value` words of the first line of `out` that starts
        with `prefix` (a ceiling's one machine-readable line)."""
        lines = [line for line in out.read_text().splitlines() if line.startswith(prefix)]
        if not lines:
            raise BenchError(f"{tag} {what} printed no result")
        say(f"{tag} {lines[0]}")
        return dict(word.split("=", 1) for word in lines[0].split()[1:] if "=" in word)

    def measure_get_ceiling(self, count: int, index: int, archive: tuple[str, str], messages: int) -> Ceiling:
        """GETs every object of an archive (its index URL and store URL) as a
        restore of all of it would read them, `fetch_concurrency` at once."""
        tag = f"[{count}]"
        out = f"{self.work}/get-ceiling-{count}-{index}"
        txt, err = Path(f"{out}.txt"), Path(f"{out}.err")
        concurrency = self.s.fetch_concurrency
        say(f"{tag} get ceiling {index}: GET the archive's objects, {concurrency} in flight")
        settle_disk(self.can_drop)
        cpu_before = self.server_cpu()
        argv = [self.mockhop, "get-ceiling", "--index", archive[0], "--store", archive[1],
                "--concurrency", str(concurrency)]
        process = run_measured(argv, txt, err)
        if process.returncode != 0:
            tail(err, 20)
            raise BenchError(f"{tag} mockhop get-ceiling failed")
        say(f"{tag}   CPU seconds: get-ceiling={process.cpu_s:.1f} {self.cpu_delta(cpu_before, self.server_cpu())}")
        fields = self.result_fields(tag, "get-ceiling", txt, "ceiling ")
        ceiling = Ceiling(count=count, index=index, seconds=float(fields["seconds"]), objects=int(fields["objects"]),
                          bytes=int(fields["bytes"]), kind="get")
        if ceiling.objects != messages:
            raise BenchError(f"{tag} get-ceiling read {ceiling.objects} objects, the archive holds {messages}")
        self.ceilings.append(ceiling)
        self.record("ceilings.jsonl", ceiling)
        return ceiling

    def measure_produce_ceiling(self, count: int, index: int, messages: int) -> Ceiling:
        """Produces the messages an archive of the backlog holds (as a
        restore sends them) into fresh topics of tansu."""
        tag = f"[{count}]"
        out = f"{self.work}/produce-ceiling-{count}-{index}"
        txt, err = Path(f"{out}.txt"), Path(f"{out}.err")
        say(f"{tag} produce ceiling {index}: produce the archive's messages into fresh topics")
        settle_disk(self.can_drop)
        cpu_before = self.server_cpu()
        argv = [self.mockhop, "produce", *self.stream_args(count), "--brokers", self.env["ARCHIVER_TEST_KAFKA"],
                "--partitions", str(self.s.partitions), "--archived", "--send-prefix", f"produce-{count}-{index}.",
                "--timing"]
        process = run_measured(argv, txt, err)
        if process.returncode != 0:
            tail(err, 20)
            raise BenchError(f"{tag} mockhop produce --archived failed")
        say(f"{tag}   CPU seconds: produce={process.cpu_s:.1f} {self.cpu_delta(cpu_before, self.server_cpu())}")
        fields = self.result_fields(tag, "produce --timing", txt, "produced ")
        ceiling = Ceiling(count=count, index=index, seconds=float(fields["seconds"]),
                          objects=int(fields["messages"]), bytes=int(fields["bytes"]), kind="produce")
        if ceiling.objects != messages:
            raise BenchError(f"{tag} produce --archived sent {ceiling.objects} messages, the archive holds {messages}")
        self.ceilings.append(ceiling)
        self.record("ceilings.jsonl", ceiling)
        return ceiling

    # -- one archiver run --

    def archive_once(self, count: int, topics: str, run: int, mode: str, before: Ceiling) -> Run:
        """One `archiver run --until-eos` of the backlog (produced already), with
        membership `mode`, into a fresh database, bucket and consumer group
        named after `run`, right after the ceiling `before`; verifies the
        archive."""
        tag = f"[{count} run {run} {mode}]"
        prefix = f"bench{count}-"
        group = f"bench-{count}-{run}-{mode}"
        admin = self.env["ARCHIVER_TEST_PG_URL"]
        db, index, archive = self.archive_of(count, run, mode)
        bucket = f"bench-archive-{count}-{run}-{mode}"
        if self.psql_run(admin, "-qc", f"CREATE DATABASE {db}").returncode != 0:
            raise BenchError(f"{tag} cannot create database {db}")
        created = subprocess.run(
            [self.mockhop, "put-ceiling", "--seed", str(self.s.seed), "--count", "0", "--profile", PROFILE,
             "--topic-prefix", prefix, "--store", archive, "--create-bucket"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        )
        if created.returncode != 0:
            raise BenchError(f"{tag} cannot create bucket {bucket}")

        extra = f", {' '.join(self.s.archiver_args)}" if self.s.archiver_args else ""
        say(f"{tag} archiver run --until-eos (in-flight {self.s.in_flight}{extra})")
        log = self.work / f"archiver-{count}-{run}-{mode}.log"
        verify_log = self.work / f"archiver-{count}-{run}-{mode}.verify"
        settle_disk(self.can_drop)
        cpu_before = self.server_cpu()
        argv = [
            self.archiver, "run",
            "--kafka-brokers", self.env["ARCHIVER_TEST_KAFKA"], "--kafka-group-id", group,
            "--kafka-session-timeout-ms", "6000", "--kafka-membership", mode,
            "--topics", topics, "--topics-veto", f"{prefix}sys.heartbeat",
            "--index", index, "--store", archive,
            "--until-eos", "--metrics-addr", "none", "--progress-interval-ms", "5000",
            "--in-flight-max", str(self.s.in_flight), *self.s.archiver_args,
        ]
        process = run_measured(argv, log)
        t0, t1 = process.started, process.ended
        if process.returncode != 0:
            tail(log, 30)
            raise BenchError(f"{tag} archiver run failed")
        say(f"{tag}   CPU seconds: archiver={process.cpu_s:.1f} {self.cpu_delta(cpu_before, self.server_cpu())}")

        say(f"{tag} verifying the archive against the stream")
        with open(verify_log, "wb") as out:
            verified = subprocess.run(
                [self.mockhop, "verify", *self.stream_args(count), "--as-produced",
                 "--index", index, "--store", archive],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )
        if verified.returncode != 0:
            tail(verify_log, 30)
            raise BenchError(f"{tag} ARCHIVE IS WRONG: mockhop verify failed")
        verify_lines = verify_log.read_text(errors="replace").splitlines()
        say(f"{tag} {verify_lines[-1] if verify_lines else ''}")

        # The index rows tell the phases apart: `ingested_at` (ms) is stamped
        # as each message is prepared, so first..last is the archiving
        # window; before it the consumer joins its group, after it
        # --until-eos notices the end.
        query = "SELECT count(*), coalesce(sum(size), 0), min(ingested_at), max(ingested_at) FROM messages"
        read = self.psql_run(index, "-Atc", query)
        values = read.stdout.strip().split("|") if read.returncode == 0 else []
        if len(values) != 4 or not all(v.isdigit() for v in values):
            raise BenchError(f"{tag} cannot read the index")
        objects, size, first_ms, last_ms = (int(v) for v in values)
        if objects != before.objects:
            raise BenchError(f"{tag} archive holds {objects} objects, the ceiling wrote {before.objects}")
        try:
            join_s = group_join_seconds(log)
        except (BenchError, OSError, ValueError) as err:
            raise BenchError(f"{tag} cannot tell the group join from the archiver's log ({err})") from None
        result = Run(
            count=count, mode=mode, run=run, ceiling_before=before.index,
            wall_s=process.wall_s, start_s=first_ms / 1000 - t0, window_s=(last_ms - first_ms) / 1000,
            drain_s=t1 - last_ms / 1000, join_s=join_s, rss_kib=process.rss_kib, cpu_s=process.cpu_s,
            objects=objects, bytes=size,
        )
        self.runs.append(result)
        self.record("runs.jsonl", result)
        say(f"{tag} archived {objects} objects ({size} bytes) in {process.wall_s:.3f}s, "
            f"peak RSS {process.rss_kib} KiB")
        return result

    # -- one restore --

    def restore_once(self, count: int, run: int, mode: str, before: int) -> Restore:
        """`archiver restore` of the whole archive of one archiver run (built
        and verified already) into fresh topics of tansu, right after the
        get and produce ceilings numbered `before`; checks that every row of
        the archive was sent."""
        tag = f"[{count} restore {run} {mode}]"
        _, index, archive = self.archive_of(count, run, mode)
        rows = next(r.objects for r in self.runs if (r.count, r.run, r.mode) == (count, run, mode))
        extra = f", {' '.join(self.s.restore_args)}" if self.s.restore_args else ""
        say(f"{tag} archiver restore of the whole archive into fresh topics "
            f"(fetch concurrency {self.s.fetch_concurrency}{extra})")
        log = self.work / f"restore-{count}-{run}-{mode}.log"
        out = self.work / f"restore-{count}-{run}-{mode}.json"
        settle_disk(self.can_drop)
        cpu_before = self.server_cpu()
        argv = [
            self.archiver, "restore",
            "--kafka-brokers", self.env["ARCHIVER_TEST_KAFKA"],
            "--index", index, "--store", archive,
            "--topic-prefix", f"restore-{count}-{run}-{mode}.", "--create-topics", "--json",
            "--fetch-concurrency", str(self.s.fetch_concurrency),
            "--metrics-addr", "none", "--progress-interval-ms", "5000", *self.s.restore_args,
        ]
        process = run_measured(argv, out, log)
        if process.returncode != 0:
            tail(log, 30)
            raise BenchError(f"{tag} archiver restore failed")
        say(f"{tag}   CPU seconds: restore={process.cpu_s:.1f} {self.cpu_delta(cpu_before, self.server_cpu())}")
        try:
            total = json.loads(out.read_text())["total"]
            messages, size, skipped = int(total["messages"]), int(total["bytes"]), int(total["skipped"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise BenchError(f"{tag} cannot read the restore's JSON summary ({err})") from None
        if messages != rows or skipped:
            raise BenchError(f"{tag} RESTORE IS WRONG: {messages} messages sent ({skipped} skipped), "
                             f"the archive holds {rows}")
        try:
            restoring = log_stamps(log, ("restoring",))["restoring"].timestamp()
        except (BenchError, OSError, ValueError) as err:
            raise BenchError(f"{tag} cannot tell when sending started from the restore's log ({err})") from None
        result = Restore(
            count=count, mode=mode, run=run, ceiling_before=before,
            wall_s=process.wall_s, start_s=restoring - process.started, rss_kib=process.rss_kib,
            cpu_s=process.cpu_s, messages=messages, bytes=size,
        )
        self.restores.append(result)
        self.record("restores.jsonl", result)
        say(f"{tag} restored {messages} messages ({size} bytes) in {process.wall_s:.3f}s "
            f"({result.start_s:.2f}s before sending), peak RSS {process.rss_kib} KiB")
        return result

    def restore_all(self, count: int, archives: list[tuple[int, str]]) -> None:
        """Restores each archive of the backlog (its run and membership), all
        interleaved with the two ceilings (g p R g p R ...), as the archiver
        runs are with theirs."""
        rows = next(r.objects for r in self.runs if (r.count, r.run, r.mode) == (count, *archives[0]))
        _, index, store = self.archive_of(count, *archives[0])

        def ceilings(number: int) -> None:
            # Every pair reads the backlog's first archive: each archive of
            # the backlog holds the same objects (verified), under the same
            # keys, and the page cache is dropped before every phase.
            self.measure_get_ceiling(count, number, (index, store), rows)
            self.measure_produce_ceiling(count, number, rows)

        ceilings(0)
        for number, (run, mode) in enumerate(archives):
            self.restore_once(count, run, mode, number)
            ceilings(number + 1)

    # -- one backlog --

    def bench_one(self, count: int, runs: int, modes: list[str]) -> None:
        """The whole measurement for a backlog of `count` messages: `runs`
        archiver runs per membership, all interleaved with ceilings (C G C S
        C ...: the machine's speed drifts, by 20 % between minutes here, and
        each archiver run is compared with the two ceilings around it)."""
        tag = f"[{count}]"
        prefix = f"bench{count}-"
        say(f"{tag} producing {count} {PROFILE} messages into tansu")
        produced = self.work / f"produce-{count}.txt"
        with open(produced, "wb") as out, open(self.work / f"produce-{count}.err", "wb") as err:
            done = subprocess.run(
                [self.mockhop, "produce", *self.stream_args(count), "--brokers", self.env["ARCHIVER_TEST_KAFKA"],
                 "--partitions", str(self.s.partitions)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            )
        if done.returncode != 0:
            tail(self.work / f"produce-{count}.err", 20)
            raise BenchError(f"{tag} mockhop produce failed")
        # The stream's topics, heartbeats excepted (the archiver vetoes them):
        # naming them keeps the other backlog's topics out of this run.
        # `produce` prints "topic sent bytes" under a header, then "total".
        rows = [line.split() for line in produced.read_text().splitlines()[1:]]
        topics = ",".join(row[0] for row in rows if row and row[0] not in ("total", f"{prefix}sys.heartbeat"))
        if not topics:
            raise BenchError(f"{tag} mockhop produce reported no topics")

        ceiling = self.measure_ceiling(count, 0)
        archives = []
        for run in range(1, runs + 1):
            for mode in modes:
                self.archive_once(count, topics, run, mode, ceiling)
                archives.append((run, mode))
                ceiling = self.measure_ceiling(count, ceiling.index + 1)
        if self.s.restore:
            self.restore_all(count, archives)

    def measure(self) -> None:
        self.find_psql()
        self.build()
        self.start_services()
        self.bench_one(self.s.count, self.s.runs, self.s.modes)
        if self.s.large:
            self.bench_one(self.s.large_count, self.s.large_runs, self.s.large_modes)
        else:
            say("skipping the large backlog (BENCH_LARGE=0)")
        if not self.s.restore:
            say("skipped the restore phase (BENCH_RESTORE=0)")

    # ---- report ----------------------------------------------------------------

    def report(self) -> None:
        s = self.s
        extra = f", archiver args: {' '.join(s.archiver_args)}" if s.archiver_args else ""
        print()
        print(f"make bench: seed {s.seed}, profile {PROFILE}, {s.partitions} partitions, in-flight {s.in_flight}, "
              f"{len(os.sched_getaffinity(0))} CPUs{extra}")
        print(LEGEND.format(target=TARGET_RATIO), end="")
        if self.can_drop:
            print("disk:       sync and drop_caches before every measured phase")
        else:
            print("disk:       sync before every measured phase; page cache NOT dropped (needs root), "
                  "figures drift more")
        print("MB = 10^6 bytes of archived objects; msg = distinct archived message (= object)")
        print()
        print(summary(self.ceilings, self.runs, TARGET_RATIO))
        if self.restores:
            print()
            print(RESTORE_LEGEND.format(target=TARGET_RATIO, fetch=s.fetch_concurrency), end="")
            print()
            print(restore_summary(self.ceilings, self.restores, TARGET_RATIO))
        sys.stdout.flush()


LEGEND = """\
archiving:  tansu -> archiver run --until-eos -> s3s-fs + PostgreSQL, from the first archived
            message to the process's exit (last offset committed, consumer closed)
member:     group = joins the consumer group (default); standalone = --kafka-membership standalone,
            assigns itself every partition without a group join, still commits to the group id
ceiling:    the same objects PUT with the same concurrency into s3s-fs, from the first PUT to
            the last, before and after each archiver run (C G C S C ...)
ratios:     each archiver run against the mean of the two ceilings around it (the machine's
            speed drifts); the table shows medians over the runs, min-max in the lines below
RATIO:      archiving msg/s / ceiling msg/s (target >= {target}): both clocks start at the first write
steady:     objects / (first..last ingested_at) / ceiling, i.e. without the drain either
with start: objects / process wall time / ceiling, start-up included
start:      process start to the first archived message; 'join' is the part of it spent in the
            consumer-group join, which the broker holds (tansu: half the session timeout, 3 s at
            the 6 000 ms used here; Apache Kafka: group.initial.rebalance.delay.ms, 3 s)
drain:      last archived message to the process's exit
"""


RESTORE_LEGEND = """\
restoring:  s3s-fs + PostgreSQL -> archiver restore --create-topics -> fresh topics of tansu, the
            whole archive of each archiver run above, from its "restoring" log line (plan made,
            target topics created) to the process's exit (every message acknowledged)
GET:        mockhop get-ceiling: the same objects GET from s3s-fs, {fetch} in flight (the restore's
            --fetch-concurrency), first GET to last
produce:    mockhop produce --archived: the same messages produced into fresh topics (mockhop's
            producer: idempotent, 256 in flight), first send to last acknowledgement
RATIO:      restoring msg/s / the lower ceiling's msg/s (target >= {target}), each restore against the
            mean of the two ceilings of each kind around it (g p R g p R ...)
with start: messages / process wall time / the lower ceiling, start-up (index, topics) included
MB = 10^6 bytes of restored key + headers + value (the summary's bytes), for the ceilings too
"""


@dataclass(frozen=True)
class RestoreFigures:
    """One restore set against the mean of the two ceilings of each kind around it."""

    messages: int
    mb: float
    restoring: float  # s, "restoring" to exit
    wall: float
    rss: float  # MiB
    start: float
    cpu: float
    get: float  # msg/s
    produce: float  # msg/s
    lower: str  # the lower ceiling: GET or produce
    ratio: float
    with_start: float


def restore_figures(restore: Restore, ceilings: dict[tuple[str, int, int], float]) -> RestoreFigures:
    def rate(kind: str) -> float:
        key = (kind, restore.count, restore.ceiling_before)
        seconds = (ceilings[key] + ceilings[(kind, restore.count, restore.ceiling_before + 1)]) / 2
        return restore.messages / seconds

    get, produce = rate("get"), rate("produce")
    lower = min(get, produce)
    restoring = restore.wall_s - restore.start_s
    return RestoreFigures(
        messages=restore.messages,
        mb=restore.bytes / 1e6,
        restoring=restoring,
        wall=restore.wall_s,
        rss=restore.rss_kib / 1024,
        start=restore.start_s,
        cpu=restore.cpu_s,
        get=get,
        produce=produce,
        lower="GET" if get <= produce else "produce",
        ratio=restore.messages / restoring / lower,
        with_start=restore.messages / restore.wall_s / lower,
    )


def restore_summary(ceiling_list: list[Ceiling], restore_list: list[Restore], target: float) -> str:
    """The restores' table (medians per backlog) and the lines below it."""
    ceilings = {(c.kind, c.count, c.index): c.seconds for c in ceiling_list}
    groups: dict[int, list[RestoreFigures]] = {}  # in order of appearance
    for restore in restore_list:
        groups.setdefault(restore.count, []).append(restore_figures(restore, ceilings))

    def med(runs: list[RestoreFigures], key: str) -> float:
        return statistics.median(getattr(r, key) for r in runs)

    def span(runs: list[RestoreFigures], key: str) -> str:
        values = [getattr(r, key) for r in runs]
        return f"{min(values):.3f}-{max(values):.3f}"

    out = []
    head = ("{:<7} {:>8} {:>7} {:>6} | {:>6} {:>6} {:>6} | {:>6} {:>6} | {:>6} {:>6} | {:>6} {:>7} | "
            "{:>6} {:>6} {:>5} | {:>5} | {:>8}")
    out.append(head.format("backlog", "restores", "msgs", "MB", "restor", "msg/s", "MB/s", "GET", "GET", "prod",
                           "prod", "RATIO", "lower", "wall", "with", "start", "CPU", "peak RSS"))
    out.append(head.format("", "", "", "", "-ing s", "", "", "msg/s", "MB/s", "msg/s", "MB/s", "", "ceiling", "s",
                           "start", "s", "s", "MiB"))
    row = ("{:<7} {:>8d} {:>7d} {:>6.1f} | {:>6.2f} {:>6.0f} {:>6.2f} | {:>6.0f} {:>6.2f} | {:>6.0f} {:>6.2f} | "
           "{:>6.3f} {:>7} | {:>6.2f} {:>6.3f} {:>5.1f} | {:>5.1f} | {:>8.1f}")
    lines: list[str] = []
    first_rss: tuple[int, float] | None = None
    for count, runs in groups.items():
        restoring = med(runs, "restoring")
        messages, mb = runs[0].messages, runs[0].mb
        per_mb = mb / messages
        get, produce = med(runs, "get"), med(runs, "produce")
        lowers = [r.lower for r in runs]
        lower = max(set(lowers), key=lowers.count)
        peak = max(r.rss for r in runs)
        out.append(
            row.format(
                count, len(runs), messages, mb,
                restoring, messages / restoring, mb / restoring,
                get, get * per_mb, produce, produce * per_mb,
                med(runs, "ratio"), lower,
                med(runs, "wall"), med(runs, "with_start"), med(runs, "start"), med(runs, "cpu"),
                peak,
            )
        )
        if first_rss:
            first_count, rss = first_rss
            lines.append(f"restore peak RSS {count} vs {first_count} backlog: {peak:.1f} / {rss:.1f} MiB = "
                         f"{peak / rss:.2f}x (must not grow with the selection)")
        else:
            first_rss = (count, peak)
        ratio, with_start = med(runs, "ratio"), med(runs, "with_start")
        lines.append(
            f"{count} restore, {len(runs)} run(s): ratio {ratio:.3f} against the lower ceiling "
            f"({'>=' if ratio >= target else 'BELOW'} target {target:.2f}; runs {span(runs, 'ratio')}; lower: "
            f"{', '.join(f'{kind} {lowers.count(kind)}x' for kind in ('GET', 'produce') if kind in lowers)}); "
            f"against GET {messages / restoring / get:.3f}, against produce {messages / restoring / produce:.3f}; "
            f"with start-up {with_start:.3f} ({'>=' if with_start >= target else 'below'} target; runs "
            f"{span(runs, 'with_start')}; {med(runs, 'start'):.1f} s start-up)"
        )
    for count in groups:
        for kind in ("get", "produce"):
            seconds = [c.seconds for c in ceiling_list if c.count == count and c.kind == kind]
            fastest, slowest = min(seconds), max(seconds)
            spread = slowest / fastest - 1
            lines.append(
                f"{count}: {len(seconds)} {kind} ceilings, {fastest:.2f} to {slowest:.2f} s ({100 * spread:.0f}% apart)"
                + (": the load moved, read these ratios with care" if spread > 0.25 else "")
            )
    out += ["", *lines, "", "(figures only: a low ratio never fails the bench; a wrong restore or a failed step does)"]
    return "\n".join(out)


@dataclass(frozen=True)
class Figures:
    """One archiver run set against the mean of the two ceilings around it."""

    objects: int
    mb: float
    archiving: float  # s, first archived message to exit
    wall: float
    rss: float  # MiB
    start: float
    join: float
    drain: float
    ceiling: float  # msg/s
    ceiling_mbs: float
    ratio: float
    steady: float
    with_start: float


def figures(run: Run, ceilings: dict[tuple[int, int], float]) -> Figures:
    ceiling_s = (ceilings[(run.count, run.ceiling_before)] + ceilings[(run.count, run.ceiling_before + 1)]) / 2
    ceiling_rate = run.objects / ceiling_s
    archiving = run.wall_s - run.start_s
    return Figures(
        objects=run.objects,
        mb=run.bytes / 1e6,
        archiving=archiving,
        wall=run.wall_s,
        rss=run.rss_kib / 1024,
        start=run.start_s,
        join=run.join_s,
        drain=run.drain_s,
        ceiling=ceiling_rate,
        ceiling_mbs=run.bytes / 1e6 / ceiling_s,
        ratio=run.objects / archiving / ceiling_rate,
        steady=run.objects / run.window_s / ceiling_rate,
        with_start=run.objects / run.wall_s / ceiling_rate,
    )


def summary(ceiling_list: list[Ceiling], run_list: list[Run], target: float) -> str:
    """The table (medians per backlog and membership) and the lines below it."""
    ceiling_list = [c for c in ceiling_list if c.kind == "put"]
    ceilings = {(c.count, c.index): c.seconds for c in ceiling_list}
    groups: dict[tuple[int, str], list[Figures]] = {}  # in order of appearance
    for run in run_list:
        groups.setdefault((run.count, run.mode), []).append(figures(run, ceilings))

    def med(runs: list[Figures], key: str) -> float:
        return statistics.median(getattr(r, key) for r in runs)

    def span(runs: list[Figures], key: str) -> str:
        values = [getattr(r, key) for r in runs]
        return f"{min(values):.3f}-{max(values):.3f}"

    out = []
    head = ("{:<7} {:<10} {:>7} {:>6} | {:>6} {:>6} {:>6} | {:>6} {:>6} | {:>6} {:>6} | {:>6} {:>6} | "
            "{:>5} {:>5} {:>5} | {:>8}")
    out.append(head.format("backlog", "member", "objects", "MB", "archiv", "msg/s", "MB/s", "ceil", "ceil", "RATIO",
                           "steady", "wall", "with", "start", "join", "drain", "peak RSS"))
    out.append(head.format("", "", "", "", "-ing s", "", "", "msg/s", "MB/s", "", "ratio", "s", "start", "s", "s", "s",
                           "MiB"))
    row = ("{:<7} {:<10} {:>7d} {:>6.1f} | {:>6.2f} {:>6.0f} {:>6.2f} | {:>6.0f} {:>6.2f} | {:>6.3f} {:>6.3f} | "
           "{:>6.2f} {:>6.3f} | {:>5.1f} {:>5.1f} {:>5.1f} | {:>8.1f}")
    lines: list[str] = []
    first_rss: dict[str, tuple[int, float]] = {}
    for (count, mode), runs in groups.items():
        archiving = med(runs, "archiving")
        objects, mb = runs[0].objects, runs[0].mb
        peak = max(r.rss for r in runs)
        out.append(
            row.format(
                count, mode, objects, mb,
                archiving, objects / archiving, mb / archiving,
                med(runs, "ceiling"), med(runs, "ceiling_mbs"),
                med(runs, "ratio"), med(runs, "steady"),
                med(runs, "wall"), med(runs, "with_start"),
                med(runs, "start"), med(runs, "join"), med(runs, "drain"),
                peak,
            )
        )
        if mode in first_rss:
            first_count, rss = first_rss[mode]
            lines.append(f"peak RSS {count} vs {first_count} backlog ({mode}): {peak:.1f} / {rss:.1f} MiB = "
                         f"{peak / rss:.2f}x (must not grow with the backlog)")
        else:
            first_rss[mode] = (count, peak)
        ratio, with_start = med(runs, "ratio"), med(runs, "with_start")
        lines.append(
            f"{count} {mode}, {len(runs)} run(s): ratio {ratio:.3f} ({'>=' if ratio >= target else 'BELOW'} "
            f"target {target:.2f}; runs {span(runs, 'ratio')}); steady {med(runs, 'steady'):.3f}; with start-up "
            f"{with_start:.3f} ({'>=' if with_start >= target else 'below'} target; runs {span(runs, 'with_start')}; "
            f"{med(runs, 'start'):.1f} s start-up, {med(runs, 'join'):.1f} s of it the group join)"
        )
    for count in dict.fromkeys(count for count, _ in groups):
        seconds = [c.seconds for c in ceiling_list if c.count == count]
        fastest, slowest = min(seconds), max(seconds)
        spread = slowest / fastest - 1
        lines.append(
            f"{count}: {len(seconds)} ceilings, {fastest:.2f} to {slowest:.2f} s ({100 * spread:.0f}% apart)"
            + (": the load moved, read these ratios with care" if spread > 0.25 else "")
        )
    out += ["", *lines, "", "(figures only: a low ratio never fails the bench; a wrong archive or a failed step does)"]
    return "\n".join(out)


# ---- main ---------------------------------------------------------------------------


def interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    os.chdir(ROOT)
    try:
        settings = Settings.from_env(dict(os.environ))
    except BenchError as err:
        say(f"error: {err}")
        return 1
    work = Path(tempfile.mkdtemp(prefix="hop-bench.", dir=os.environ.get("TMPDIR") or "/tmp"))
    bench = Bench(settings, work)
    signal.signal(signal.SIGTERM, interrupted)
    rc = 1  # also for an unexpected exception (its traceback follows)
    try:
        bench.measure()
        bench.report()
        rc = 0
    except BenchError as err:
        say(f"error: {err}")
        rc = 1
    except KeyboardInterrupt:
        say("interrupted")
        rc = 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        bench.stop_services()
        if rc == 0 and not settings.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            say(f"logs kept in {work}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
