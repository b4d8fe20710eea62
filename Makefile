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

# Fuzzing the translation codecs (docs/FUZZING.md): every cargo-fuzz target
# in fuzz/ runs FUZZ_SECONDS; any crash fails the target. Seeds come from
# fuzz/corpus/<target>/ (read only); what the fuzzer adds goes to
# fuzz/target/corpus/<target>/. The code under test is safe Rust, so no
# sanitizer by default, which also keeps the build on stable; the address
# sanitizer needs a -Z flag, which stable takes with RUSTC_BOOTSTRAP=1.
FUZZ_SECONDS ?= 30
FUZZ_SANITIZER ?= none
FUZZ_TARGETS := request_openai request_anthropic request_gemini request_responses \
	stream_openai stream_anthropic stream_gemini stream_responses
FUZZ_CARGO = $(if $(filter none,$(FUZZ_SANITIZER)),,RUSTC_BOOTSTRAP=1 )$(CARGO) fuzz

.PHONY: fuzz
fuzz: deps-rust
	@$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	$(FUZZ_CARGO) build -s $(FUZZ_SANITIZER)
	@failed=""; for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/target/corpus/$$t; \
		echo "== $$t: $(FUZZ_SECONDS) s"; \
		$(FUZZ_CARGO) run -s $(FUZZ_SANITIZER) $$t "$(CURDIR)/fuzz/target/corpus/$$t" "$(CURDIR)/fuzz/corpus/$$t" -- \
			-max_total_time=$(FUZZ_SECONDS) -dict="$(CURDIR)/fuzz/dict/wire.dict" -print_final_stats=1 2>&1 | grep -v '^"' ; \
		status=$${PIPESTATUS[0]}; \
		echo "== $$t: exit $$status, corpus $$(ls "fuzz/target/corpus/$$t" | wc -l) files found + $$(ls "fuzz/corpus/$$t" | wc -l) seeds"; \
		[ $$status -eq 0 ] || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: crashes in:$$failed (inputs in fuzz/artifacts/<target>/)"; exit 1; fi; \
	echo "fuzz: no crash"
