#!/usr/bin/env bash
# Runs one stage of `make test` and says how long it took: `scripts/stage.sh NAME COMMAND...`.
# The times go to stderr and to .build/test-stages.txt (CONTRIBUTING.md keeps the figures).
set -uo pipefail
name=$1
shift
start=$(date +%s)
"$@"
status=$?
seconds=$(( $(date +%s) - start ))
mkdir -p .build
echo "$name ${seconds}s$( [ $status -eq 0 ] || echo " (failed, exit $status)")" | tee -a .build/test-stages.txt >&2
exit $status
