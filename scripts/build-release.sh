#!/usr/bin/env bash
# The release build of `archiver` and `mockhop`: `make release` and the
# container image's build stage (Dockerfile) both run this script, so the
# image holds exactly what `make` builds.
#
# Usage: scripts/build-release.sh [DIR]
#   Builds both binaries into target/release (with the locked dependencies)
#   and, given DIR, copies them there too. SOURCE_REVISION, if set, is the
#   revision `archiver --version` prints (the image passes it; its build has
#   no .git); otherwise the checkout's `git rev-parse --short HEAD`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh build
cargo build --locked --release -p hop-archiver -p mockhop --bins
if [ $# -gt 0 ]; then
  install -D -m 0755 -t "$1" target/release/archiver target/release/mockhop
fi
