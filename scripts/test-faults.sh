#!/usr/bin/env bash
# The fault campaign's short version, for `make test`: the same scripts as bench/faults.sh
# with small counts, against the debug binaries. Each prints its figures and fails on any
# violation. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
export OTA_BIN=${OTA_BIN:-$PWD/.build/debug} no_proxy=127.0.0.1 NO_PROXY=127.0.0.1
cd bench/faults
failed=0
for step in "kill_agent.py 12" "disk_full.py" "kill_server.py 4" "flaky_network.py 6" "soak.py 500 30"; do
  echo "== fault campaign (short): $step"
  # shellcheck disable=SC2086
  timeout 600 python3 $step || failed=$((failed + 1))
done
total=5
echo "fault campaign (short): $((total - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
