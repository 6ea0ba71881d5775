#!/usr/bin/env bash
# The agent's own overhead while the application evaluates a candidate in shadow: CPU and
# memory of the ota-agent daemon over the same window with live traffic, first without a
# shadow phase (the reference), then while the demo app runs digits-v4-slow beside digits-v2.
# The app's CPU is printed too: the evaluation itself is the application's cost, not the agent's.
#
#   bench/shadow.sh            (BENCH_WINDOW seconds per window, default 20; BENCH_RATE req/s, default 200)
set -euo pipefail
source "$(dirname "$0")/common.sh"
release_build ota-server ota-agent otactl
PY=$ROOT/.venv/bin/python
"$PY" -c "import onnxruntime, numpy" || { echo "bench: $PY needs onnxruntime and numpy (scripts/install-deps.sh demo)" >&2; exit 1; }
WINDOW=${BENCH_WINDOW:-20}
RATE=${BENCH_RATE:-200}
WORK=$(mktemp -d /tmp/ota-bench-shadow.XXXXXX)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

"$BIN/otactl" keygen --out "$WORK/release" >/dev/null
"$BIN/otactl" trust init --key "$WORK/release.pub" --out "$WORK/trust.json" >/dev/null
export OTA_TOKEN=$("$BIN/ota-server" token create --data "$WORK/data" --role admin --name bench 2>/dev/null)
start_server "$WORK/data" "$WORK/trust.json" --poll-interval 30
PIDS+=("$SERVER_PID")
export OTA_SERVER=$SERVER_URL

"$PY" demo/app/serve.py --state "$WORK/state" --port 0 --port-file "$WORK/app.port" > "$WORK/app.log" 2>&1 &
APP_PID=$!
PIDS+=("$APP_PID")
for _ in $(seq 100); do [ -s "$WORK/app.port" ] && break; sleep 0.1; done
APP=http://127.0.0.1:$(cat "$WORK/app.port")
write_agent_config "$WORK" bench-1
"$PY" - "$WORK/agent.json" "$APP" "$PY" "$ROOT/demo/app" <<'PYEOF'
import json, sys
path, app, py, folder = sys.argv[1:]
config = json.load(open(path))
config.update({
    "reload_command": ["curl", "-sf", "--noproxy", "*", "-X", "POST", app + "/reload"],
    "shadow_command": [py, folder + "/hooks.py", "shadow", "--app", app],
    "metrics_command": [py, folder + "/hooks.py", "metrics", "--app", app],
})
json.dump(config, open(path, "w"))
PYEOF

bundle() {  # VERSION FOLDER
  "$BIN/otactl" bundle create "demo/models/$2" --name digits --version "$1" --kind model --compatible bench-hw \
    --key "$WORK/release.key" -o "$WORK/$1.otab" >/dev/null
  "$BIN/otactl" publish "$WORK/$1.otab" >/dev/null
}
bundle 1.0.0 digits-v2
"$BIN/otactl" deployments create digits 1.0.0 --all >/dev/null
"$BIN/ota-agent" run --config "$WORK/agent.json" > "$WORK/agent.log" 2>&1 &
AGENT_PID=$!
PIDS+=("$AGENT_PID")
for _ in $(seq 300); do grep -q "now serving digits 1.0.0" "$WORK/app.log" && break; sleep 0.1; done
grep -q "now serving digits 1.0.0" "$WORK/app.log" || { echo "bench: the app never served 1.0.0" >&2; tail "$WORK/agent.log" >&2; exit 1; }

"$PY" demo/app/traffic.py --golden demo/models/golden.json --app "$APP" --rate "$RATE" > /dev/null 2>&1 &
PIDS+=("$!")
sleep 2

ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; }   # own and waited-for children's CPU ticks
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
HZ=$(getconf CLK_TCK)
window() {  # NAME -> prints agent CPU %, agent RSS, app CPU %
  local a0 p0 a1 p1 max=0 rss
  a0=$(ticks "$AGENT_PID"); p0=$(ticks "$APP_PID")
  for _ in $(seq "$WINDOW"); do
    sleep 1
    rss=$(rss_kb "$AGENT_PID"); [ "$rss" -gt "$max" ] && max=$rss
  done
  a1=$(ticks "$AGENT_PID"); p1=$(ticks "$APP_PID")
  AGENT_CPU=$(python3 -c "print(f'{($a1 - $a0) * 100 / $HZ / $WINDOW:.2f}')")
  APP_CPU=$(python3 -c "print(f'{($p1 - $p0) * 100 / $HZ / $WINDOW:.1f}')")
  AGENT_RSS=$(mib "$max")
  printf '%-34s agent CPU %6s%% of a core   agent RSS %5s MiB   app CPU %6s%%\n' "$1" "$AGENT_CPU" "$AGENT_RSS" "$APP_CPU"
}

echo "window ${WINDOW}s each, $RATE requests/s of live traffic, poll interval 30s"
window "live model only (reference)"
REF_CPU=$AGENT_CPU; REF_RSS=$AGENT_RSS; REF_APP=$APP_CPU
bundle 2.0.0 digits-v4-slow
"$BIN/otactl" deployments create digits 2.0.0 --all --shadow --shadow-samples 1000000 --shadow-timeout 1h \
  --gate 'latency_p95<=2x' >/dev/null
for _ in $(seq 300); do [ -L "$WORK/state/candidate/digits" ] && grep -q "in shadow" "$WORK/app.log" && break; sleep 0.1; done
[ -L "$WORK/state/candidate/digits" ] || { echo "bench: the shadow phase did not start" >&2; tail "$WORK/agent.log" >&2; exit 1; }
sleep 1
window "candidate in shadow (v4 beside v2)"
samples=$("$PY" -c "import json; print(json.load(open('$WORK/state/reports/digits.shadow.json'))['samples'])")
echo "the app evaluated $samples samples in shadow; the agent looked at its report every 3 s"
echo "agent CPU during shadow: $AGENT_CPU% against $REF_CPU% without (+$(python3 -c "print(f'{$AGENT_CPU - $REF_CPU:.2f}')") points); RSS $AGENT_RSS MiB against $REF_RSS MiB"
echo "app CPU during shadow: $APP_CPU% against $REF_APP% without"
