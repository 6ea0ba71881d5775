#!/usr/bin/env bash
# Fuzzes the strict tar reader and the bundle opener with libFuzzer; with FUZZ_TARGET=chunks,
# chunk lists and the in-place rebuild of chunked files (Tests/Fuzz/ChunkListFuzz.swift); with
# FUZZ_TARGET=answers, what a device decodes from its server (Tests/Fuzz/AnswerFuzz.swift).
#
# Usage: scripts/fuzz-tar.sh [SECONDS] [extra libFuzzer flags ...]      (make fuzz FUZZ_SECONDS=600)
#   SECONDS  how long to fuzz (default 60).
#   Extra flags go to libFuzzer as they are, e.g. a long unattended run that records every
#   crash instead of stopping at the first:  scripts/fuzz-tar.sh 3600 -fork=1 -ignore_crashes=1
#   To replay one input:                      scripts/fuzz-tar.sh 0 Tests/Fuzz/crashes/crash-...
#
# Builds the target (Tests/Fuzz/TarReaderFuzz.swift by default) together with the OTACore sources (one module, so
# the target reaches internal helpers such as TarReader.parsePax) with
# `swiftc -sanitize=fuzzer,address` into .build-fuzz/, apart from the SwiftPM build.
# Seeds: Tests/Fuzz/corpus (corpus-chunks for chunks; read only); inputs libFuzzer finds go to
# .build-fuzz/corpus-NAME.
# Crashes, timeouts and out-of-memory inputs are written to Tests/Fuzz/crashes/, and that
# folder is read as seeds too: a saved reproducer fails the run again until it is fixed.
# Exits non-zero when libFuzzer finds any. Environment: FUZZ_MAX_LEN (default 16384),
# FUZZ_NICE (default 10), FUZZ_BUILD_ONLY (build, do not fuzz), FUZZ_OPTIMIZE and SWIFTC.
#
# FUZZ_OPTIMIZE=speed (default) builds with -O: twice the executions a second, for `make fuzz`.
# FUZZ_OPTIMIZE=none builds with -Onone, for `make test`'s 30-second run: the same checks, and
# a build of 30 CPU seconds rather than 96 on one core (2026-12-05), which beside the Swift
# suites at the lowest priority had not finished when the fuzz stage began. Each has its own
# binary (`NAME` and `NAME-onone`), so neither stands in for the other.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

seconds="${1:-60}"
[ $# -gt 0 ] && shift
case "$seconds" in ''|*[!0-9]*) echo "fuzz-tar: SECONDS must be a whole number, not '$seconds'" >&2; exit 64 ;; esac
max_len="${FUZZ_MAX_LEN:-16384}"
nice_level="${FUZZ_NICE:-10}"
swiftc="${SWIFTC:-swiftc}"
case "${FUZZ_OPTIMIZE:-speed}" in
  speed) optimize=-O suffix="" ;;
  none) optimize=-Onone suffix=-onone ;;
  *) echo "fuzz-tar: FUZZ_OPTIMIZE must be speed or none, not '${FUZZ_OPTIMIZE}'" >&2; exit 64 ;;
esac
# Swift's own crash backtracer gets in the way of AddressSanitizer's and libFuzzer's reports.
export SWIFT_BACKTRACE=enable=no

out=.build-fuzz
case "${FUZZ_TARGET:-tar}" in
  tar)    target=Tests/Fuzz/TarReaderFuzz.swift module=OTATarFuzz name=tar-reader-fuzz crashes=Tests/Fuzz/crashes
          seeds=Tests/Fuzz/corpus dict=(-dict=Tests/Fuzz/tar.dict) ;;
  chunks) target=Tests/Fuzz/ChunkListFuzz.swift module=OTAChunkFuzz name=chunk-list-fuzz crashes=Tests/Fuzz/crashes-chunks
          seeds=Tests/Fuzz/corpus-chunks dict=() ;;
  answers) target=Tests/Fuzz/AnswerFuzz.swift module=OTAAnswerFuzz name=answer-fuzz crashes=Tests/Fuzz/crashes-answers
          seeds=Tests/Fuzz/corpus-answers dict=(-dict=Tests/Fuzz/answers.dict) ;;
  *) echo "fuzz-tar: FUZZ_TARGET must be tar, chunks or answers, not '$FUZZ_TARGET'" >&2; exit 64 ;;
esac
binary="$out/$name$suffix"
corpus="$out/corpus-$name"
mkdir -p "$corpus" "$crashes" "$seeds"

# The whole OTACore module (no package dependencies besides libcrypto) plus the target.
sources=()
while IFS= read -r -d '' file; do sources+=("$file"); done < <(find Sources/OTACore -name '*.swift' -print0 | sort -z)
sources+=("$target")

# One build at a time, and none twice: `make test` starts a build beside the suites, and the
# fuzz stage, later, waits here for it (at most 15 minutes) rather than building again.
mkdir -p "$out"
exec 9> "$out/$name$suffix.lock"
flock -w 900 9 || { echo "fuzz-tar: another build of $binary held its lock for 15 minutes" >&2; exit 1; }
newest=$(ls -t "${sources[@]}" "$0" | head -1)
if [ ! -x "$binary" ] || [ "$newest" -nt "$binary" ]; then
  echo "fuzz-tar: building $binary"
  # ld.gold's "Cannot export local symbol" warnings are harmless (libFuzzer with Swift).
  nice -n "$nice_level" "$swiftc" -sanitize=fuzzer,address -parse-as-library "$optimize" -gline-tables-only -wmo \
    -swift-version 6 -enable-upcoming-feature ExistentialAny \
    -module-name "$module" -I Sources/COpenSSL -module-cache-path "$out/module-cache" \
    "${sources[@]}" -lcrypto -o "$binary.tmp" 2> >(grep -v "Cannot export local symbol" >&2)
  mv "$binary.tmp" "$binary"
fi
exec 9>&-
# FUZZ_BUILD_ONLY=1: the build alone (make test builds the fuzzer beside the Swift suites).
[ -z "${FUZZ_BUILD_ONLY:-}" ] || { echo "fuzz-tar: $binary is built"; exit 0; }

limits=(-timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=64)

if [ $# -gt 0 ] && [ -f "$1" ]; then
  # Replaying inputs given on the command line: no corpus, no time limit.
  set +e
  nice -n "$nice_level" "$binary" "${limits[@]}" "$@"
  exit $?
fi

# Saved reproducers first (without writing new artifacts): while one still fails, new
# fuzzing would only find it again.
shopt -s nullglob
saved=("$crashes"/crash-* "$crashes"/timeout-* "$crashes"/oom-* "$crashes"/leak-* "$crashes"/slow-unit-*)
shopt -u nullglob
failing=0
for input in "${saved[@]}"; do
  if ! nice -n "$nice_level" "$binary" "${limits[@]}" "$input" > "$out/replay.log" 2>&1; then
    echo "fuzz-tar: saved reproducer still fails: $input" >&2
    grep -m 4 -E "Fatal error|runtime failure|Sources/OTACore/.*:[0-9]+:[0-9]+|^SUMMARY" "$out/replay.log" | sed 's/^/    /' >&2 || true
    failing=$((failing + 1))
  fi
done
if [ "$failing" -gt 0 ]; then
  echo "fuzz-tar: $failing saved reproducer(s) still fail; fix them first" >&2
  exit 1
fi

before=${#saved[@]}
set +e
# Fixed reproducers stay on as seeds (read only, like the corpus).
nice -n "$nice_level" "$binary" \
  -max_total_time="$seconds" -max_len="$max_len" "${limits[@]}" \
  "${dict[@]}" -artifact_prefix="$crashes/" -print_final_stats=1 \
  "$@" "$corpus" "$seeds" "$crashes"
status=$?
set -e

shopt -s nullglob
found=("$crashes"/crash-* "$crashes"/timeout-* "$crashes"/oom-* "$crashes"/leak-* "$crashes"/slow-unit-*)
shopt -u nullglob
if [ "$status" -ne 0 ] || [ "${#found[@]}" -gt "$before" ]; then
  echo "fuzz-tar: libFuzzer found $(( ${#found[@]} - before )) new failing input(s) (exit $status); see $crashes/" >&2
  echo "fuzz-tar: replay one with: scripts/fuzz-tar.sh 0 $crashes/<file>" >&2
  exit 1
fi
echo "fuzz-tar: no crash, timeout or out-of-memory in ${seconds}s"
