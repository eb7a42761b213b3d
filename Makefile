# Compiled dependencies live outside the checkout, so clean clones and CI reuse them.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/bulkhead/target

CARGO ?= cargo
BULKHEAD = $(CARGO) run --quiet -p bulkhead-server --bin bulkhead --

.PHONY: run test lint fmt openapi clients migrate build bench bench-quick

## Start the server on the embedded SQLite store (bulkhead.db), with a throwaway JWT secret
## unless BULKHEAD_JWT_SECRET is set, and a fixed development secrets key (which seals provider
## credentials) unless BULKHEAD_SECRETS_KEY is set: known to everyone, so development only.
DEV_SECRETS_KEY = dev:6465762d6f6e6c792d6b65792d6e6f742d666f722d70726f64756374696f6e21
run:
	@if [ -z "$$BULKHEAD_SECRETS_KEY" ]; then \
	  echo "make run: sealing secrets at rest with the public development key $(firstword $(subst :, ,$(DEV_SECRETS_KEY))); set BULKHEAD_SECRETS_KEY outside development"; \
	fi
	BULKHEAD_SECRETS_KEY=$${BULKHEAD_SECRETS_KEY:-$(DEV_SECRETS_KEY)} $(BULKHEAD) serve --ephemeral-jwt-secret

## Run every test: unit, mock, compile-fail, HTTP on SQLite and PostgreSQL, RLS policies,
## then schemathesis over the OpenAPI document (scripts/api-fuzz.sh), then the generated Python
## and TypeScript clients against a real server (scripts/clients.sh --check).
## Finds or starts PostgreSQL by itself (scripts/test-postgres.sh); never skips it.
test:
	@url=$$(scripts/test-postgres.sh) || exit 1; \
	echo "PostgreSQL for tests: $$url"; \
	if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  BULKHEAD_TEST_DATABASE_URL=$$url $(CARGO) nextest run --workspace --no-fail-fast; \
	else \
	  BULKHEAD_TEST_DATABASE_URL=$$url $(CARGO) test --workspace --no-fail-fast; \
	fi
	scripts/api-fuzz.sh
	scripts/clients.sh --check

## Formatting and clippy, warnings denied.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## Regenerate the committed OpenAPI document.
openapi:
	$(BULKHEAD) openapi > openapi/openapi.json

## Generate the typed clients from the committed document: clients/python/generated (Python,
## openapi-python-client) and clients/typescript/generated (TypeScript, openapi-typescript for
## openapi-fetch). Needs python3 and npm.
clients:
	scripts/clients.sh

## Apply migrations: BULKHEAD_ADMIN_DATABASE_URL (the owner), else DATABASE_URL.
migrate:
	$(BULKHEAD) migrate

build:
	$(CARGO) build --release -p bulkhead-server

## Benchmark against PostgreSQL's own limit: 1M projects, release build, wrk and pgbench;
## writes docs/benchmarks.md and its chart. Needs wrk (Debian: apt-get install wrk).
bench: build
	@url=$$(scripts/test-postgres.sh) || exit 1; scripts/bench.py --size full --admin-url "$$url"

## The same harness at a small size (what CI runs, to show it still works; asserts no speed).
bench-quick: build
	@url=$$(scripts/test-postgres.sh) || exit 1; scripts/bench.py --size quick --bcrypt-cost 4 --admin-url "$$url"
