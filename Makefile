# The project's commands. `make test` is the one CI runs.
.PHONY: test check fmt services-start services-stop services-status clean

test: ## format, lints, real services, every test
	scripts/test.sh

check: ## format and lints only
	cargo fmt --all -- --check
	cargo clippy --locked --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

services-start: ## start PostgreSQL, s3s-fs and tansu; addresses in .services/env
	scripts/services.sh start

services-stop:
	scripts/services.sh stop

services-status:
	scripts/services.sh status

clean:
	scripts/services.sh stop
	cargo clean
