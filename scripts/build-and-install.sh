#!/usr/bin/env bash
# `make test`'s build and, beside it, the test tools (scripts/install-deps.sh test): the build
# keeps both cores busy while the install mostly waits on the network and the disk, so it
# costs the run little. Each is a stage of its own in .build/test-stages.txt; the install's
# output is in .build/install-test.log (printed when it fails).
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .build
scripts/stage.sh install-test scripts/install-deps.sh test > .build/install-test.log 2>&1 &
install=$!
scripts/stage.sh build "${SWIFT:-swift}" build --build-tests
built=$?
wait $install
installed=$?
[ $installed -eq 0 ] || { echo "build-and-install: installing the test tools failed:" >&2; tail -30 .build/install-test.log >&2; }
[ $built -eq 0 ] && [ $installed -eq 0 ]
