#!/usr/bin/env bash
# Browser tests of the fleet dashboard (issue 6): seeds a real ota-server (keys, tokens, bundles,
# devices, events, rollouts) and drives headless Chromium against it over the DevTools protocol.
# Needs the binaries already built in .build/debug (or $OTA_BIN) and Debian's chromium
# (scripts/install-deps.sh test). Only 127.0.0.1 is contacted. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${OTA_BIN:-.build/debug}
for program in ota-server otactl; do
  if [ ! -x "$bin/$program" ]; then
    echo "test-dashboard: $bin/$program is missing; build it first (swift build)" >&2
    exit 2
  fi
done
export OTA_BIN=$(cd "$bin" && pwd)
if ! command -v chromium >/dev/null 2>&1 && [ -z "${CHROMIUM:-}" ]; then
  echo "test-dashboard: chromium is missing; run scripts/install-deps.sh test" >&2
  exit 2
fi
python=.venv/bin/python
[ -x "$python" ] || python=python3

work=$(mktemp -d "${TMPDIR:-/tmp}/ota-dashboard.XXXXXX")
runner=""
cleanup() {
  status=$?
  trap - EXIT INT TERM
  if [ -n "$runner" ] && kill -0 "$runner" 2>/dev/null; then
    kill -TERM "$runner" 2>/dev/null || true
    wait "$runner" 2>/dev/null || true
  fi
  # Left only if the runner died without cleaning up: the server's and the browser's groups.
  if [ -f "$work/pgids" ]; then
    while read -r group; do kill -KILL -- "-$group" 2>/dev/null || true; done < "$work/pgids"
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "test-dashboard: browser tests against a seeded ota-server"
OTA_DASHBOARD_WORKDIR="$work" PYTHONDONTWRITEBYTECODE=1 timeout -s TERM 240 "$python" -u Tests/Dashboard/test_dashboard.py &
runner=$!
wait "$runner"
