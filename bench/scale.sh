#!/usr/bin/env bash
# The registry past one SQLite file, in one run on this machine:
#   - check-ins/s and p99 of 100,000 devices on SQLite, then on PostgreSQL (the same registry,
#     moved there by `ota-server migrate-to`, which is timed too);
#   - the same with two instances on that database, driven at once;
#   - deployment status p99 on PostgreSQL with all 100,000 devices in the rollout (target ≤ 10 ms);
#   - publishing a 64 MiB model and an agent downloading it: content folder against object
#     storage (moto on loopback; the agent is sent to it with a presigned URL).
source "$(dirname "$0")/common.sh"
release_build ota-server otactl ota-agent
DEVICES=${BENCH_DEVICES:-100000}
DURATION=${BENCH_DURATION:-20s}
work=$OUT/scale
rm -rf "$work" && mkdir -p "$work/payload" "$work/big"
cleanup() {
  kill "${SERVER_PID:-}" "${SECOND_PID:-}" 2>/dev/null || true
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
first_url=$SERVER_URL first_pid=$SERVER_PID

# A second instance on the same database; both driven at once, half the connections each.
"$BIN/ota-server" serve --data "$work/second" --listen 127.0.0.1:0 --trust "$work/trust.json" --log-level warning \
  --poll-interval 60 --database "$pg/ota" > "$work/second.out" 2> "$work/second.log" & SECOND_PID=$!
for _ in $(seq 100); do second_url=$(sed -n 's/^ota-server listening on //p' "$work/second.out"); [ -n "$second_url" ] && break; sleep 0.1; done
wrk -t1 -c32 -d10s -s "$work/checkin.lua" "$second_url" > /dev/null
wrk -t1 -c32 -d"$DURATION" --latency -s "$work/checkin.lua" "$first_url" > "$work/two-a.wrk" & wrk_a=$!
wrk -t1 -c32 -d"$DURATION" --latency -s "$work/checkin.lua" "$second_url" > "$work/two-b.wrk"
wait "$wrk_a"
kill "$SECOND_PID"; wait "$SECOND_PID" 2>/dev/null || true; SECOND_PID=
stop_server
two_rps=$(python3 -c "print(f'{$(rps "$work/two-a.wrk") + $(rps "$work/two-b.wrk"):.0f}')")

# Publishing a 64 MiB model and one agent downloading it: content folder, then object storage.
head -c $((64 << 20)) /dev/urandom > "$work/big/model.onnx"
"$BIN/otactl" bundle create "$work/big" --name big --version 1.0.0 --kind model --compatible bench-hw --no-chunks --key "$work/key.key" -o "$work/big.otab" > /dev/null
publish_and_download() { # publish_and_download NAME CONTENT_HOST [server args]: sets PUBLISH_S, DOWNLOAD_S
  local name=$1 host=$2; shift 2
  rm -rf "$work/$name" "$work/$name-agent" && mkdir -p "$work/$name-agent"
  OTA_TOKEN=$("$BIN/ota-server" token create --data "$work/$name" --role admin 2>/dev/null)
  start_server "$work/$name" "$work/trust.json" "$@"
  export OTA_TOKEN OTA_SERVER=$SERVER_URL
  local start; start=$(date +%s.%N)
  "$BIN/otactl" publish "$work/big.otab" > /dev/null
  PUBLISH_S=$(python3 -c "print(f'{$(date +%s.%N) - $start:.2f}')")
  cp "$work/trust.json" "$work/$name-agent/trust.json"
  write_agent_config "$work/$name-agent" "bench-$name" "$host"
  "$BIN/ota-agent" once --config "$work/$name-agent/agent.json" --quiet
  "$BIN/otactl" deployments create big 1.0.0 --all > /dev/null
  start=$(date +%s.%N)
  "$BIN/ota-agent" once --config "$work/$name-agent/agent.json" --quiet
  DOWNLOAD_S=$(python3 -c "print(f'{$(date +%s.%N) - $start:.2f}')")
  stop_server
}
publish_and_download local ""
local_publish=$PUBLISH_S local_download=$DOWNLOAD_S
moto_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" > "$work/moto.log" 2>&1 & MOTO_PID=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$moto_port/" && break; sleep 0.2; done
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret
curl -s -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -X PUT "http://127.0.0.1:$moto_port/bench"
publish_and_download s3 "127.0.0.1:$moto_port" --content-store s3://bench/ota --s3-endpoint "http://127.0.0.1:$moto_port"

echo
echo "scale benchmark: $DEVICES devices, release build, one run"
echo "  check-ins on SQLite:     $(rps "$work/sqlite.wrk")/s, p99 $(p99 "$work/sqlite.wrk")"
echo "  check-ins on PostgreSQL: $(rps "$work/postgres.wrk")/s, p99 $(p99 "$work/postgres.wrk") (ratio $(ratio "$(rps "$work/postgres.wrk")" "$(rps "$work/sqlite.wrk")"))"
echo "  check-ins on PostgreSQL while every device joins a rollout: $(rps "$work/joining.wrk")/s, p99 $(p99 "$work/joining.wrk")"
echo "  check-ins on PostgreSQL with two instances: ${two_rps}/s together, p99 $(p99 "$work/two-a.wrk") and $(p99 "$work/two-b.wrk") (ratio to one instance $(ratio "$two_rps" "$(rps "$work/postgres.wrk")"))"
echo "  deployment status on PostgreSQL with $members devices in it: p50 $(awk '$1 == "50%" {print $2}' "$work/status.wrk"), p99 $(p99 "$work/status.wrk") (target p99 ≤ 10ms)"
echo "  migrate-to of the $DEVICES-device registry from SQLite to PostgreSQL: ${migrate_seconds} s"
echo "  publishing a 64 MiB model: content folder ${local_publish} s, object storage (moto on loopback) ${PUBLISH_S} s (ratio $(ratio "$PUBLISH_S" "$local_publish"))"
echo "  an agent downloading and installing it: content folder ${local_download} s, object storage ${DOWNLOAD_S} s (ratio $(ratio "$DOWNLOAD_S" "$local_download"))"
