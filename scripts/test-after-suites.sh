#!/usr/bin/env bash
# `make test`'s stages after the Swift suites, in two lanes at once: the fault campaign mostly
# waits (killed processes, a throttled link, a 30 s soak: about a quarter of the two cores), so
# the other stages run beside it one after the other (schemathesis and the fuzzer keep one core
# busy each). Both lanes take about two minutes, against three and a half one stage after
# another.
#
# Every stage runs even when another failed, so one run names every failure. Each stage's
# output goes to .build/stages/NAME.log and is printed when its lane ends; the times go to
# .build/test-stages.txt as for every stage (scripts/stage.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
logs=.build/stages
rm -rf "$logs"
mkdir -p "$logs"

# stage NAME COMMAND...: one stage, its output in its log; the status is remembered, not fatal.
stage() {
  local name=$1
  shift
  scripts/stage.sh "$name" "$@" > "$logs/$name.log" 2>&1 || echo "$name" >> "$logs/failed"
}

faults_lane() {
  stage faults scripts/test-faults.sh
  stage dashboard scripts/test-dashboard.sh
}

checks_lane() {
  stage schemathesis scripts/test-api.sh
  stage python-tuf scripts/test-tuf.sh
  FUZZ_TARGET=answers stage fuzz-answers scripts/fuzz-tar.sh "${FUZZ_SECONDS:-30}"
}

faults_lane & faults=$!
checks_lane & checks=$!
wait $faults $checks

for name in schemathesis python-tuf dashboard fuzz-answers faults; do
  echo "==== $name ($logs/$name.log)"
  cat "$logs/$name.log"
done
if [ -s "$logs/failed" ]; then
  echo "test-after-suites: failed: $(tr '\n' ' ' < "$logs/failed")" >&2
  exit 1
fi
