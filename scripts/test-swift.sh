#!/usr/bin/env bash
# The Swift suites: every suite on SQLite, and the suites tagged `.database`
# (scripts/database-suites.sh) again with every server on a throwaway PostgreSQL on loopback
# (scripts/postgres.sh). Each suite runs in a test process of its own, OTA_TEST_JOBS of them at a
# time (default 6), the longest first.
#
# Why one process a suite: Swift's cooperative thread pool has one thread per core, and a test
# that waits for a real process or a blocking HTTP call holds one of those threads. On two
# cores, one test process ran two such tests at a time and left the CPU more than half idle
# (the SQLite pass alone: 381 s of wall time for 315 s of CPU).
#
# Why six: the end-to-end jobs still wait on processes part of the time. On the two-core
# machine, the whole run (100 jobs) took 309 s six at a time and 333 s eight at a time, against
# 363 s four at a time on a fresh clone (2026-12-05).
#
# The order: the seconds each job took in the last run (.build/suite-times.txt, written by every
# whole run), else Tests/suite-times.txt (committed; copy .build/suite-times.txt over it when
# the suites change much). A suite in neither goes first. The order only decides how soon the
# run ends, never whether it passes.
#
# Usage: [OTA_TEST_FILTER=REGEX] [OTA_TEST_JOBS=N] scripts/test-swift.sh
#   OTA_TEST_FILTER  only the tests whose ids (Module.Suite/test(), as --list-tests prints
#                    them) match the extended regex, e.g. 'Rollout|DDITests/cancellation'.
# Expects `swift build --build-tests`. Each job's output is in .build/suites/BACKEND-SUITE.log;
# printed here: one line a job as it ends, each failing job's failures, then every job's runner
# output and one summary line in swift-testing's own form.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH NO_COLOR=1
bin=$(swift build --show-bin-path)
tests=$(ls -d "$bin"/*PackageTests.xctest 2>/dev/null | head -1)
[ -x "$tests" ] || { echo "test-swift: no test binary under $bin: run swift build --build-tests" >&2; exit 1; }
[ $# -eq 0 ] || { echo "usage: [OTA_TEST_FILTER=REGEX] [OTA_TEST_JOBS=N] scripts/test-swift.sh" >&2; exit 64; }
jobs_at_once=${OTA_TEST_JOBS:-6}
case "$jobs_at_once" in ''|0|*[!0-9]*) echo "test-swift: OTA_TEST_JOBS must be a whole number above 0, not '$jobs_at_once'" >&2; exit 64 ;; esac

out=.build/suites
rm -rf "$out" && mkdir -p "$out"
# Top-level suites as Module.Type, from the binary itself.
"$tests" --testing-library swift-testing --list-tests > "$out/list.txt" 2> "$out/list.err" \
  || { echo "test-swift: the test binary could not list its tests:" >&2; cat "$out/list.err" >&2; exit 1; }
# The tests to run: all, or those OTA_TEST_FILTER selects (each job is then given their exact
# ids: swift-testing joins several --filter options with "or").
grep -E -- "${OTA_TEST_FILTER:-.}" "$out/list.txt" > "$out/selected.txt" || true
[ -s "$out/selected.txt" ] || { echo "test-swift: no test id matches '${OTA_TEST_FILTER:-}'" >&2; exit 1; }
all=$(cut -d/ -f1 "$out/selected.txt" | grep -v '^$' | sort -u)
database=$(scripts/database-suites.sh)
[ -n "$all" ] && [ -n "$database" ] || { echo "test-swift: no suites found" >&2; exit 1; }

# Jobs as "SECONDS BACKEND Module.Suite", the longest first.
times=.build/suite-times.txt
[ -s "$times" ] || times=Tests/suite-times.txt
{
  for suite in $all; do echo "sqlite $suite"; done
  for suite in $all; do
    if grep -qx "${suite#*.}" <<< "$database"; then echo "postgres $suite"; fi
  done
} | while read -r backend suite; do
  seconds=$(awk -v b="$backend" -v s="$suite" '$2 == b && $3 == s { print $1; exit }' "$times" 2>/dev/null)
  echo "${seconds:-9999} $backend $suite"
done | sort -rn > "$out/jobs.txt"

pg_dir=$(mktemp -d /tmp/ota-pg.XXXXXX)
trap 'scripts/postgres.sh stop "$pg_dir" >/dev/null 2>&1; rm -rf "$pg_dir"' EXIT
OTA_PG_URL=$(scripts/postgres.sh start "$pg_dir") || { echo "test-swift: PostgreSQL did not start" >&2; exit 1; }
export OTA_PG_URL tests out OTA_TEST_FILTER

# One job: its own test process, at most 15 minutes, its result appended as one line.
run_job() {
  local backend=$1 suite=$2
  local log="$out/$backend-$suite.log" start status
  start=$(date +%s)
  local filter="${suite//./\\.}(/|\$)"
  if [ -n "${OTA_TEST_FILTER:-}" ]; then
    filter=$(awk -v prefix="$suite/" 'index($0, prefix) == 1' "$out/selected.txt" | sed 's/[][\.*^$+?(){}|]/\\&/g' | paste -sd '|')
  fi
  if [ "$backend" = postgres ]; then
    OTA_TEST_POSTGRES="$OTA_PG_URL" /usr/bin/time -f "%U %S" -o "$out/$backend-$suite.cpu" timeout 900 "$tests" --testing-library swift-testing --filter "$filter" > "$log" 2>&1
  else
    env -u OTA_TEST_POSTGRES /usr/bin/time -f "%U %S" -o "$out/$backend-$suite.cpu" timeout 900 "$tests" --testing-library swift-testing --filter "$filter" > "$log" 2>&1
  fi
  status=$?
  local seconds=$(( $(date +%s) - start ))
  echo "$seconds $backend $suite $status" >> "$out/results.txt"
  # swift-testing's own last line of the job ("✔ Test run with 9 tests in 1 suite passed after
  # 0.4 seconds."), so that the output says what ran in the runner's words.
  local summary
  summary=$(grep -a -o 'Test run with .*' "$log" | tail -1)
  if [ $status -eq 0 ]; then
    echo "✔ $backend $suite (${seconds} s): ${summary:-no summary from the test runner}"
  else
    echo "✘ $backend $suite (${seconds} s): exit $status${summary:+: $summary}"
  fi
}
export -f run_job

start=$(date +%s)
cut -d' ' -f2- "$out/jobs.txt" | xargs -P "$jobs_at_once" -L1 bash -c 'run_job "$@"' _
seconds=$(( $(date +%s) - start ))

status=0
jobs_total=$(wc -l < "$out/jobs.txt")
finished=$(wc -l < "$out/results.txt" 2>/dev/null || echo 0)
failed=$(awk '$4 != 0' "$out/results.txt" 2>/dev/null)
if [ "$finished" -ne "$jobs_total" ]; then
  echo "test-swift: only $finished of $jobs_total jobs reported a result" >&2; status=1
fi
if [ -n "$failed" ]; then
  status=1
  while read -r _ backend suite code; do
    echo "== failures: $backend $suite (exit $code)"
    if grep -q '^✘' "$out/$backend-$suite.log"; then
      grep '^✘' -A6 "$out/$backend-$suite.log" | grep -v '^◇'
    else
      tail -40 "$out/$backend-$suite.log"
    fi
  done <<< "$failed"
fi
# The test runner's own output of every job, as `swift test` would print it (each test's
# "✔ Test … passed" line and each job's "Test run with …" line), for readers and tools that
# look for the runner's words rather than this script's.
echo "== the test runner's output, job by job"
while read -r _ backend suite _; do
  echo "== $backend $suite"
  grep -a -E '^(✔|✘) ' "$out/$backend-$suite.log"
done < "$out/results.txt"
tests_run=$(cat "$out"/*.log | grep -o 'Test run with [0-9]* tests\?' | awk '{ n += $4 } END { print n + 0 }')
failed_jobs=$(echo "$failed" | grep -c .)
echo "test-swift: $jobs_total jobs ($tests_run tests) in ${seconds} s, $jobs_at_once at a time; $failed_jobs failed"
suites="$jobs_total suites"; [ "$jobs_total" -eq 1 ] && suites="1 suite"
if [ $status -eq 0 ]; then
  echo "✔ Test run with $tests_run tests in $suites passed after $seconds.000 seconds."
else
  echo "✘ Test run with $tests_run tests in $suites failed after $seconds.000 seconds with $failed_jobs issues ($finished of $jobs_total jobs reported)."
fi
# The next run's order; only a whole run that finished writes it.
if [ -z "${OTA_TEST_FILTER:-}" ] && [ "$finished" -eq "$jobs_total" ]; then sort -rn "$out/results.txt" | cut -d' ' -f1-3 > .build/suite-times.txt; fi
exit $status
