#!/usr/bin/env bash
# Screenshots of every dashboard page at 1280x800 into screenshots/ (git-ignored), taken with
# headless Chromium against an ota-server seeded with a small demo fleet. `make screenshots`.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${OTA_BIN:-.build/debug}
for program in ota-server otactl; do
  if [ ! -x "$bin/$program" ]; then
    echo "screenshots: $bin/$program is missing; build it first (swift build)" >&2
    exit 2
  fi
done
export OTA_BIN=$(cd "$bin" && pwd)
python=.venv/bin/python
[ -x "$python" ] || python=python3
out=${1:-screenshots}
mkdir -p "$out"

work=$(mktemp -d "${TMPDIR:-/tmp}/ota-screenshots.XXXXXX")
runner=""
cleanup() {
  status=$?
  trap - EXIT INT TERM
  if [ -n "$runner" ] && kill -0 "$runner" 2>/dev/null; then
    kill -TERM "$runner" 2>/dev/null || true
    wait "$runner" 2>/dev/null || true
  fi
  if [ -f "$work/pgids" ]; then
    while read -r group; do kill -KILL -- "-$group" 2>/dev/null || true; done < "$work/pgids"
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

OTA_DASHBOARD_WORKDIR="$work" PYTHONDONTWRITEBYTECODE=1 timeout -s TERM 240 "$python" -u Tests/Dashboard/screenshots.py "$out" &
runner=$!
wait "$runner"
