#!/usr/bin/env bash
# Runs the suites tagged `.database` (Tests/TestSupport/Tags.swift: storage, the cluster and the
# end-to-end stories that touch the registry) again with every server on PostgreSQL: a
# throwaway server on loopback (scripts/postgres.sh), a new database for each test server
# (OTA_TEST_POSTGRES). The unit suites and the agent's own logic ran once already, on SQLite;
# they do not depend on the database. Expects `swift build --build-tests` to have run; extra
# arguments go to `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
suites=$(scripts/database-suites.sh | paste -sd '|')
[ -n "$suites" ] || { echo "test-postgres: no suite is tagged .database" >&2; exit 1; }
dir=$(mktemp -d /tmp/ota-pg.XXXXXX)
trap 'scripts/postgres.sh stop "$dir"; rm -rf "$dir"' EXIT
url=$(scripts/postgres.sh start "$dir")
echo "test-postgres: PostgreSQL at $url; suites: ${suites//|/, }"
# The test binary itself when scripts/test-swift.sh names it (it runs beside the SQLite pass).
if [ -n "${OTA_TEST_BINARY:-}" ]; then
  OTA_TEST_POSTGRES="$url" "$OTA_TEST_BINARY" --testing-library swift-testing --filter "\.($suites)(/|\$)" "$@"
else
  OTA_TEST_POSTGRES="$url" swift test --skip-build --filter "\.($suites)(/|\$)" "$@"
fi
