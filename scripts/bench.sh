#!/usr/bin/env bash
# make bench: end-to-end throughput and memory of `archiver run`, measured
# against a ceiling taken in the same run (README: performance is measured,
# not timed in tests).
#
# For a backlog of BENCH_COUNT realistic messages (1-10 KB) and then one of
# BENCH_LARGE_COUNT, on private servers (PostgreSQL, s3s-fs, tansu):
#   1. produce the seeded mockhop stream into tansu;
#   2. ceiling: PUT exactly the objects the archive must hold into a fresh
#      bucket, with as many requests in flight as the archiver may have
#      (`mockhop put-ceiling`);
#   3. `archiver run --until-eos` into a fresh database, bucket and consumer
#      group, under `/usr/bin/time -v` (wall time, peak RSS), then
#      `mockhop verify` its archive: a failure here is a broken run, not noise;
#   4. the ceiling again; steps 3-4 repeat BENCH_RUNS times for each
#      membership in BENCH_MODES (C G C S C G C S ...): `group` joins the
#      consumer group (the default), `standalone` assigns itself every
#      partition without joining (`--kafka-membership standalone`).
# Every measured phase starts after `sync` and dropping the page cache.
# Then prints, as medians over the runs, the archiver's messages/s and MB/s
# from its first archived message to its exit, the ceiling's (first PUT to
# last), their ratio (target >= 0.8; each run against the two ceilings
# around it), the same with the archiver's start-up (and the consumer-group
# join within it) included, and peak RSS per backlog (must not grow with the
# backlog).
#
# Exits non-zero only when a step fails or the archive is wrong, never
# because a figure is low: timings on a shared 2-core machine are noisy.
#
# Settings (environment):
#   BENCH_COUNT=10000          the first backlog
#   BENCH_LARGE=1              0 skips the large backlog
#   BENCH_LARGE_COUNT=100000   the large backlog (takes minutes on 2 cores)
#   BENCH_RUNS=5               archiver runs of the first backlog, per membership
#   BENCH_LARGE_RUNS=1         archiver runs of the large backlog
#   BENCH_MODES="group standalone"  memberships measured on the first backlog
#   BENCH_LARGE_MODES=group    memberships measured on the large backlog
#   BENCH_SEED=42              mockhop seed
#   BENCH_IN_FLIGHT=64         archiver --in-flight-max = ceiling concurrency
#   BENCH_PARTITIONS=3         partitions per topic
#   BENCH_ARCHIVER_ARGS=       extra `archiver run` flags, e.g. "--batch-rows-max 1000"
#   BENCH_KEEP=0               1 keeps the work directory (logs) after success
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

COUNT=${BENCH_COUNT:-10000}
LARGE=${BENCH_LARGE:-1}
LARGE_COUNT=${BENCH_LARGE_COUNT:-100000}
RUNS=${BENCH_RUNS:-5}
LARGE_RUNS=${BENCH_LARGE_RUNS:-1}
read -r -a MODES <<<"${BENCH_MODES:-group standalone}"
read -r -a LARGE_MODES <<<"${BENCH_LARGE_MODES:-group}"
SEED=${BENCH_SEED:-42}
IN_FLIGHT=${BENCH_IN_FLIGHT:-64}
PARTITIONS=${BENCH_PARTITIONS:-3}
PROFILE=realistic
read -r -a EXTRA_ARGS <<<"${BENCH_ARCHIVER_ARGS:-}"
TARGET_RATIO=0.8

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

for n in COUNT LARGE_COUNT RUNS LARGE_RUNS SEED IN_FLIGHT PARTITIONS; do
  [[ ${!n} =~ ^[0-9]+$ ]] || die "BENCH_$n must be a whole number, not '${!n}'"
done
[ "$COUNT" -gt 0 ] && [ "$LARGE_COUNT" -gt 0 ] && [ "$IN_FLIGHT" -gt 0 ] && [ "$PARTITIONS" -gt 0 ] && [ "$RUNS" -gt 0 ] && [ "$LARGE_RUNS" -gt 0 ] \
  || die "BENCH_COUNT, BENCH_LARGE_COUNT, BENCH_RUNS, BENCH_LARGE_RUNS, BENCH_IN_FLIGHT and BENCH_PARTITIONS must be at least 1"
[ "$LARGE" = 0 ] || [ "$COUNT" != "$LARGE_COUNT" ] || die "BENCH_COUNT and BENCH_LARGE_COUNT must differ"
[ "${#MODES[@]}" -gt 0 ] && [ "${#LARGE_MODES[@]}" -gt 0 ] || die "BENCH_MODES and BENCH_LARGE_MODES must name a membership"
for mode in "${MODES[@]}" "${LARGE_MODES[@]}"; do
  [ "$mode" = group ] || [ "$mode" = standalone ] || die "unknown membership '$mode' (group or standalone)"
done
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time, package 'time') is needed for peak RSS"
command -v python3 >/dev/null || die "python3 is needed (scripts/services.sh uses it)"

psql_bin=$(command -v psql || ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | tail -n 1 || true)
[ -n "$psql_bin" ] || die "psql not found: install postgresql-client"

work=$(mktemp -d "${TMPDIR:-/tmp}/hop-bench.XXXXXX")
services="$work/scripts/services.sh"

cleanup() {
  local rc=$?
  if [ -x "$services" ]; then
    "$services" stop >/dev/null 2>&1 || say "warning: stopping the services failed; see $work/.services"
  fi
  if [ "$rc" -eq 0 ] && [ "${BENCH_KEEP:-0}" != 1 ]; then
    rm -rf "$work"
  else
    say "logs kept in $work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# ---- build ---------------------------------------------------------------
say "building release binaries (cargo build --release -p hop-archiver -p mockhop; may wait for cargo's lock)"
cargo build --release -p hop-archiver -p mockhop >"$work/build.log" 2>&1 \
  || { tail -n 30 "$work/build.log" >&2; die "release build failed"; }
target_dir=${CARGO_TARGET_DIR:-$root/target}
archiver="$target_dir/release/archiver"
mockhop="$target_dir/release/mockhop"
[ -x "$archiver" ] && [ -x "$mockhop" ] || die "release binaries not found under $target_dir/release"

# ---- services --------------------------------------------------------------
# A private copy of services.sh keeps its state (.services: PID files, env,
# S3 data) under the work directory, so the bench never stops or reuses the
# servers of a `make test` running from the same checkout.
say "starting PostgreSQL, s3s-fs and tansu (private instances)"
mkdir -p "$work/scripts"
cp scripts/services.sh "$services"
"$services" start 2>"$work/services.log" || { cat "$work/services.log" >&2; die "services did not start"; }
# shellcheck disable=SC1091
. "$work/.services/env"
export AWS_ACCESS_KEY_ID=$ARCHIVER_TEST_S3_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$ARCHIVER_TEST_S3_SECRET_KEY
export AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN ARCHIVER_CONFIG

store_url() { printf 's3://%s?endpoint=%s&region=us-east-1' "$1" "$ARCHIVER_TEST_S3_ENDPOINT"; }

# CPU seconds used so far by each server (PostgreSQL with its backends,
# live and exited), as "postgres=S s3s-fs=S tansu=S". On 2 cores the
# servers and the archiver share the CPU: this shows where it went.
server_cpu() {
  local name pid out=""
  for name in postgres s3s-fs tansu; do
    pid=$(cat "$work/.services/$name.pid" 2>/dev/null) || continue
    out+="$name=$(awk -v pid="$pid" -v hz="$(getconf CLK_TCK)" '
      { line = $0; id = $1; sub(/^.*\) /, "", line); split(line, f, " ")
        # After the command: f[2] ppid, f[12..15] utime stime cutime cstime.
        if (id == pid) t += f[12] + f[13] + f[14] + f[15]
        else if (f[2] == pid) t += f[12] + f[13] }
      END { printf "%.1f", t / hz }' /proc/[0-9]*/stat 2>/dev/null) "
  done
  printf '%s' "${out% }"
}

# "a=1 b=2" and "a=4 b=3" -> "a=3.0 b=1.0": CPU seconds spent in between.
cpu_delta() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    n = split(a, x, " "); split(b, y, " ")
    for (i = 1; i <= n; i++) { split(x[i], p, "="); split(y[i], q, "="); printf "%s%s=%.1f", (i > 1 ? " " : ""), p[1], q[2] - p[2] }
  }'
}

# Every measured phase starts with the disk caught up and the page cache
# empty. s3s-fs does not fsync, so each phase leaves hundreds of MB of dirty
# pages behind, and with the page cache full the kernel reclaims memory in
# the writer's own time. Measured (30 000 objects PUT into fresh buckets):
# as is, 14.7 s to 30.5 s, and once 125 s with s3s-fs at 188 CPU-s for
# 100 000; after `sync` + drop_caches, four runs within 1 % (14.6-14.9 s).
# Dropping caches needs root; otherwise only `sync`, and the report says so.
settle_disk() {
  sync
  if [ -w /proc/sys/vm/drop_caches ]; then echo 3 >/proc/sys/vm/drop_caches; fi
}

# Seconds since the epoch with nanoseconds, for wall-clock timing.
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# ---- the ceiling -----------------------------------------------------------
# PUTs the objects of a backlog of $1 messages into a fresh bucket named
# after $2 (the number of archiver runs before it); sets c_objects, c_bytes
# and c_seconds.
measure_ceiling() {
  local count=$1 when=$2 tag="[$1]"
  shift 2
  local out="$work/ceiling-$count-$when" cpu_before
  say "$tag ceiling $when: PUT the archive's objects into a fresh bucket, $IN_FLIGHT in flight"
  settle_disk
  cpu_before=$(server_cpu)
  /usr/bin/time -f '%U %S' -o "$out.cpu" "$mockhop" put-ceiling "$@" --store "$(store_url "bench-ceiling-$count-$when")" \
    --concurrency "$IN_FLIGHT" --create-bucket >"$out.txt" 2>"$out.err" \
    || { tail -n 20 "$out.err" >&2; die "$tag mockhop put-ceiling failed"; }
  say "$tag   CPU seconds: put-ceiling=$(awk '{ printf "%.1f", $1 + $2 }' "$out.cpu") $(cpu_delta "$cpu_before" "$(server_cpu)")"
  local line
  line=$(grep '^ceiling ' "$out.txt") || die "$tag put-ceiling printed no result"
  say "$tag $line"
  field() { printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
  [ "$(field existed)" = 0 ] || die "$tag the ceiling bucket was not fresh ($(field existed) objects existed)"
  c_objects=$(field objects) c_bytes=$(field bytes) c_seconds=$(field seconds)
}

# ---- one backlog -----------------------------------------------------------
# One `archiver run --until-eos` of the backlog (produced already), with
# membership $4, into a fresh database, bucket and consumer group named
# after run $3, right after ceiling $5; verifies the archive and appends
# "count mode ceiling_before wall_s rss_kb startup_s window_s drain_s
# objects bytes join_s" to $work/runs.
archive_once() {
  local count=$1 topics=$2 run=$3 mode=$4 before=$5 tag="[$1 run $3 $4]"
  local prefix="bench${count}-" db="bench_${count}_${run}_$mode" group="bench-${count}-$run-$mode"
  local index="${ARCHIVER_TEST_PG_URL%/*}/$db" archive
  archive=$(store_url "bench-archive-$count-$run-$mode")
  local stream=(--seed "$SEED" --count "$count" --profile "$PROFILE" --topic-prefix "$prefix")
  "$psql_bin" "$ARCHIVER_TEST_PG_URL" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $db" \
    || die "$tag cannot create database $db"
  "$mockhop" put-ceiling --seed "$SEED" --count 0 --profile "$PROFILE" --topic-prefix "$prefix" \
    --store "$archive" --create-bucket >/dev/null || die "$tag cannot create bucket bench-archive-$count-$run-$mode"

  say "$tag archiver run --until-eos (in-flight $IN_FLIGHT${EXTRA_ARGS[*]:+, ${EXTRA_ARGS[*]}})"
  local cpu_before t0 t1 log="$work/archiver-$count-$run-$mode"
  settle_disk
  cpu_before=$(server_cpu)
  t0=$(now)
  /usr/bin/time -v -o "$log.time" "$archiver" run \
    --kafka-brokers "$ARCHIVER_TEST_KAFKA" --kafka-group-id "$group" --kafka-session-timeout-ms 6000 \
    --kafka-membership "$mode" \
    --topics "$topics" --topics-veto "${prefix}sys.heartbeat" \
    --index "$index" --store "$archive" \
    --until-eos --metrics-addr none --progress-interval-ms 5000 \
    --in-flight-max "$IN_FLIGHT" "${EXTRA_ARGS[@]}" \
    >"$log.log" 2>&1 \
    || { tail -n 30 "$log.log" >&2; die "$tag archiver run failed"; }
  t1=$(now)
  local archiver_cpu rss_kb
  archiver_cpu=$(awk -F': ' '/User time|System time/ { t += $2 } END { printf "%.1f", t }' "$log.time")
  say "$tag   CPU seconds: archiver=$archiver_cpu $(cpu_delta "$cpu_before" "$(server_cpu)")"
  rss_kb=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$log.time")
  [ -n "$rss_kb" ] || die "$tag no peak RSS in /usr/bin/time's report"

  say "$tag verifying the archive against the stream"
  "$mockhop" verify "${stream[@]}" --as-produced --index "$index" --store "$archive" \
    >"$log.verify" 2>&1 \
    || { tail -n 30 "$log.verify" >&2; die "$tag ARCHIVE IS WRONG: mockhop verify failed"; }
  say "$tag $(tail -n 1 "$log.verify")"

  # The index rows tell the phases apart: `ingested_at` (ms) is stamped as
  # each message is prepared, so first..last is the archiving window; before
  # it the consumer joins its group, after it --until-eos notices the end.
  local objects bytes first_ms last_ms
  IFS='|' read -r objects bytes first_ms last_ms < <("$psql_bin" "$index" -v ON_ERROR_STOP=1 -Atc \
    "SELECT count(*), coalesce(sum(size), 0), min(ingested_at), max(ingested_at) FROM messages") \
    || die "$tag cannot read the index"
  [ "$objects" = "$c_objects" ] || die "$tag archive holds $objects objects, the ceiling wrote $c_objects"
  local join_s
  join_s=$(group_join_seconds "$log.log") || die "$tag cannot tell the group join from the archiver's log"
  awk -v t0="$t0" -v t1="$t1" -v f="$first_ms" -v l="$last_ms" -v rss="$rss_kb" -v o="$objects" -v b="$bytes" -v j="$join_s" \
    -v head="$count $mode $before" \
    'BEGIN { printf "%s %.3f %s %.3f %.3f %.3f %s %s %.3f\n", head, t1 - t0, rss, f / 1000 - t0, (l - f) / 1000, t1 - l / 1000, o, b, j }' \
    >>"$work/runs"
  say "$tag archived $objects objects ($bytes bytes) in $(elapsed "$t0" "$t1")s, peak RSS ${rss_kb} KiB"
}

# Seconds from the archiver's "subscribing" log line to its first
# "partitions assigned": the consumer-group join, which the broker holds.
group_join_seconds() {
  python3 - "$1" <<'EOF'
import sys
from datetime import datetime
stamps = {}
with open(sys.argv[1], encoding="utf-8", errors="replace") as log:
    for line in log:
        for event in ("subscribing", "partitions assigned"):
            if event not in stamps and f" {event} " in line:
                # Python before 3.11 does not read a trailing "Z".
                stamps[event] = datetime.fromisoformat(line.split()[0].replace("Z", "+00:00"))
if len(stamps) < 2:
    sys.exit(f"{sys.argv[1]}: no 'subscribing' or no 'partitions assigned' line")
print(f"{(stamps['partitions assigned'] - stamps['subscribing']).total_seconds():.3f}")
EOF
}

# Runs the whole measurement for a backlog of $1 messages: $2 archiver runs
# per membership named after it, all interleaved with ceilings (C G C S C
# ...: the machine's speed drifts, by 20 % between minutes here, and each
# archiver run is compared with the two ceilings around it). Ceilings go to
# $work/ceilings as "count index seconds objects bytes".
bench_one() {
  local count=$1 runs=$2 tag="[$1]"
  shift 2
  local modes=("$@")
  local prefix="bench${count}-"
  local stream=(--seed "$SEED" --count "$count" --profile "$PROFILE" --topic-prefix "$prefix")

  say "$tag producing $count $PROFILE messages into tansu"
  "$mockhop" produce "${stream[@]}" --brokers "$ARCHIVER_TEST_KAFKA" --partitions "$PARTITIONS" \
    >"$work/produce-$count.txt" 2>"$work/produce-$count.err" \
    || { tail -n 20 "$work/produce-$count.err" >&2; die "$tag mockhop produce failed"; }
  # The stream's topics, heartbeats excepted (the archiver vetoes them):
  # naming them keeps the other backlog's topics out of this run.
  local topics
  topics=$(awk -v hb="${prefix}sys.heartbeat" 'NR > 1 && $1 != "total" && $1 != hb { printf "%s%s", sep, $1; sep = "," }' \
    "$work/produce-$count.txt")
  [ -n "$topics" ] || die "$tag mockhop produce reported no topics"

  local c_objects c_bytes c_seconds run mode ceiling=0
  measure_ceiling "$count" "$ceiling" "${stream[@]}"
  echo "$count $ceiling $c_seconds $c_objects $c_bytes" >>"$work/ceilings"
  for ((run = 1; run <= runs; run++)); do
    for mode in "${modes[@]}"; do
      archive_once "$count" "$topics" "$run" "$mode" "$ceiling"
      ceiling=$((ceiling + 1))
      measure_ceiling "$count" "$ceiling" "${stream[@]}"
      echo "$count $ceiling $c_seconds $c_objects $c_bytes" >>"$work/ceilings"
    done
  done
}

: >"$work/ceilings"
: >"$work/runs"
bench_one "$COUNT" "$RUNS" "${MODES[@]}"
if [ "$LARGE" != 0 ]; then
  bench_one "$LARGE_COUNT" "$LARGE_RUNS" "${LARGE_MODES[@]}"
else
  say "skipping the large backlog (BENCH_LARGE=0)"
fi

# ---- report ----------------------------------------------------------------
echo
printf 'make bench: seed %s, profile %s, %s partitions, in-flight %s, %s CPUs%s\n' \
  "$SEED" "$PROFILE" "$PARTITIONS" "$IN_FLIGHT" "$(nproc)" "${EXTRA_ARGS[*]:+, archiver args: ${EXTRA_ARGS[*]}}"
echo "archiving:  tansu -> archiver run --until-eos -> s3s-fs + PostgreSQL, from the first archived"
echo "            message to the process's exit (last offset committed, consumer closed)"
echo "member:     group = joins the consumer group (default); standalone = --kafka-membership standalone,"
echo "            assigns itself every partition without a group join, still commits to the group id"
echo "ceiling:    the same objects PUT with the same concurrency into s3s-fs, from the first PUT to"
echo "            the last, before and after each archiver run (C G C S C ...)"
echo "ratios:     each archiver run against the mean of the two ceilings around it (the machine's"
echo "            speed drifts); the table shows medians over the runs, min-max in the lines below"
echo "RATIO:      archiving msg/s / ceiling msg/s (target >= $TARGET_RATIO): both clocks start at the first write"
echo "steady:     objects / (first..last ingested_at) / ceiling, i.e. without the drain either"
echo "with start: objects / process wall time / ceiling, start-up included"
echo "start:      process start to the first archived message; 'join' is the part of it spent in the"
echo "            consumer-group join, which the broker holds (tansu: half the session timeout, 3 s at"
echo "            the 6 000 ms used here; Apache Kafka: group.initial.rebalance.delay.ms, 3 s)"
echo "drain:      last archived message to the process's exit"
if [ -w /proc/sys/vm/drop_caches ]; then
  echo "disk:       sync and drop_caches before every measured phase"
else
  echo "disk:       sync before every measured phase; page cache NOT dropped (needs root), figures drift more"
fi
echo "MB = 10^6 bytes of archived objects; msg = distinct archived message (= object)"
echo
python3 - "$work/ceilings" "$work/runs" "$TARGET_RATIO" <<'EOF'
import statistics, sys
ceilings_path, runs_path, target = sys.argv[1], sys.argv[2], float(sys.argv[3])
ceilings = {}  # (count, index) -> seconds
for line in open(ceilings_path):
    count, index, seconds, _objects, _bytes = line.split()
    ceilings[(count, int(index))] = float(seconds)
groups = {}  # (count, mode) -> list of per-run figures, in order of appearance
for line in open(runs_path):
    count, mode, before, wall, rss, start, window, drain, objects, size, join = line.split()
    wall, start, window, drain, join = map(float, (wall, start, window, drain, join))
    objects, size, before = int(objects), int(size), int(before)
    ceiling_s = (ceilings[(count, before)] + ceilings[(count, before + 1)]) / 2
    ceiling_rate = objects / ceiling_s
    archiving = wall - start
    groups.setdefault((count, mode), []).append({
        "objects": objects, "mb": size / 1e6, "archiving": archiving, "wall": wall, "rss": int(rss) / 1024,
        "start": start, "join": join, "drain": drain, "ceiling": ceiling_rate, "ceiling_mbs": size / 1e6 / ceiling_s,
        "ratio": objects / archiving / ceiling_rate, "steady": objects / window / ceiling_rate,
        "with_start": objects / wall / ceiling_rate,
    })
med = lambda runs, key: statistics.median(r[key] for r in runs)
span = lambda runs, key: f"{min(r[key] for r in runs):.3f}-{max(r[key] for r in runs):.3f}"
head = "{:<7} {:<10} {:>7} {:>6} | {:>6} {:>6} {:>6} | {:>6} {:>6} | {:>6} {:>6} | {:>6} {:>6} | {:>5} {:>5} {:>5} | {:>8}"
print(head.format("backlog", "member", "objects", "MB", "archiv", "msg/s", "MB/s", "ceil", "ceil", "RATIO", "steady",
                  "wall", "with", "start", "join", "drain", "peak RSS"))
print(head.format("", "", "", "", "-ing s", "", "", "msg/s", "MB/s", "", "ratio", "s", "start", "s", "s", "s", "MiB"))
row = ("{:<7} {:<10} {:>7d} {:>6.1f} | {:>6.2f} {:>6.0f} {:>6.2f} | {:>6.0f} {:>6.2f} | {:>6.3f} {:>6.3f} | "
       "{:>6.2f} {:>6.3f} | {:>5.1f} {:>5.1f} {:>5.1f} | {:>8.1f}")
lines, first_rss = [], {}
for (count, mode), runs in groups.items():
    archiving = med(runs, "archiving")
    objects, mb = runs[0]["objects"], runs[0]["mb"]
    peak = max(r["rss"] for r in runs)
    print(row.format(count, mode, objects, mb, archiving, objects / archiving, mb / archiving, med(runs, "ceiling"),
                     med(runs, "ceiling_mbs"), med(runs, "ratio"), med(runs, "steady"), med(runs, "wall"),
                     med(runs, "with_start"), med(runs, "start"), med(runs, "join"), med(runs, "drain"), peak))
    if mode in first_rss:
        first_count, rss = first_rss[mode]
        lines.append(f"peak RSS {count} vs {first_count} backlog ({mode}): {peak:.1f} / {rss:.1f} MiB = "
                     f"{peak / rss:.2f}x (must not grow with the backlog)")
    else:
        first_rss[mode] = (count, peak)
    ratio, with_start = med(runs, "ratio"), med(runs, "with_start")
    lines.append(f"{count} {mode}, {len(runs)} run(s): ratio {ratio:.3f} ({'>=' if ratio >= target else 'BELOW'} "
                 f"target {target:.2f}; runs {span(runs, 'ratio')}); steady {med(runs, 'steady'):.3f}; with start-up "
                 f"{with_start:.3f} ({'>=' if with_start >= target else 'below'} target; runs {span(runs, 'with_start')}; "
                 f"{med(runs, 'start'):.1f} s start-up, {med(runs, 'join'):.1f} s of it the group join)")
for count in dict.fromkeys(c for c, _ in groups):
    seconds = [s for (c, _), s in ceilings.items() if c == count]
    fastest, slowest = min(seconds), max(seconds)
    spread = slowest / fastest - 1
    lines.append(f"{count}: {len(seconds)} ceilings, {fastest:.2f} to {slowest:.2f} s ({100 * spread:.0f}% apart)"
                 + (": the load moved, read these ratios with care" if spread > 0.25 else ""))
print()
print("\n".join(lines))
print()
print("(figures only: a low ratio never fails the bench; a wrong archive or a failed step does)")
EOF
