# OmniRoute: `make run` starts the gateway, `make test` runs every test.
# Every target installs what a fresh machine lacks.

SHELL := /bin/bash
CARGO ?= cargo
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 20128

.PHONY: run test bench lint build deps-rust deps-python deps-cli fmt clean

run: deps-rust
	$(CARGO) build --release -p omniroute
	./target/release/omniroute --port $(PORT)

test: deps-rust deps-python deps-cli lint build
	$(CARGO) test --workspace
	$(PY) -m pytest -q tests/python

bench: deps-rust
	$(CARGO) build --release --workspace --bins
	./target/release/omniroute-bench

build:
	$(CARGO) build --workspace --bins

lint: deps-rust
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

# Rust toolchain components used by the targets above.
deps-rust:
	@command -v $(CARGO) >/dev/null || { echo "cargo is missing: install Rust from https://rustup.rs"; exit 1; }
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy

# A local virtualenv with the client SDKs the end-to-end tests use.
deps-python: $(VENV)/.installed

$(VENV)/.installed: tests/python/requirements.txt
	@python3 -m venv --help >/dev/null 2>&1 || { apt-get update && apt-get install -y python3-venv; }
	@[ -x $(PY) ] || python3 -m venv $(VENV) || { apt-get update && apt-get install -y python3-venv && python3 -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
	touch $@

# The real coding CLIs (pinned in tests/cli/package-lock.json). npm 11 does
# not run install scripts by default; Claude Code's puts its binary in place.
deps-cli: tests/cli/node_modules/.installed

tests/cli/node_modules/.installed: tests/cli/package.json tests/cli/package-lock.json
	@command -v npm >/dev/null || { apt-get update && apt-get install -y nodejs npm; }
	cd tests/cli && npm ci --no-audit --no-fund
	cd tests/cli/node_modules/@anthropic-ai/claude-code && node install.cjs
	touch $@

clean:
	$(CARGO) clean
	rm -rf $(VENV) tests/cli/node_modules
