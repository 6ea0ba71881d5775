#!/usr/bin/env bash
# The registry past one SQLite file, in one run on this machine:
#   - check-ins/s and p99 of 100,000 devices on SQLite, then on PostgreSQL (the same registry,
#     moved there by `ota-server migrate-to`, which is timed too);
#   - deployment status p99 on PostgreSQL with all 100,000 devices in the rollout (target ≤ 10 ms);
#   - publishing a 64 MiB model into the content folder against into object storage (moto).
# Several instances are not measured: they are refused until their caches are kept coherent.
source "$(dirname "$0")/common.sh"
release_build ota-server otactl
DEVICES=${BENCH_DEVICES:-100000}
DURATION=${BENCH_DURATION:-20s}
work=$OUT/scale
rm -rf "$work" && mkdir -p "$work/payload" "$work/big"
cleanup() {
  kill "${SERVER_PID:-}" 2>/dev/null || true
  [ -n "${MOTO_PID:-}" ] && kill -9 "$MOTO_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  scripts/postgres.sh stop "$work/pg"
}
trap cleanup EXIT
rps() { awk '/Requests\/sec/ {print $2}' "$1"; }
p99() { awk '$1 == "99%" {print $2}' "$1"; }
stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; }

"$BIN/otactl" keygen --out "$work/key" > /dev/null
"$BIN/otactl" trust init --key "$work/key.pub" --out "$work/trust.json" > /dev/null
echo "weights" > "$work/payload/model.onnx"
"$BIN/otactl" bundle create "$work/payload" --name model --version 2.0.0 --kind model --compatible bench-hw --key "$work/key.key" -o "$work/m.otab" > /dev/null
token=$("$BIN/ota-server" token create --data "$work/data" --role admin 2>/dev/null)
start_server "$work/data" "$work/trust.json"; stop_server
echo "seeding $DEVICES devices ..." >&2
python3 bench/seed_devices.py "$work/data/registry.sqlite" "$DEVICES" "$work/checkin.lua"

# SQLite.
start_server "$work/data" "$work/trust.json" --poll-interval 60
export OTA_TOKEN=$token OTA_SERVER=$SERVER_URL
"$BIN/otactl" publish "$work/m.otab" > /dev/null
wrk -t1 -c64 -d10s -s "$work/checkin.lua" "$SERVER_URL" > /dev/null
wrk -t1 -c64 -d"$DURATION" --latency -s "$work/checkin.lua" "$SERVER_URL" > "$work/sqlite.wrk"
stop_server

# The same registry on PostgreSQL.
pg=$(scripts/postgres.sh start "$work/pg")
createdb -h 127.0.0.1 -p "${pg##*:}" -U postgres ota
start=$(date +%s.%N)
"$BIN/ota-server" migrate-to "$pg/ota" --data "$work/data" > "$work/migrate.out" 2> /dev/null
migrate_seconds=$(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')")
start_server "$work/data" "$work/trust.json" --poll-interval 60 --database "$pg/ota"
export OTA_SERVER=$SERVER_URL
wrk -t1 -c64 -d10s -s "$work/checkin.lua" "$SERVER_URL" > /dev/null
wrk -t1 -c64 -d"$DURATION" --latency -s "$work/checkin.lua" "$SERVER_URL" > "$work/postgres.wrk"
deployment=$("$BIN/otactl" deployments create model 2.0.0 --all --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
wrk -t1 -c64 -d"$DURATION" --latency -s "$work/checkin.lua" "$SERVER_URL" > "$work/joining.wrk"
sleep 3
members=$(psql -X -At -h 127.0.0.1 -p "${pg##*:}" -U postgres ota -c "SELECT count(*) FROM deployment_devices WHERE deployment_id = '$deployment'")
cat > "$work/status.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $token"
LUA
wrk -t1 -c4 -d10s --latency -s "$work/status.lua" "$SERVER_URL/api/v1/deployments/$deployment" > "$work/status.wrk"
stop_server

# Publishing into the content folder and into object storage.
head -c $((64 << 20)) /dev/urandom > "$work/big/model.onnx"
"$BIN/otactl" bundle create "$work/big" --name big --version 1.0.0 --kind model --compatible bench-hw --no-chunks --key "$work/key.key" -o "$work/big.otab" > /dev/null
rm -rf "$work/local" && token_local=$("$BIN/ota-server" token create --data "$work/local" --role admin 2>/dev/null)
start_server "$work/local" "$work/trust.json"
start=$(date +%s.%N); OTA_SERVER=$SERVER_URL OTA_TOKEN=$token_local "$BIN/otactl" publish "$work/big.otab" > /dev/null
local_seconds=$(python3 -c "print(f'{$(date +%s.%N) - $start:.2f}')"); stop_server
moto_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" > "$work/moto.log" 2>&1 & MOTO_PID=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$moto_port/" && break; sleep 0.2; done
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret
curl -s -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -X PUT "http://127.0.0.1:$moto_port/bench"
rm -rf "$work/s3" && token_s3=$("$BIN/ota-server" token create --data "$work/s3" --role admin 2>/dev/null)
start_server "$work/s3" "$work/trust.json" --content-store s3://bench/ota --s3-endpoint "http://127.0.0.1:$moto_port"
start=$(date +%s.%N); OTA_SERVER=$SERVER_URL OTA_TOKEN=$token_s3 "$BIN/otactl" publish "$work/big.otab" > /dev/null
s3_seconds=$(python3 -c "print(f'{$(date +%s.%N) - $start:.2f}')"); stop_server

echo
echo "scale benchmark: $DEVICES devices, release build, one run"
echo "  check-ins on SQLite:     $(rps "$work/sqlite.wrk")/s, p99 $(p99 "$work/sqlite.wrk")"
echo "  check-ins on PostgreSQL: $(rps "$work/postgres.wrk")/s, p99 $(p99 "$work/postgres.wrk") (ratio $(ratio "$(rps "$work/postgres.wrk")" "$(rps "$work/sqlite.wrk")"))"
echo "  check-ins on PostgreSQL while every device joins a rollout: $(rps "$work/joining.wrk")/s, p99 $(p99 "$work/joining.wrk")"
echo "  deployment status on PostgreSQL with $members devices in it: p50 $(awk '$1 == "50%" {print $2}' "$work/status.wrk"), p99 $(p99 "$work/status.wrk") (target p99 ≤ 10ms)"
echo "  migrate-to of the $DEVICES-device registry from SQLite to PostgreSQL: ${migrate_seconds} s"
echo "  publishing a 64 MiB model: content folder ${local_seconds} s, object storage (moto on loopback) ${s3_seconds} s (ratio $(ratio "$s3_seconds" "$local_seconds"))"
