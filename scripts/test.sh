#!/usr/bin/env bash
# `make test`: install what is missing, check formatting and lints, start the
# real services, run every test, and stop the services again (also on failure).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "prerequisites"
scripts/deps.sh

step "format and lints"
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings

step "services"
# Quietly, so that the test summary stays the last line of the run.
trap 'scripts/services.sh stop >/dev/null 2>&1' EXIT
scripts/services.sh start
set -a
# shellcheck source=/dev/null
. .services/env
set +a

step "doctests"
cargo test --locked --workspace --doc

step "tests"
# Last, so that its summary is the final line of the run.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --workspace --profile ci
else
  cargo test --locked --workspace --all-targets
fi
