#!/usr/bin/env bash
# Installing a bundle with a 1 GiB model file: time from assignment to committed against
# (curl download + openssl dgst -sha256) of the same file (target ≤ 1.3), the agent's peak RSS
# (target ≤ 32 MiB), and the stripped size of the release agent built with --static-swift-stdlib.
# BENCH_NO_CHUNKS=1 builds the bundle without its chunk list (16,384 chunks for 1 GiB).
source "$(dirname "$0")/common.sh"
release_build ota-server otactl ota-agent
SIZE_MIB=${BENCH_SIZE_MIB:-1024}
work=$OUT/agent
rm -rf "$work" && mkdir -p "$work/payload"
cleanup() { kill "${SERVER_PID:-}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$work/payload/model.onnx"
echo "0 1 2" > "$work/payload/labels.txt"
"$BIN/otactl" keygen --out "$work/key" > /dev/null
"$BIN/otactl" trust init --key "$work/key.pub" --out "$work/trust.json" > /dev/null
"$BIN/otactl" bundle create "$work/payload" --name big --version 1.0.0 --kind model --compatible bench-hw --key "$work/key.key" -o "$work/big.otab" ${BENCH_NO_CHUNKS:+--no-chunks} > /dev/null
token=$("$BIN/ota-server" token create --data "$work/data" --role admin 2>/dev/null)
start_server "$work/data" "$work/trust.json"
export OTA_SERVER=$SERVER_URL OTA_TOKEN=$token
"$BIN/otactl" publish "$work/big.otab" > /dev/null
write_agent_config "$work" bench-agent
"$BIN/ota-agent" once --config "$work/agent.json" --quiet       # registers; nothing assigned yet
"$BIN/otactl" deployments create big 1.0.0 --all > /dev/null
cat "$work/payload/model.onnx" > /dev/null
sync   # both measurements start with no writeback pending (publishing just wrote 1 GiB)
measure "$BIN/ota-agent" once --config "$work/agent.json"
agent_s=$ELAPSED; agent_rss=$RSS_KB
[ "$(readlink "$work/state/current/big")" != "" ] || { echo "the agent did not install the bundle" >&2; exit 1; }

# The baseline: the same bytes fetched with curl (as a second signed device) and hashed with openssl.
digest=$(sha256sum "$work/payload/model.onnx" | cut -d' ' -f1)
enroll2=$("$BIN/otactl" enroll-token create --auto-accept 2>/dev/null)
mapfile -t signed < <(python3 bench/signed_device.py "$SERVER_URL" "$enroll2" bench-baseline bench-hw "/api/v1/device/content/$digest")
auth=()
for header in "${signed[@]}"; do auth+=(-H "$header"); done
baseline() {
  curl -s -f -o "$work/baseline.bin" "${auth[@]}" "$SERVER_URL/api/v1/device/content/$digest"
  openssl dgst -sha256 "$work/baseline.bin" > /dev/null
}
sync
start=$(date +%s.%N); baseline; end=$(date +%s.%N)
baseline_s=$(python3 -c "print(f'{$end - $start:.3f}')")

echo "building the static release agent ..." >&2
swift build -c release --scratch-path .build-release-static --static-swift-stdlib --product ota-agent >&2
cp .build-release-static/release/ota-agent "$work/ota-agent.stripped" && strip "$work/ota-agent.stripped"
size=$(stat -c %s "$work/ota-agent.stripped")
echo
echo "agent benchmark: ${SIZE_MIB} MiB model, loopback, release build"
echo "  assignment to committed (ota-agent once): ${agent_s}s"
echo "  curl download + openssl dgst -sha256: ${baseline_s}s"
echo "  ratio: $(ratio "$agent_s" "$baseline_s") (target ≤ 1.3)"
echo "  agent peak RSS: $(mib "$agent_rss") MiB (target ≤ 32)"
echo "  stripped static agent: $(python3 -c "print(f'{$size / 1048576:.1f}')") MiB; links: $(readelf -d .build-release-static/release/ota-agent | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')"
