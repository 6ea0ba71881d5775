#!/usr/bin/env bash
# Browser tests of the fleet dashboard (issue 6): seeds a real ota-server (keys, tokens, bundles,
# devices, events, rollouts) and drives headless Chromium against it over the DevTools protocol.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "test-dashboard: browser tests against a seeded ota-server"
exec scripts/run-dashboard.sh test-dashboard Tests/Dashboard/test_dashboard.py
