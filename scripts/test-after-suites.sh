#!/usr/bin/env bash
# `make test`'s stages after the Swift suites, in four lanes at once. What each needs of the
# two cores, measured alone: schemathesis one core (53 s), the fuzzer one core (30 s), each
# half of the fault campaign a quarter of the two (about 50 s each: killed processes, a
# throttled link and a soak wait on real time). About 155 CPU seconds in all, so the floor is
# under 80 s; in two lanes (the whole fault campaign beside the rest) they took 115-120 s, the
# fault campaign's 100 s of mostly waiting being the longest lane.
#
# Every stage runs even when another failed, so one run names every failure. Each stage's
# output goes to .build/stages/NAME.log and is printed when every lane has ended; the times go
# to .build/test-stages.txt as for every stage (scripts/stage.sh).
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

agent_faults_lane() {
  stage faults-agent scripts/test-faults.sh agent
  stage python-tuf scripts/test-tuf.sh
}

server_faults_lane() {
  stage faults-server scripts/test-faults.sh server
}

api_lane() {
  stage schemathesis scripts/test-api.sh
}

fuzz_lane() {
  FUZZ_TARGET=answers stage fuzz-answers scripts/fuzz-tar.sh "${FUZZ_SECONDS:-30}"
  stage dashboard scripts/test-dashboard.sh
}

agent_faults_lane & lanes=$!
server_faults_lane & lanes="$lanes $!"
api_lane & lanes="$lanes $!"
fuzz_lane & lanes="$lanes $!"
# shellcheck disable=SC2086
wait $lanes

for name in schemathesis python-tuf fuzz-answers dashboard faults-agent faults-server; do
  echo "==== $name ($logs/$name.log)"
  cat "$logs/$name.log"
done
if [ -s "$logs/failed" ]; then
  echo "test-after-suites: failed: $(tr '\n' ' ' < "$logs/failed")" >&2
  exit 1
fi
