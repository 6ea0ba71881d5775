#!/usr/bin/env bash
# What a hostile `ranges` request costs the content store: one device asks for 4,096 one-byte
# ranges spread over a chunked 64 MiB model kept in object storage (moto on loopback). Prints
# the store requests and the bytes read for it, and the bytes returned; the rule is at most 16
# requests and at most twice the bytes returned plus 1 MiB (before: one request per range,
# 4,096, and seconds of work for a 4 KiB answer). Then an honest delta request, the chunks a
# device misses, for comparison.
set -euo pipefail
source "$(dirname "$0")/common.sh"
release_build ota-server otactl
WORK=$(mktemp -d /tmp/ota-bench-ranges.XXXXXX)
cleanup() { kill "${SERVER_PID:-}" "${MOTO_PID:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

moto_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" > "$WORK/moto.log" 2>&1 & MOTO_PID=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$moto_port/" && break; sleep 0.2; done
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret
curl -s -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -X PUT "http://127.0.0.1:$moto_port/bench"

"$BIN/otactl" keygen --out "$WORK/key" > /dev/null
"$BIN/otactl" trust init --key "$WORK/key.pub" --out "$WORK/trust.json" > /dev/null
export OTA_TOKEN=$("$BIN/ota-server" token create --data "$WORK/data" --role admin --name bench 2>/dev/null)
start_server "$WORK/data" "$WORK/trust.json" --content-store s3://bench/ota --s3-endpoint "http://127.0.0.1:$moto_port"
export OTA_SERVER=$SERVER_URL
mkdir -p "$WORK/model" && head -c $((64 << 20)) /dev/urandom > "$WORK/model/model.bin"
"$BIN/otactl" bundle create "$WORK/model" --name big --version 1.0.0 --kind model --compatible bench-hw --key "$WORK/key.key" -o "$WORK/big.otab" > /dev/null
"$BIN/otactl" publish "$WORK/big.otab" > /dev/null
"$BIN/otactl" deployments create big 1.0.0 --all > /dev/null
digest=$(sha256sum "$WORK/model/model.bin" | cut -d' ' -f1)
path="/api/v1/device/content/$digest/ranges"
enroll=$("$BIN/otactl" enroll-token create --auto-accept --max-uses 5)
metric() { curl -s "$SERVER_URL/metrics" | awk -v name="$1" '$1 == name {print $2}'; }

python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
size = 64 << 20
json.dump({"ranges": [{"offset": i * (size // 4096), "length": 1} for i in range(4096)]}, open(work + "/tiny.json", "w"))
json.dump({"ranges": [{"offset": 8 << 20, "length": 1 << 20}]}, open(work + "/honest.json", "w"))
PY
ask() { # ask NAME BODY_FILE: the answer's bytes, and what it cost the store
  local reads bytes started
  reads=$(metric ota_range_store_reads_total); bytes=$(metric ota_range_store_read_bytes_total)
  python3 bench/signed_device.py "$SERVER_URL" "$enroll" "bench-$1" bench-hw "$path" --post "$2" > "$WORK/headers"
  started=$(date +%s.%N)
  curl -s -o "$WORK/answer" -X POST -H "Content-Type: application/json" -H @"$WORK/headers" --data-binary @"$2" "$SERVER_URL$path"
  ASK_SECONDS=$(python3 -c "print(f'{$(date +%s.%N) - $started:.3f}')")
  ASK_RETURNED=$(stat -c %s "$WORK/answer")
  ASK_READS=$(python3 -c "print(int(float('$(metric ota_range_store_reads_total)') - float('$reads')))")
  ASK_READ_BYTES=$(python3 -c "print(int(float('$(metric ota_range_store_read_bytes_total)') - float('$bytes')))")
}
ask tiny "$WORK/tiny.json"
tiny="4,096 one-byte ranges over 64 MiB: $ASK_RETURNED bytes returned (a prefix), $ASK_READS store requests, $ASK_READ_BYTES bytes read, ${ASK_SECONDS}s"
limit=$((2 * ASK_RETURNED + (1 << 20)))
[ "$ASK_READS" -le 16 ] && [ "$ASK_READ_BYTES" -le "$limit" ] || { echo "over the bound: $tiny" >&2; exit 1; }
ask honest "$WORK/honest.json"
honest="one 1 MiB range (16 chunks of a delta): $ASK_RETURNED bytes returned, $ASK_READS store requests, $ASK_READ_BYTES bytes read, ${ASK_SECONDS}s"
echo
echo "ranges against object storage (moto on loopback), release build"
echo "  hostile: $tiny (bound: 16 requests, $limit bytes)"
echo "  honest:  $honest"
