# The project's commands. `make test` is the one CI runs.
.PHONY: demo test check fmt bench services-start services-stop services-status clean scenario

demo: ## archive a seeded stream end to end on an in-process Kafka into ./demo-archive
	scripts/deps.sh build
	cargo run -q -p mockhop -- demo --dir demo-archive

test: ## format, lints, real services, every test
	scripts/test.sh

check: ## format and lints only
	cargo fmt --all -- --check
	cargo clippy --locked --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

bench: ## throughput and peak RSS of `archiver run` vs the S3 PUT ceiling (BENCH_LARGE=0: 10k only)
	scripts/bench.sh

scenario: ## replay one scenario: make scenario NAME=crash-after-object-write [SEED=7] (memory backends, seconds)
	@test -n "$(NAME)" || { echo "usage: make scenario NAME=<scenarios/NAME.toml> [SEED=<u64>]"; exit 2; }
	SCENARIO_SEED="$(SEED)" cargo test -p hop-archiver-tests --test it -- --exact \
		scenario::cases::$(subst -,_,$(NAME)) --nocapture

services-start: ## start PostgreSQL, s3s-fs and tansu; addresses in .services/env
	scripts/services.sh start

services-stop:
	scripts/services.sh stop

services-status:
	scripts/services.sh status

clean:
	scripts/services.sh stop
	cargo clean
