#!/usr/bin/env bash
# The Swift suites, twice at once: every suite on SQLite, and the suites tagged `.database`
# again with every server on PostgreSQL (scripts/test-postgres.sh). Most of their time is
# spent waiting on real processes, so the two passes share the two cores well; each runs the
# test binary itself (`swift test` would hold SwiftPM's lock on .build for the other).
# Expects `swift build --build-tests`; each pass's time goes to .build/test-stages.txt and its
# whole output to .build/swift-sqlite.log and .build/swift-postgres.log; what is printed here
# is every test's result (not the "started" lines), the failures last.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH NO_COLOR=1
bin=$(swift build --show-bin-path)
tests=$(ls -d "$bin"/*PackageTests.xctest 2>/dev/null | head -1)
[ -x "$tests" ] || { echo "test-swift: no test binary under $bin: run swift build --build-tests" >&2; exit 1; }
mkdir -p .build
env -u OTA_TEST_POSTGRES scripts/stage.sh swift-sqlite "$tests" --testing-library swift-testing "$@" > .build/swift-sqlite.log 2>&1 &
sqlite=$!
OTA_TEST_BINARY="$tests" scripts/stage.sh swift-postgres scripts/test-postgres.sh "$@" > .build/swift-postgres.log 2>&1 &
postgres=$!
wait $sqlite; sqlite_status=$?
wait $postgres; postgres_status=$?
status=0
for pass in sqlite postgres; do
  log=.build/swift-$pass.log
  echo "== swift-$pass"
  grep -v '^◇' "$log" | grep -v '^✘' || true
  if grep -q '^✘' "$log"; then echo "== swift-$pass: failures"; grep '^✘' -A6 "$log" | grep -v '^◇'; fi
done
[ $sqlite_status -eq 0 ] || { echo "test-swift: the suites on SQLite failed (exit $sqlite_status)" >&2; status=1; }
[ $postgres_status -eq 0 ] || { echo "test-swift: the suites on PostgreSQL failed (exit $postgres_status)" >&2; status=1; }
exit $status
