#!/usr/bin/env bash
# Check-in throughput and p99 latency with 100,000 registered devices (wrk on loopback), in
# one run: devices signing every request with their session (RFC 9421, HMAC-SHA256, as
# ota-agent does), devices on bearer tokens from before device keys, and nginx serving a
# static JSON of the same size. Targets: ≥ 10,000 check-ins/s and p99 ≤ 25 ms on 2 cores.
# Then the same server restarted with a TUF root: signed devices that send a nonce get
# answers signed by the server's online key (the cost of a signed, fresh answer).
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
for role in root online; do "$BIN/otactl" keygen --out "$work/$role" > /dev/null; done
"$BIN/otactl" trust create --root-key "$work/root.pub" --release-key "$work/key.pub" --online-key "$work/online.pub" \
  --sign "$work/root.key" --out "$work/root.json" > /dev/null
export OTA_TOKEN=$("$BIN/ota-server" token create --data "$work/data" --role admin --name bench 2>/dev/null)
start_server "$work/data" "$work/trust.json"       # creates the schema
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
echo "seeding $DEVICES devices on bearer tokens and $DEVICES with keys ..." >&2
python3 bench/seed_devices.py "$work/data/registry.sqlite" "$DEVICES" "$work/checkin.lua"
python3 bench/seed_devices.py "$work/data/registry.sqlite" "$DEVICES" "$work/signed.lua" --signed
# BENCH_DDI=0 leaves the DDI devices out (to compare with a commit from before DDI).
[ "${BENCH_DDI:-1}" = 0 ] || python3 bench/seed_devices.py "$work/data/registry.sqlite" "$DEVICES" "$work/ddi.lua" --ddi
# What a device up to date with root 1 and release metadata 1 reports (see below).
python3 bench/seed_devices.py "$work/data/registry.sqlite" "$DEVICES" "$work/tuf.lua" --trust-report \
  '{"root_version":1,"timestamp_version":1,"snapshot_version":1,"targets_version":1,"channel":"stable"}'
start_server "$work/data" "$work/trust.json" --poll-interval 60

answer=$(curl -s -X POST -H "Authorization: Bearer ota_dev_bench_1" -H "Content-Type: application/json" \
  -d '{"installed":[]}' "$SERVER_URL/api/v1/device/checkin")
mkdir -p "$work/static" && printf '%s' "$answer" > "$work/static/checkin.json"
start_nginx "$work/static"

echo "warming up (every device once) ..." >&2
# Long enough for every device's first check-in (which writes what it runs) even at 5,000/s:
# a warm-up shorter than that leaves first check-ins in the measured run, which then counts
# a slower server's first writes against it and flatters a faster one.
wrk -t1 -c"$CONNECTIONS" -d20s -s "$work/signed.lua" "$SERVER_URL" > /dev/null
wrk -t1 -c"$CONNECTIONS" -d10s -s "$work/checkin.lua" "$SERVER_URL" > /dev/null
wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/signed.lua" "$SERVER_URL" > "$work/signed.wrk"
wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/checkin.lua" "$SERVER_URL" > "$work/server.wrk"
wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$NGINX_PORT/checkin.json" > "$work/nginx.wrk"
# DDI polls after the agents' figures, so that their first writes do not overlap those.
if [ "${BENCH_DDI:-1}" != 0 ]; then
  wrk -t1 -c"$CONNECTIONS" -d20s -s "$work/ddi.lua" "$SERVER_URL" > /dev/null
  wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/ddi.lua" "$SERVER_URL" > "$work/ddi.wrk"
fi

echo "restarting the server with a TUF root: signed, fresh answers ..." >&2
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
start_server "$work/data" "$work/root.json" --online-key "$work/online.key" --poll-interval 60
OTA_SERVER=$SERVER_URL "$BIN/otactl" release renew --key "$work/key.key" --trust "$work/root.json" > /dev/null
# The warm-up also checks that answers really are signed envelopes.
{ cat "$work/tuf.lua"; echo 'function response(status, headers, body) if not seen and string.find(body, "\"answer\"") then seen = true; io.write("signed answer seen\n") end end'; } > "$work/tuf-check.lua"
wrk -t1 -c"$CONNECTIONS" -d10s -s "$work/tuf-check.lua" "$SERVER_URL" | grep -q "signed answer seen" || { echo "the TUF server did not sign its answers" >&2; exit 1; }
wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/tuf.lua" "$SERVER_URL" > "$work/tuf.wrk"

rps() { awk '/Requests\/sec/ {print $2}' "$1"; }
p99() { awk '$1 == "99%" {print $2}' "$1"; }
errors=$(awk '/Non-2xx|Socket errors/' "$work/server.wrk" "$work/signed.wrk" "$work/tuf.wrk" $( [ "${BENCH_DDI:-1}" = 0 ] || echo "$work/ddi.wrk"))
echo
echo "check-in benchmark: $DEVICES devices of each kind, wrk -t1 -c$CONNECTIONS -d$DURATION, one identity per device, release build"
echo "  ota-server, signed requests: $(rps "$work/signed.wrk") check-ins/s, p99 $(p99 "$work/signed.wrk") (targets ≥ 10000/s, p99 ≤ 25ms)"
echo "  ota-server, bearer tokens:   $(rps "$work/server.wrk") check-ins/s, p99 $(p99 "$work/server.wrk")"
echo "  ratio signed / bearer: $(ratio "$(rps "$work/signed.wrk")" "$(rps "$work/server.wrk")")"
echo "  ota-server, signed requests and signed fresh answers (TUF root): $(rps "$work/tuf.wrk") check-ins/s, p99 $(p99 "$work/tuf.wrk")"
echo "  ratio signed answers / unsigned answers: $(ratio "$(rps "$work/tuf.wrk")" "$(rps "$work/signed.wrk")")"
if [ "${BENCH_DDI:-1}" != 0 ]; then
  echo "  ota-server, DDI polls (GET base, TargetToken): $(rps "$work/ddi.wrk") polls/s, p99 $(p99 "$work/ddi.wrk")"
  echo "  ratio DDI polls / bearer check-ins: $(ratio "$(rps "$work/ddi.wrk")" "$(rps "$work/server.wrk")")"
fi
echo "  nginx static JSON (${#answer} bytes): $(rps "$work/nginx.wrk") requests/s, p99 $(p99 "$work/nginx.wrk")"
echo "  ratio ota-server / nginx: $(ratio "$(rps "$work/server.wrk")" "$(rps "$work/nginx.wrk")")"
[ -z "$errors" ] || { echo "  wrk reported: $errors"; exit 1; }
echo "  devices seen in the database after the run: $(sqlite3 "$work/data/registry.sqlite" 'SELECT count(*) FROM devices WHERE last_seen > 0') of $(( ( ${BENCH_DDI:-1} == 0 ? 3 : 4 ) * DEVICES ))"
