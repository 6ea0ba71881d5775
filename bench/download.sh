#!/usr/bin/env bash
# A 1 GiB content download from ota-server (Range-capable route) against nginx sendfile of the
# same file; and the server's RSS during it (should stay flat, not grow with the size).
# Target: throughput ratio ≥ 0.7.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/nginx.sh"
release_build ota-server otactl
SIZE_MIB=${BENCH_SIZE_MIB:-1024}
work=$OUT/download
rm -rf "$work" && mkdir -p "$work/payload" "$work/static"
cleanup() { kill "${SERVER_PID:-}" "${NGINX_PID:-}" "${SAMPLER_PID:-}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$work/payload/model.bin"
ln "$work/payload/model.bin" "$work/static/model.bin"
"$BIN/otactl" keygen --out "$work/key" > /dev/null
"$BIN/otactl" trust init --key "$work/key.pub" --out "$work/trust.json" > /dev/null
"$BIN/otactl" bundle create "$work/payload" --name big --version 1.0.0 --kind model --compatible bench-hw --key "$work/key.key" -o "$work/big.otab" ${BENCH_NO_CHUNKS:+--no-chunks} > /dev/null
token=$("$BIN/ota-server" token create --data "$work/data" --role admin 2>/dev/null)
start_server "$work/data" "$work/trust.json"
export OTA_SERVER=$SERVER_URL OTA_TOKEN=$token
"$BIN/otactl" publish "$work/big.otab" > /dev/null
"$BIN/otactl" deployments create big 1.0.0 --all > /dev/null
enroll=$("$BIN/otactl" enroll-token create --auto-accept 2>/dev/null)
digest=$(sha256sum "$work/payload/model.bin" | cut -d' ' -f1)
# A device with a key, as ota-agent is; its signed headers for the download last 300 s.
mapfile -t signed < <(python3 bench/signed_device.py "$SERVER_URL" "$enroll" bench-1 bench-hw "/api/v1/device/content/$digest")
auth=()
for header in "${signed[@]}"; do auth+=(-H "$header"); done
start_nginx "$work/static"

fetch_server() { curl -s -f -o /dev/null "${auth[@]}" "$SERVER_URL/api/v1/device/content/$digest"; }
fetch_nginx() { curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/model.bin"; }
cat "$work/payload/model.bin" > /dev/null   # page cache warm for both
rss() { awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }
rss_before=$(rss)
( max=0; while true; do r=$(rss); [ "$r" -gt "$max" ] && max=$r && echo "$max" > "$work/rss.max"; sleep 0.05; done ) &
SAMPLER_PID=$!
best_of 5 fetch_server; server_s=$BEST
kill "$SAMPLER_PID"; SAMPLER_PID=
best_of 5 fetch_nginx; nginx_s=$BEST
server_mibs=$(python3 -c "print(f'{$SIZE_MIB / $server_s:.0f}')")
nginx_mibs=$(python3 -c "print(f'{$SIZE_MIB / $nginx_s:.0f}')")
echo
echo "download benchmark: ${SIZE_MIB} MiB content over loopback, curl to /dev/null, best of 5, release build"
echo "  ota-server: ${server_s}s (${server_mibs} MiB/s)"
echo "  nginx sendfile: ${nginx_s}s (${nginx_mibs} MiB/s)"
echo "  throughput ratio ota-server / nginx: $(ratio "$nginx_s" "$server_s") (target ≥ 0.7)"
echo "  ota-server RSS: $(mib "$rss_before") MiB before, $(mib "$(cat "$work/rss.max")") MiB at most during the downloads"
