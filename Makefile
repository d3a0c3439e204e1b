# The project's commands. `make test` is the one CI runs; `make help` lists them all.
.PHONY: demo help test test-fast check fmt release bench bench-status bench-search services-start services-stop services-status clean scenario \
	compose-build compose-up compose-logs compose-down compose-wipe

# `docker compose` (the plugin); COMPOSE=docker-compose for the standalone one.
COMPOSE ?= docker compose

demo: ## archive a seeded stream end to end on an in-process Kafka into ./demo-archive
	scripts/deps.sh build
	cargo run -q -p mockhop -- demo --dir demo-archive

help: ## list the targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z-]*:.*## / { printf "  make %-16s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

test: ## format, lints, real services, every test (what CI runs)
	scripts/test.sh

# Every ARCHIVER_TEST_* variable is unset, so a test that needs a service and
# is missing from the profile's filter fails instead of quietly using
# servers that happen to be running.
test-fast: ## every test that needs no service (nextest profile `fast`): 1-1.5 min warm, ~9 cold; no fmt/clippy
	@cargo nextest --version >/dev/null 2>&1 \
		|| { echo "make test-fast needs cargo-nextest: cargo install cargo-nextest --locked"; exit 2; }
	unset $$(env | sed -n 's/^\(ARCHIVER_TEST_[A-Za-z0-9_]*\)=.*/\1/p'); \
		cargo nextest run --locked --workspace --profile fast

check: ## format and lints only
	cargo fmt --all -- --check
	cargo clippy --locked --workspace --all-targets -- -D warnings

fmt: ## format the code (cargo fmt)
	cargo fmt --all

release: ## release build of archiver and mockhop into target/release (the container image's build runs the same script), ~12 min cold
	scripts/build-release.sh

compose-build: .env ## build the hop-archiver image for compose.yaml, labelled with this checkout's revision
	SOURCE_REVISION=$$(git rev-parse --short HEAD 2>/dev/null || echo unknown) $(COMPOSE) build

compose-up: .env ## start the stack in the background: Kafka, MinIO, PostgreSQL, archiver run + serve, one mockhop produce
	$(COMPOSE) up --detach

compose-logs: .env ## follow the stack's logs (Ctrl-C stops following, not the stack)
	$(COMPOSE) logs --follow

compose-down: .env ## stop the stack and remove its containers; the volumes (Kafka, objects, index) stay
	$(COMPOSE) down

compose-wipe: .env ## stop the stack and delete its volumes: Kafka's topics, the archive's objects and index
	$(COMPOSE) down --volumes --remove-orphans

# The stack's credentials, from the example on first use.
.env:
	cp .env.example $@
	@echo "created .env from .env.example: change its passwords before the stack holds anything real"

bench: ## throughput and peak RSS of `archiver run` and `archiver restore` vs their ceilings, ~20 min (BENCH_LARGE=0: 10k only)
	scripts/bench.py

bench-status: ## `archiver status`, GET /topics, /messages/count (vs 100 ms) and the browse pages (vs 300 ms) on 10 million PostgreSQL rows, ~7 min, ~7 GB in TMPDIR
	scripts/bench_status.py

bench-search: ## GET /messages?search_query=… on 1 million PostgreSQL rows vs 200 ms, ~1.5 GB in TMPDIR (BENCH_SEARCH_ROWS=100000: quick)
	scripts/bench_search.py

scenario: ## replay one scenario: make scenario NAME=crash-after-object-write [SEED=7] (memory backends, seconds)
	@test -n "$(NAME)" || { echo "usage: make scenario NAME=<scenarios/NAME.toml> [SEED=<u64>]"; exit 2; }
	SCENARIO_SEED="$(SEED)" cargo test -p hop-archiver-tests --test it -- --exact \
		scenario::cases::$(subst -,_,$(NAME)) --nocapture

services-start: ## start PostgreSQL, s3s-fs, tansu and the SASL_SSL/SCRAM tansu; addresses in .services/env
	scripts/services.sh start

services-stop: ## stop the servers services-start started (by their PID files)
	scripts/services.sh stop

services-status: ## show which servers run, and their addresses
	scripts/services.sh status

clean: ## stop the servers and remove build output (cargo clean)
	scripts/services.sh stop
	cargo clean
