#!/usr/bin/env bash
# Screenshots of every dashboard page at 1280x800 into screenshots/ (git-ignored), taken with
# headless Chromium against an ota-server seeded with a small demo fleet. `make screenshots`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-screenshots}
mkdir -p "$out"
exec scripts/run-dashboard.sh screenshots Tests/Dashboard/screenshots.py "$out"
