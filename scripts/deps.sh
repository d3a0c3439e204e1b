#!/usr/bin/env bash
# Installs the system packages the build needs, when they are missing and we
# may (root with apt-get). Otherwise names what is missing.
set -euo pipefail

command -v cargo >/dev/null || { echo "deps: cargo not found: install the Rust toolchain (rustup)" >&2; exit 1; }

missing=()
for tool in cc pkg-config python3; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "deps: installing ${missing[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends build-essential pkg-config python3 python3-venv postgresql-15 >/dev/null
else
  echo "deps: missing ${missing[*]}: install them (Debian: build-essential pkg-config python3-venv postgresql-15)" >&2
  exit 1
fi
