# mio-daemon. `make run` runs the daemon, `make test` runs every test; both
# install what a fresh Debian machine lacks (libjson-c-dev, socat, …) first.
SHELL := /bin/bash
# rustup's cargo, where the machine has it and PATH does not.
export PATH := /opt/swift/usr/bin:$(PATH):$(HOME)/.cargo/bin
SWIFT ?= swift
CARGO ?= cargo
RUST_CLIENT := clients/rust
BENCH_BIN := Benchmarks/bin

PREFIX ?= /usr/local
DESTDIR ?=
BIN_DIR ?= .build/release
UNIT_DIR := $(PREFIX)/lib/systemd/system
USER_UNIT_DIR := $(PREFIX)/lib/systemd/user
SYSUSERS_DIR := $(PREFIX)/lib/sysusers.d
DOC_DIR := $(PREFIX)/share/doc/mio-daemon
MAN_DIR := $(PREFIX)/share/man
BASH_COMPLETION_DIR := $(PREFIX)/share/bash-completion/completions
ZSH_COMPLETION_DIR := $(PREFIX)/share/zsh/site-functions
FISH_COMPLETION_DIR := $(PREFIX)/share/fish/vendor_completions.d

# libmio-client (clients/c): its own Makefile, run from here.
C_CLIENT := clients/c

FUZZ_SECONDS ?= 60
FUZZ_BIN := Fuzz/.build/debug

.PHONY: deps build release test run bench clean install install-files fuzz test-asan test-tsan soak \
  c-client install-c-client rust-client

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

# The Swift runtime linked into the executables: the daemon runs where no
# Swift toolchain is installed, and its code sits in one image (registration
# about 2% faster than with the runtime's shared libraries).
release: deps
	$(SWIFT) build -c release --static-swift-stdlib

test: deps c-client
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	# Every Python suite in one run (Tests/conftest.py, pytest.ini).
	python3 -m pytest -q -p no:cacheprovider Tests
	# The Rust crate's tests: each starts its own daemon from MIO_DAEMON_BIN.
	cd $(RUST_CLIENT) && MIO_DAEMON_BIN=$${MIO_DAEMON_BIN:-$(CURDIR)/.build/debug/mio-daemon} $(CARGO) test --offline

# The Rust crate mio-daemon-client, offline against Debian's librust-*-dev
# (clients/rust/.cargo/config.toml).
rust-client: deps
	cd $(RUST_CLIENT) && $(CARGO) build --offline --all-targets

run: release
	@scripts/run-daemon.sh

# libmio-client: build/libmio-client.so.0 and .a, and its C test programs.
c-client: deps
	$(MAKE) -C $(C_CLIENT) all tests

# Only the C library's files (lib/, include/, lib/pkgconfig/, share/man/man3/).
install-c-client:
	$(MAKE) -C $(C_CLIENT) install PREFIX='$(PREFIX)' DESTDIR='$(DESTDIR)'

$(BENCH_BIN)/%: Benchmarks/c/%.c Benchmarks/c/bench_common.h
	@mkdir -p $(BENCH_BIN)
	gcc -O2 -Wall -o $@ $< -lpthread

# The relay and fanout through libmio-client, linked to the shared library as users do.
$(BENCH_BIN)/libmio_client_%: Benchmarks/c/libmio_client_%.c Benchmarks/c/bench_common.h c-client
	@mkdir -p $(BENCH_BIN)
	gcc -O2 -Wall -I$(C_CLIENT)/include -o $@ $< -L$(C_CLIENT)/build -lmio-client -Wl,-rpath,$(CURDIR)/$(C_CLIENT)/build

bench: release $(BENCH_BIN)/fanout_epoll $(BENCH_BIN)/libmio_client_relay $(BENCH_BIN)/libmio_client_fanout
	python3 Benchmarks/bench.py $(WORKLOADS)

# libFuzzer, FUZZ_SECONDS per target (CI: 60). The corpus grows under
# Fuzz/.build/corpus; the seeds in Fuzz/corpus are committed. SwiftPM passes
# the two sanitizers to swiftc as two options, and swiftc keeps the last
# one only, in an order that changes from build to build (a Set): half the
# builds had coverage without ASan, half ASan without coverage. The one
# combined option, placed after SwiftPM's, gives every Swift file both.
# Linked with lld: ld.gold links it too, with a warning per ASan symbol.
fuzz: deps
	cd Fuzz && $(SWIFT) build -c debug --sanitize=fuzzer --sanitize=address \
	  -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld
	for target in decoder framer; do \
	  scripts/fuzz-target.sh $(FUZZ_BIN)/Fuzz$$(echo $$target | sed 's/./\U&/') $$target $(FUZZ_SECONDS) || exit 1; \
	done

# The Swift suites and the daemon under AddressSanitizer / ThreadSanitizer,
# the pytest integration suite driving the sanitized daemon. ASan's
# quarantine is off: it keeps freed memory, and the suite bounds the RSS.
test-asan: deps
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build-asan
	ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan.supp \
	  $(SWIFT) test --skip-build --sanitize=address --scratch-path .build-asan
	ASAN_OPTIONS=detect_leaks=1:quarantine_size_mb=0 LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan.supp \
	  MIO_DAEMON_BIN=$(CURDIR)/.build-asan/debug/mio-daemon python3 -m pytest -q -p no:cacheprovider Tests/integration

test-tsan: deps
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	$(SWIFT) test --skip-build --sanitize=thread --scratch-path .build-tsan
	MIO_DAEMON_BIN=$(CURDIR)/.build-tsan/debug/mio-daemon python3 -m pytest -q -p no:cacheprovider Tests/integration

# SOAK_MINUTES of clients killed at random; fd count and RSS back to baseline.
SOAK_MINUTES ?= 10
soak: release
	python3 Tests/soak/soak.py --minutes $(SOAK_MINUTES)

# `make install` (PREFIX, DESTDIR): both binaries, their man pages
# (mio-daemon(8), mioctl(1)), mioctl's bash/zsh/fish completions, units,
# sysusers file, docs, and libmio-client (install-c-client).
# Then: systemd-sysusers; systemctl daemon-reload; systemctl enable --now mio-daemon.socket
install: release install-files install-c-client

# The units, man pages and completions are made on the fly (piped into
# install): nothing is written into the source tree, which may be read-only
# (Tests/real_systemd binds it so into its container). The man pages come
# from the binaries' own --experimental-dump-help (scripts/make-man-page.py).
install-files:
	install -D -m 0755 $(BIN_DIR)/mio-daemon $(DESTDIR)$(PREFIX)/bin/mio-daemon
	install -D -m 0755 $(BIN_DIR)/mioctl $(DESTDIR)$(PREFIX)/bin/mioctl
	set -o pipefail; python3 scripts/make-man-page.py $(BIN_DIR)/mio-daemon 8 | install -D -m 0644 /dev/stdin $(DESTDIR)$(MAN_DIR)/man8/mio-daemon.8
	set -o pipefail; python3 scripts/make-man-page.py $(BIN_DIR)/mioctl 1 | install -D -m 0644 /dev/stdin $(DESTDIR)$(MAN_DIR)/man1/mioctl.1
	set -o pipefail; $(BIN_DIR)/mioctl --generate-completion-script bash | install -D -m 0644 /dev/stdin $(DESTDIR)$(BASH_COMPLETION_DIR)/mioctl
	set -o pipefail; $(BIN_DIR)/mioctl --generate-completion-script zsh | install -D -m 0644 /dev/stdin $(DESTDIR)$(ZSH_COMPLETION_DIR)/_mioctl
	set -o pipefail; $(BIN_DIR)/mioctl --generate-completion-script fish | install -D -m 0644 /dev/stdin $(DESTDIR)$(FISH_COMPLETION_DIR)/mioctl.fish
	set -o pipefail; for unit in mio-daemon.socket mio-daemon.service; do \
	  sed 's#/usr/local/bin/#$(PREFIX)/bin/#g; s#/usr/local/share/doc/#$(PREFIX)/share/doc/#g' systemd/$$unit \
	    | install -D -m 0644 /dev/stdin $(DESTDIR)$(UNIT_DIR)/$$unit || exit 1; \
	  sed 's#/usr/local/bin/#$(PREFIX)/bin/#g' systemd/user/$$unit \
	    | install -D -m 0644 /dev/stdin $(DESTDIR)$(USER_UNIT_DIR)/$$unit || exit 1; \
	done
	install -D -m 0644 systemd/mio-daemon.sysusers $(DESTDIR)$(SYSUSERS_DIR)/mio-daemon.conf
	install -D -m 0644 docs/protocol.md $(DESTDIR)$(DOC_DIR)/protocol.md
	install -D -m 0644 docs/recipes.md $(DESTDIR)$(DOC_DIR)/recipes.md
	install -D -m 0644 README.md $(DESTDIR)$(DOC_DIR)/README.md

clean:
	rm -rf .build $(BENCH_BIN) bench-results $(RUST_CLIENT)/target
	$(MAKE) -C $(C_CLIENT) clean
