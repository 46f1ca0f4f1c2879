# mio-daemon. `make run` runs the daemon, `make test` runs every test; both
# install what a fresh Debian machine lacks (libjson-c-dev, socat, …) first.
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)
SWIFT ?= swift
BENCH_BIN := Benchmarks/bin

PREFIX ?= /usr/local
DESTDIR ?=
BIN_DIR ?= .build/release
UNIT_DIR := $(PREFIX)/lib/systemd/system
USER_UNIT_DIR := $(PREFIX)/lib/systemd/user
SYSUSERS_DIR := $(PREFIX)/lib/sysusers.d
DOC_DIR := $(PREFIX)/share/doc/mio-daemon

FUZZ_SECONDS ?= 60
FUZZ_BIN := Fuzz/.build/debug

.PHONY: deps build release test run bench clean install install-files fuzz test-asan test-tsan soak

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	# Each pytest suite on its own: each has its own conftest.
	for suite in clients/python/tests Tests/integration Tests/clients Tests/systemd Tests/real_systemd Tests/hostile; do \
	  python3 -m pytest -q -p no:cacheprovider $$suite || exit 1; \
	done

run: release
	@scripts/run-daemon.sh

$(BENCH_BIN)/%: Benchmarks/c/%.c
	@mkdir -p $(BENCH_BIN)
	gcc -O2 -Wall -o $@ $< -lpthread

bench: release $(BENCH_BIN)/fanout_epoll
	python3 Benchmarks/bench.py $(WORKLOADS)

# libFuzzer, FUZZ_SECONDS per target (CI: 60). The corpus grows under
# Fuzz/.build/corpus; the seeds in Fuzz/corpus are committed.
fuzz: deps
	cd Fuzz && $(SWIFT) build -c debug --sanitize=fuzzer --sanitize=address
	for target in decoder framer; do \
	  bin=$(FUZZ_BIN)/Fuzz$$(echo $$target | sed 's/./\U&/'); \
	  mkdir -p Fuzz/.build/corpus/$$target && \
	  $$bin -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -print_final_stats=1 -artifact_prefix=Fuzz/ \
	    Fuzz/.build/corpus/$$target Fuzz/corpus/$$target 2>&1 | grep -E 'stat::number_of_executed_units|ERROR|Done' ; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
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

# `make install` (PREFIX, DESTDIR): binaries, units, sysusers file, docs.
# Then: systemd-sysusers; systemctl daemon-reload; systemctl enable --now mio-daemon.socket
install: release install-files

# The units are rewritten on the fly (sed piped into install): nothing is
# written into the source tree, which may be read-only (Tests/real_systemd
# binds it so into its container).
install-files:
	install -D -m 0755 $(BIN_DIR)/mio-daemon $(DESTDIR)$(PREFIX)/bin/mio-daemon
	set -o pipefail; for unit in mio-daemon.socket mio-daemon.service; do \
	  sed 's#/usr/local/bin/#$(PREFIX)/bin/#g; s#/usr/local/share/doc/#$(PREFIX)/share/doc/#g' systemd/$$unit \
	    | install -D -m 0644 /dev/stdin $(DESTDIR)$(UNIT_DIR)/$$unit || exit 1; \
	  sed 's#/usr/local/bin/#$(PREFIX)/bin/#g' systemd/user/$$unit \
	    | install -D -m 0644 /dev/stdin $(DESTDIR)$(USER_UNIT_DIR)/$$unit || exit 1; \
	done
	install -D -m 0644 systemd/mio-daemon.sysusers $(DESTDIR)$(SYSUSERS_DIR)/mio-daemon.conf
	install -D -m 0644 docs/protocol.md $(DESTDIR)$(DOC_DIR)/protocol.md

clean:
	rm -rf .build $(BENCH_BIN) bench-results
