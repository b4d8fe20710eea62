# OmniRoute: `make run` starts the gateway, `make test` runs every test.
# Every target installs what a fresh machine lacks.

SHELL := /bin/bash
CARGO ?= cargo
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 20128
# The engine's packages. The root package is the desktop app (src-tauri/),
# built and tested by its own targets because it needs WebKit.
ENGINE := -p omniroute -p omniroute-tests

.PHONY: run test bench bench-desktop lint build ui e2e desktop test-desktop deps-rust deps-python deps-cli deps-ui deps-e2e deps-desktop fmt clean

run: deps-rust ui
	$(CARGO) build --release -p omniroute
	./target/release/omniroute --port $(PORT)

test: deps-rust deps-python deps-cli lint build
	$(CARGO) test $(ENGINE)
	$(CARGO) test --manifest-path ui/Cargo.toml
	$(PY) -m pytest -q tests/python
	$(MAKE) e2e
	$(MAKE) test-desktop

bench: deps-rust
	$(CARGO) build --release $(ENGINE) --bins
	./target/release/omniroute-bench

build: ui
	$(CARGO) build $(ENGINE) --bins

lint: deps-rust
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(ENGINE) --all-targets -- -D warnings
	$(CARGO) fmt --manifest-path ui/Cargo.toml --all -- --check
	$(CARGO) clippy --manifest-path ui/Cargo.toml --all-targets -- -D warnings

# The dashboard (ui/, its own cargo workspace) compiled to wasm32, bound with
# wasm-bindgen, and laid out in ui/dist, which the gateway embeds at build.
# Where rustup lacks the wasm32 target, Debian's Rust builds it (DESIGN.md).
WASM_TARGET := wasm32-unknown-unknown
WASM_BINDGEN := .tools/bin/wasm-bindgen
WASM_BINDGEN_VERSION = $(shell awk '/^name = "wasm-bindgen"$$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' ui/Cargo.lock)
HAVE_RUSTUP_WASM = $(shell rustup target list --installed 2>/dev/null | grep -qx $(WASM_TARGET) && echo yes)

ui: deps-ui
	@if [ "$(HAVE_RUSTUP_WASM)" = yes ]; then \
		$(CARGO) build --release --target $(WASM_TARGET) --manifest-path ui/Cargo.toml; \
	else \
		cd ui && RUSTC_BOOTSTRAP=1 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld \
		/usr/bin/cargo build --release -Z build-std=std,panic_abort --target $(WASM_TARGET); \
	fi
	rm -rf ui/dist.new && mkdir -p ui/dist.new/pkg
	$(WASM_BINDGEN) --target web --no-typescript --remove-name-section --remove-producers-section --out-dir ui/dist.new/pkg \
		ui/target/$(WASM_TARGET)/release/omniroute_ui.wasm
	@# No wasm-opt pass: Debian's binaryen 108 made the file 15 % smaller but
	@# its gzip 13 % larger (what the browser downloads), and took 27 s.
	cp ui/index.html ui/dist.new/
	cp -r ui/assets ui/dist.new/assets
	cat ui/style.css $$(ls ui/styles/*.css 2>/dev/null | sort) > ui/dist.new/style.css
	@# Replace the old build in one step, and only when it changed, so the
	@# gateway is not rebuilt for nothing.
	@if diff -rq ui/dist ui/dist.new >/dev/null 2>&1; then rm -rf ui/dist.new; \
		else rm -rf ui/dist && mv ui/dist.new ui/dist; fi

deps-ui:
	@if [ "$(HAVE_RUSTUP_WASM)" != yes ]; then \
		if command -v rustup >/dev/null && rustup target add $(WASM_TARGET); then :; \
		elif [ ! -x /usr/bin/cargo ] || ! command -v wasm-ld >/dev/null; then \
			apt-get update && apt-get install -y rustc-web cargo-web rust-web-src lld; fi; \
	fi
	@[ "$$($(WASM_BINDGEN) --version 2>/dev/null)" = "wasm-bindgen $(WASM_BINDGEN_VERSION)" ] || \
		$(CARGO) install --root .tools wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION)

# Browser tests of the dashboard in headless Chromium (tests/e2e), against
# the debug binaries `build` makes (gateway, mock-upstream, mock-oauth).
e2e: deps-e2e build
	cd tests/e2e && npm test

deps-e2e: tests/e2e/node_modules/.installed
	@[ -x /usr/bin/chromium ] || { apt-get update && apt-get install -y chromium; }

tests/e2e/node_modules/.installed: tests/e2e/package.json tests/e2e/package-lock.json
	@command -v npm >/dev/null || { apt-get update && apt-get install -y nodejs npm; }
	cd tests/e2e && npm ci --no-audit --no-fund
	touch $@

# The desktop app (Tauri 2, sources in src-tauri/, package at the root).
# Its unit tests need no display. The end-to-end test runs the built app in
# a real X server (Xvfb) and D-Bus session, with GNOME Keyring as the secret
# service; the Debian packages are what WebKitGTK, the tray, the keychain
# and that session need.
DESKTOP_DEBS := libwebkit2gtk-4.1-dev build-essential libxdo-dev libssl-dev \
	libayatana-appindicator3-dev librsvg2-dev pkg-config \
	xvfb xauth dbus-daemon dbus-bin gnome-keyring libsecret-tools x11-utils imagemagick \
	curl bc
DESKTOP_TOOLS := xvfb-run xauth dbus-run-session dbus-send gnome-keyring-daemon secret-tool xwininfo curl bc
deps-desktop:
	@missing=; for tool in $(DESKTOP_TOOLS); do command -v $$tool >/dev/null || missing=$$tool; done; \
	pkg-config --exists webkit2gtk-4.1 ayatana-appindicator3-0.1 librsvg-2.0 2>/dev/null && \
		[ -e /usr/include/xdo.h ] && [ -x /usr/bin/convert ] && [ -z "$$missing" ] || \
		{ apt-get update && apt-get install -y $(DESKTOP_DEBS); }

test-desktop: deps-rust deps-desktop deps-python
	$(CARGO) clippy -p omniroute-desktop --all-targets -- -D warnings
	$(CARGO) test -p omniroute-desktop
	$(CARGO) build -p omniroute-desktop -p omniroute-tests --bins
	xvfb-run -a -s "-screen 0 1440x900x24" dbus-run-session -- $(PY) -m pytest -q tests/desktop

# The installable app and its .deb (target/release/bundle/deb/). The Tauri
# CLI comes prebuilt from npm into .tools/ (compiling it takes 8 minutes).
TAURI_CLI := .tools/node_modules/.bin/tauri
desktop: deps-rust deps-desktop ui
	@[ -x $(TAURI_CLI) ] || npm install --prefix .tools --no-audit --no-fund @tauri-apps/cli@2.12.5
	@# The app is not a default workspace member (it needs WebKit); name it.
	$(TAURI_CLI) build --bundles deb -- -p omniroute-desktop

# Start-up time, memory and idle CPU of the built app (docs/BENCHMARKS.md).
bench-desktop: desktop
	xvfb-run -a -s "-screen 0 1440x900x24" dbus-run-session -- tests/desktop/bench_startup.sh target/release/omniroute-desktop 3

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
	rm -rf $(VENV) tests/cli/node_modules tests/e2e/node_modules ui/target ui/dist .tools

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
