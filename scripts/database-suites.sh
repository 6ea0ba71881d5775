#!/usr/bin/env bash
# Prints the suites tagged `.database` (Tests/TestSupport/Tags.swift), one type name a line:
# each `struct` whose `@Suite(...)` attribute, on one line or several, names `.database`.
# scripts/test-swift.sh and scripts/test-postgres.sh run them again on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
awk '/^@Suite\(/ { attribute = ""; open = 1 } open { attribute = attribute $0 } open && /^struct / { if (attribute ~ /\.database/) { sub(/^struct /, ""); sub(/[ :{].*/, ""); print }; open = 0 }' \
  Tests/*/*.swift | sort -u
