#!/usr/bin/env bash
# `make test`'s build and, beside it, the test tools (scripts/install-deps.sh test): the build
# keeps both cores busy while the install mostly waits on the network and the disk, so it
# costs the run little; at the lowest priority, what CPU it needs (unpacking, pip) comes from
# the moments the build leaves a core idle. Each is a stage of its own in
# .build/test-stages.txt; the install's output is in .build/install-test.log (printed when it
# fails).
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .build
nice -n 19 scripts/stage.sh install-test scripts/install-deps.sh test > .build/install-test.log 2>&1 &
install=$!
# OTA_BUILD_FLAGS: more `swift build` flags. .ci/run passes `-debug-info-format none`: a clean
# clone's build without DWARF took 443 s against 485-495 s with it, and tests need none (their
# failures carry source locations; a crash still names its functions). Not the default: flags
# that differ from the last build's rebuild everything, and a developer's debugger wants DWARF.
# (`--disable-index-store` is no option: test discovery on Linux reads the index.)
# shellcheck disable=SC2086
scripts/stage.sh build "${SWIFT:-swift}" build --build-tests ${OTA_BUILD_FLAGS:-}
built=$?
wait $install
installed=$?
[ $installed -eq 0 ] || { echo "build-and-install: installing the test tools failed:" >&2; tail -30 .build/install-test.log >&2; }
[ $built -eq 0 ] && [ $installed -eq 0 ]
