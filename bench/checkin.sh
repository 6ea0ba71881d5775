#!/usr/bin/env bash
# Check-in throughput and p99 latency with 100,000 registered devices (wrk on loopback), in
# one run: devices signing every request with their session (RFC 9421, HMAC-SHA256, as
# ota-agent does), devices on bearer tokens from before device keys, and nginx serving a
# static JSON of the same size. Targets: ≥ 10,000 check-ins/s and p99 ≤ 25 ms on 2 cores.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/nginx.sh"
release_build ota-server otactl
DEVICES=${BENCH_DEVICES:-100000}
DURATION=${BENCH_DURATION:-20s}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
work=$OUT/checkin
rm -rf "$work" && mkdir -p "$work"
cleanup() { kill "${SERVER_PID:-}" "${NGINX_PID:-}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

"$BIN/otactl" keygen --out "$work/key" > /dev/null
"$BIN/otactl" trust init --key "$work/key.pub" --out "$work/trust.json" > /dev/null
start_server "$work/data" "$work/trust.json"       # creates the schema
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
echo "seeding $DEVICES devices on bearer tokens and $DEVICES with keys ..." >&2
python3 bench/seed_devices.py "$work/data/registry.sqlite" "$DEVICES" "$work/checkin.lua"
python3 bench/seed_devices.py "$work/data/registry.sqlite" "$DEVICES" "$work/signed.lua" --signed
start_server "$work/data" "$work/trust.json" --poll-interval 60

answer=$(curl -s -X POST -H "Authorization: Bearer ota_dev_bench_1" -H "Content-Type: application/json" \
  -d '{"installed":[]}' "$SERVER_URL/api/v1/device/checkin")
mkdir -p "$work/static" && printf '%s' "$answer" > "$work/static/checkin.json"
start_nginx "$work/static"

echo "warming up (every device once) ..." >&2
wrk -t1 -c"$CONNECTIONS" -d10s -s "$work/signed.lua" "$SERVER_URL" > /dev/null
wrk -t1 -c"$CONNECTIONS" -d10s -s "$work/checkin.lua" "$SERVER_URL" > /dev/null
wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/signed.lua" "$SERVER_URL" > "$work/signed.wrk"
wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/checkin.lua" "$SERVER_URL" > "$work/server.wrk"
wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$NGINX_PORT/checkin.json" > "$work/nginx.wrk"

rps() { awk '/Requests\/sec/ {print $2}' "$1"; }
p99() { awk '$1 == "99%" {print $2}' "$1"; }
errors=$(awk '/Non-2xx|Socket errors/' "$work/server.wrk" "$work/signed.wrk")
echo
echo "check-in benchmark: $DEVICES devices of each kind, wrk -t1 -c$CONNECTIONS -d$DURATION, one identity per device, release build"
echo "  ota-server, signed requests: $(rps "$work/signed.wrk") check-ins/s, p99 $(p99 "$work/signed.wrk") (targets ≥ 10000/s, p99 ≤ 25ms)"
echo "  ota-server, bearer tokens:   $(rps "$work/server.wrk") check-ins/s, p99 $(p99 "$work/server.wrk")"
echo "  ratio signed / bearer: $(ratio "$(rps "$work/signed.wrk")" "$(rps "$work/server.wrk")")"
echo "  nginx static JSON (${#answer} bytes): $(rps "$work/nginx.wrk") requests/s, p99 $(p99 "$work/nginx.wrk")"
echo "  ratio ota-server / nginx: $(ratio "$(rps "$work/server.wrk")" "$(rps "$work/nginx.wrk")")"
[ -z "$errors" ] || { echo "  wrk reported: $errors"; exit 1; }
echo "  devices seen in the database after the run: $(sqlite3 "$work/data/registry.sqlite" 'SELECT count(*) FROM devices WHERE last_seen > 0') of $((2 * DEVICES))"
