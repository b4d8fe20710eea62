# OmniRoute: `make run` starts the gateway, `make test` runs every test.
# Every target installs what a fresh machine lacks.

SHELL := /bin/bash
CARGO ?= cargo
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 20128

.PHONY: run test bench lint build build-release deps-rust deps-python fmt clean

run: deps-rust
	$(CARGO) build --release -p omniroute
	./target/release/omniroute --port $(PORT)

test: deps-rust deps-python lint build
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

clean:
	$(CARGO) clean
	rm -rf $(VENV)
