#!/usr/bin/env bash
# With 100,000 devices: check-in throughput with no rollout and during an active rollout in
# the same run (target ratio ≥ 0.8), then deployment status latency once the rollout holds
# all of them (target p99 ≤ 5 ms), and the counters checked against a full recount.
source "$(dirname "$0")/common.sh"
release_build ota-server otactl
DEVICES=${BENCH_DEVICES:-100000}
DURATION=${BENCH_DURATION:-20s}
work=$OUT/rollout
rm -rf "$work" && mkdir -p "$work/payload"
cleanup() { kill "${SERVER_PID:-}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

"$BIN/otactl" keygen --out "$work/key" > /dev/null
"$BIN/otactl" trust init --key "$work/key.pub" --out "$work/trust.json" > /dev/null
echo "weights" > "$work/payload/model.onnx"
"$BIN/otactl" bundle create "$work/payload" --name model --version 2.0.0 --kind model --compatible bench-hw --key "$work/key.key" -o "$work/m.otab" > /dev/null
token=$("$BIN/ota-server" token create --data "$work/data" --role admin 2>/dev/null)
start_server "$work/data" "$work/trust.json"
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
echo "seeding $DEVICES devices ..." >&2
python3 bench/seed_devices.py "$work/data/registry.sqlite" "$DEVICES" "$work/checkin.lua"
start_server "$work/data" "$work/trust.json" --poll-interval 60
export OTA_SERVER=$SERVER_URL OTA_TOKEN=$token
"$BIN/otactl" publish "$work/m.otab" > /dev/null

rps() { awk '/Requests\/sec/ {print $2}' "$1"; }
p99() { awk '$1 == "99%" {print $2}' "$1"; }
echo "warming up ..." >&2
wrk -t1 -c64 -d10s -s "$work/checkin.lua" "$SERVER_URL" > /dev/null
wrk -t1 -c64 -d"$DURATION" --latency -s "$work/checkin.lua" "$SERVER_URL" > "$work/idle.wrk"
deployment=$("$BIN/otactl" deployments create model 2.0.0 --all --phases 1%,10%,50%,100% --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
for _ in 1 2 3; do "$BIN/otactl" deployments advance "$deployment" > /dev/null; done
# First every device joins the rollout (a membership written per device), then the steady state.
wrk -t1 -c64 -d"$DURATION" --latency -s "$work/checkin.lua" "$SERVER_URL" > "$work/joining.wrk"
wrk -t1 -c64 -d"$DURATION" --latency -s "$work/checkin.lua" "$SERVER_URL" > "$work/rollout.wrk"
sleep 3
members=$(sqlite3 "$work/data/registry.sqlite" "SELECT count(*) FROM deployment_devices WHERE deployment_id = '$deployment'")

cat > "$work/status.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $token"
LUA
wrk -t1 -c4 -d10s --latency -s "$work/status.lua" "$SERVER_URL/api/v1/deployments/$deployment" > "$work/status.wrk"
shown=$(curl -s -H "Authorization: Bearer $token" "$SERVER_URL/api/v1/deployments/$deployment" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(f"{k}={v}" for k, v in sorted(d["counts"].items())))')
recount=$(sqlite3 "$work/data/registry.sqlite" "SELECT state || '=' || count(*) FROM deployment_devices WHERE deployment_id = '$deployment' GROUP BY state ORDER BY state" | tr '\n' ' ')
echo
echo "rollout benchmark: $DEVICES devices, release build"
echo "  check-ins without a rollout: $(rps "$work/idle.wrk")/s, p99 $(p99 "$work/idle.wrk")"
echo "  check-ins while devices join a rollout to all: $(rps "$work/joining.wrk")/s, p99 $(p99 "$work/joining.wrk") (ratio $(ratio "$(rps "$work/joining.wrk")" "$(rps "$work/idle.wrk")"))"
echo "  check-ins during the rollout, every answer an assignment: $(rps "$work/rollout.wrk")/s, p99 $(p99 "$work/rollout.wrk")"
echo "  ratio: $(ratio "$(rps "$work/rollout.wrk")" "$(rps "$work/idle.wrk")") (target ≥ 0.8)"
echo "  deployment status with $members devices in it: $(rps "$work/status.wrk") requests/s, p50 $(awk '$1 == "50%" {print $2}' "$work/status.wrk"), p99 $(p99 "$work/status.wrk") (target p99 ≤ 5ms)"
echo "  counts shown: $shown"
echo "  full recount: $recount"
