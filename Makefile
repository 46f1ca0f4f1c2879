# mio-daemon. `make run` runs the daemon, `make test` runs every test; both
# install what a fresh Debian machine lacks (libjson-c-dev, socat, …) first.
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)
SWIFT ?= swift
BENCH_BIN := Benchmarks/bin

.PHONY: deps build release test run bench clean

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

run: release
	@scripts/run-daemon.sh

$(BENCH_BIN)/%: Benchmarks/c/%.c
	@mkdir -p $(BENCH_BIN)
	gcc -O2 -Wall -o $@ $< -lpthread

bench: release $(BENCH_BIN)/fanout_epoll
	python3 Benchmarks/bench.py $(WORKLOADS)

clean:
	rm -rf .build $(BENCH_BIN) bench-results
