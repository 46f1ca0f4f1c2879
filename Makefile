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

.PHONY: deps build release test run bench clean install install-files

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
	for suite in Tests/integration Tests/clients Tests/systemd; do \
	  python3 -m pytest -q -p no:cacheprovider $$suite || exit 1; \
	done

run: release
	@scripts/run-daemon.sh

$(BENCH_BIN)/%: Benchmarks/c/%.c
	@mkdir -p $(BENCH_BIN)
	gcc -O2 -Wall -o $@ $< -lpthread

bench: release $(BENCH_BIN)/fanout_epoll
	python3 Benchmarks/bench.py $(WORKLOADS)

# `make install` (PREFIX, DESTDIR): binaries, units, sysusers file, docs.
# Then: systemd-sysusers; systemctl daemon-reload; systemctl enable --now mio-daemon.socket
install: release install-files

install-files:
	install -D -m 0755 $(BIN_DIR)/mio-daemon $(DESTDIR)$(PREFIX)/bin/mio-daemon
	for unit in mio-daemon.socket mio-daemon.service; do \
	  sed 's#/usr/local/bin/#$(PREFIX)/bin/#g; s#/usr/local/share/doc/#$(PREFIX)/share/doc/#g' systemd/$$unit > $$unit.tmp && \
	  install -D -m 0644 $$unit.tmp $(DESTDIR)$(UNIT_DIR)/$$unit && rm -f $$unit.tmp; \
	  sed 's#/usr/local/bin/#$(PREFIX)/bin/#g' systemd/user/$$unit > $$unit.tmp && \
	  install -D -m 0644 $$unit.tmp $(DESTDIR)$(USER_UNIT_DIR)/$$unit && rm -f $$unit.tmp; \
	done
	install -D -m 0644 systemd/mio-daemon.sysusers $(DESTDIR)$(SYSUSERS_DIR)/mio-daemon.conf
	install -D -m 0644 docs/protocol.md $(DESTDIR)$(DOC_DIR)/protocol.md

clean:
	rm -rf .build $(BENCH_BIN) bench-results
