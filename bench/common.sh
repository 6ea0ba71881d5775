# Shared helpers for the benchmarks (sourced). Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
OUT=${BENCH_OUT:-$ROOT/bench/out}
mkdir -p "$OUT"
export PATH=/opt/swift/usr/bin:$PATH
export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost

# Release binaries in their own scratch folder, so benchmarks never disturb the debug build.
release_build() {
  echo "building release binaries ($*) ..." >&2
  for product in "$@"; do swift build -c release --scratch-path .build-release --product "$product" >&2; done
  BIN=$ROOT/.build-release/release
}

# Wall seconds and peak RSS (KiB) of a command, from GNU time: sets ELAPSED and RSS_KB.
# With MEASURE_ANY_EXIT=1 a command that fails is measured too (its status in EXIT_STATUS).
measure() {
  local log=$OUT/time.log
  EXIT_STATUS=0
  /usr/bin/time -v "$@" > "$OUT/cmd.out" 2> "$log" || EXIT_STATUS=$?
  if [ "$EXIT_STATUS" -ne 0 ] && [ -z "${MEASURE_ANY_EXIT:-}" ]; then cat "$log" >&2; return 1; fi
  ELAPSED=$(awk -F': ' '/Elapsed \(wall clock\)/ {split($2, t, ":"); if (length(t) == 3) print t[1]*3600 + t[2]*60 + t[3]; else print t[1]*60 + t[2]}' "$log")
  RSS_KB=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
}

best_of() { # best_of N command... -> sets BEST (seconds)
  local n=$1; shift
  BEST=""
  for _ in $(seq "$n"); do
    local start end
    start=$(date +%s.%N); "$@" > /dev/null; end=$(date +%s.%N)
    BEST=$(python3 -c "b='$BEST'; t=$end-$start; print(t if not b or t < float(b) else b)")
  done
}

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
mib() { python3 -c "print(f'{$1 / 1024:.1f}')"; }

start_server() { # start_server DATA TRUST [extra args] -> SERVER_PID, SERVER_URL
  local data=$1 trust=$2; shift 2
  "$BIN/ota-server" serve --data "$data" --listen 127.0.0.1:0 --trust "$trust" --log-level warning --registrations-per-minute 1000000 "$@" > "$OUT/server.out" 2> "$OUT/server.log" &
  SERVER_PID=$!
  for _ in $(seq 100); do
    SERVER_URL=$(sed -n 's/^ota-server listening on //p' "$OUT/server.out")
    [ -n "$SERVER_URL" ] && return 0
    sleep 0.1
  done
  echo "ota-server did not start" >&2; cat "$OUT/server.log" >&2; return 1
}

write_agent_config() { # write_agent_config WORK DEVICE_ID [CONTENT_HOST]: WORK/agent.json for a device of hardware bench-hw
  # CONTENT_HOST: an object store the device may follow redirects to (a legacy root's unsigned
  # answers cannot name one).
  local work=$1 device=$2 hosts=${3:+, \"content_hosts\": [\"$3\"]} enroll
  enroll=$("$BIN/otactl" enroll-token create --auto-accept 2>/dev/null)
  cat > "$work/agent.json" <<JSON
{"server_url": "$SERVER_URL", "device_id": "$device", "hardware": "bench-hw", "enrollment_token": "$enroll",
 "trust_root": "$work/trust.json", "state_dir": "$work/state", "allow_insecure_http": true,
 "health_command": ["/bin/true"]$hosts}
JSON
}
