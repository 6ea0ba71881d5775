#!/usr/bin/env bash
# Runs one of the dashboard's Python drivers (Tests/Dashboard/*.py) against a seeded ota-server
# in headless Chromium, and makes sure that whatever happens, the server and the browser it
# started are gone afterwards. Used by test-dashboard.sh and screenshots.sh.
# Usage: scripts/run-dashboard.sh NAME DRIVER.py [ARGS...]   (NAME prefixes the messages)
# Needs the binaries in .build/debug (or $OTA_BIN) and Debian's chromium. Only 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 driver=$2
shift 2

bin=${OTA_BIN:-.build/debug}
for program in ota-server otactl; do
  if [ ! -x "$bin/$program" ]; then
    echo "$name: $bin/$program is missing; build it first (swift build)" >&2
    exit 2
  fi
done
export OTA_BIN=$(cd "$bin" && pwd)
if ! command -v chromium >/dev/null 2>&1 && [ -z "${CHROMIUM:-}" ]; then
  echo "$name: chromium is missing; run scripts/install-deps.sh test" >&2
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
  # Left only if the driver died without cleaning up: the server's and the browser's groups.
  if [ -f "$work/pgids" ]; then
    while read -r group; do kill -KILL -- "-$group" 2>/dev/null || true; done < "$work/pgids"
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

OTA_DASHBOARD_WORKDIR="$work" PYTHONDONTWRITEBYTECODE=1 timeout -s TERM 240 "$python" -u "$driver" "$@" &
runner=$!
wait "$runner"
