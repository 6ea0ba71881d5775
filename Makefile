# The two commands a new user needs:  make demo   and   make test
SHELL := /bin/bash
SWIFT ?= swift
export PATH := /opt/swift/usr/bin:$(PATH)

.PHONY: all build release test test-swift test-api test-tuf demo fuzz bench faults screenshots clean deps

all: build

deps:
	scripts/install-deps.sh build

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Builds everything, runs the Swift test suites (unit and end-to-end against real processes),
# the database suites again with every server on PostgreSQL, then schemathesis, python-tuf,
# the dashboard and the fuzzer beside the fault campaign.
# Each stage says how long it took (scripts/stage.sh; the figures are in CONTRIBUTING.md).
test:
	@rm -f .build/test-stages.txt
	scripts/stage.sh install-build scripts/install-deps.sh build
	scripts/stage.sh docs scripts/check-docs.sh
	SWIFT=$(SWIFT) scripts/build-and-install.sh
	@# The fuzzer's unoptimised build (FUZZ_OPTIMIZE=none: 30 CPU seconds, not 96), at the
	@# lowest priority, takes what CPU the suites leave; nothing waits for it here: the fuzz
	@# stage, a few minutes later, waits on its lock.
	FUZZ_OPTIMIZE=none FUZZ_TARGET=answers FUZZ_BUILD_ONLY=1 FUZZ_NICE=19 scripts/fuzz-tar.sh > .build/fuzz-build.log 2>&1 &
	scripts/stage.sh swift-suites scripts/test-swift.sh
	@# schemathesis, python-tuf, the dashboard and the fuzzer, beside the fault campaign.
	FUZZ_OPTIMIZE=none FUZZ_SECONDS=$(or $(FUZZ_SECONDS),30) scripts/test-after-suites.sh
	@echo "make test: every stage passed:"; cat .build/test-stages.txt

demo:
	scripts/install-deps.sh build demo
	$(SWIFT) build
	scripts/demo.sh

fuzz:
	scripts/install-deps.sh build
	scripts/fuzz-tar.sh $(FUZZ_SECONDS)
	FUZZ_TARGET=chunks scripts/fuzz-tar.sh $(FUZZ_SECONDS)
	FUZZ_TARGET=answers scripts/fuzz-tar.sh $(FUZZ_SECONDS)

bench:
	scripts/install-deps.sh build bench
	bench/bundle.sh

# The whole fault campaign with its figures (about 50 minutes; see bench/faults.sh).
faults:
	scripts/install-deps.sh build bench
	bench/faults.sh

screenshots:
	scripts/install-deps.sh build test
	$(SWIFT) build
	scripts/screenshots.sh

clean:
	rm -rf .build .build-* .venv
