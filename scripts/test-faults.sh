#!/usr/bin/env bash
# The fault campaign's short version, for `make test`: the same scripts as bench/faults.sh
# with small counts, against the debug binaries. Each prints its figures and fails on any
# violation. Loopback only.
#
# Usage: scripts/test-faults.sh [agent|server|all]   (default all)
#   agent   kill -9 of the agent, a full disk, a flaky network (about 50 s)
#   server  kill -9 of the server under load, a 30 s soak of 500 devices (about 50 s)
# `make test` runs the two halves at once (scripts/test-after-suites.sh): each mostly waits on
# real processes and real time, a quarter of the two cores each.
set -euo pipefail
cd "$(dirname "$0")/.."
export OTA_BIN=${OTA_BIN:-$PWD/.build/debug} no_proxy=127.0.0.1 NO_PROXY=127.0.0.1
agent=("kill_agent.py 12" "disk_full.py" "flaky_network.py 6")
server=("kill_server.py 4" "soak.py 500 30")
case "${1:-all}" in
  agent) steps=("${agent[@]}") ;;
  server) steps=("${server[@]}") ;;
  all) steps=("${agent[@]}" "${server[@]}") ;;
  *) echo "usage: scripts/test-faults.sh [agent|server|all]" >&2; exit 64 ;;
esac
cd bench/faults
failed=0
for step in "${steps[@]}"; do
  echo "== fault campaign (short): $step"
  # shellcheck disable=SC2086
  timeout 600 python3 $step || failed=$((failed + 1))
done
total=${#steps[@]}
echo "fault campaign (short, ${1:-all}): $((total - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
