#!/usr/bin/env bash
# Differential test of our TUF client against python-tuf's ngclient, the reference
# implementation: Tests/TUF/make_states.py builds ~100 repository states (valid updates,
# root rotations, rollbacks, expiry, bad signatures, malformed envelopes, ...) with fresh
# Ed25519 keys, then Tests/TUF/differential.py lets both clients update from each state
# and fails when they disagree on accept/reject. No network: both read local folders.
#
# Needs the debug otactl (`swift build`) and tuf in the repository's virtualenv
# (`scripts/install-deps.sh test`). Environment knobs:
#   OTACTL               otactl to test (default .build/debug/otactl)
#   OTA_KEEP_TEST_FILES  keep the generated states (path printed at the end)
# Extra arguments go to differential.py, e.g. `scripts/test-tuf.sh --only valid-fresh`.
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
otactl=${OTACTL:-.build/debug/otactl}

say() { echo "test-tuf: $*"; }
fail() { echo "test-tuf: FAILED: $*" >&2; exit 1; }

[ -x "$python" ] || fail "$python is missing; run 'scripts/install-deps.sh test'"
"$python" -c 'import tuf.ngclient' 2>/dev/null || fail "python-tuf is missing; run 'scripts/install-deps.sh test'"
# securesystemslib signs and verifies Ed25519 through pyca/cryptography, an optional extra.
"$python" -c 'import cryptography' 2>/dev/null || fail "pyca/cryptography is missing; run 'scripts/install-deps.sh test'"
[ -x "$otactl" ] || fail "$otactl is missing; run 'swift build' first"

work=$(mktemp -d "${TMPDIR:-/tmp}/ota-tuf-test.XXXXXX")
cleanup() {
  if [ -n "${OTA_KEEP_TEST_FILES:-}" ]; then
    say "states kept in $work/states"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

"$python" Tests/TUF/make_states.py "$work/states"
"$python" Tests/TUF/differential.py "$work/states" --otactl "$otactl" "$@"
