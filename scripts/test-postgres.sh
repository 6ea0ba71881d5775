#!/usr/bin/env bash
# Runs the Swift test suites again with every server on PostgreSQL: a throwaway server on
# loopback (scripts/postgres.sh), a new database for each test server (OTA_TEST_POSTGRES).
# Expects `swift build --build-tests` to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
dir=$(mktemp -d /tmp/ota-pg.XXXXXX)
trap 'scripts/postgres.sh stop "$dir"; rm -rf "$dir"' EXIT
url=$(scripts/postgres.sh start "$dir")
echo "test-postgres: PostgreSQL at $url"
OTA_TEST_POSTGRES="$url" swift test --skip-build "$@"
