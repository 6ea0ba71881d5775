#!/usr/bin/env bash
# A 1 GiB model with its model team's signature (OpenSSF model-signing), in a bundle with two
# variants: what choosing a build and checking the signature cost, beside references measured
# in the same run.
#   - otactl bundle verify of the bundle (every byte's SHA-256, then each variant's model
#     signature) under a root that requires the signature, and under one that does not: the
#     difference is the signature check itself;
#   - openssl dgst -sha256 of the same files (hashing alone), and the tool's own
#     `model_signing verify key` of the 1 GiB folder;
#   - the agent installing the bundle: it picks the 1 GiB build by its inventory, fetches only
#     that build, and checks the signature before staging (wall time and peak memory).
#
#   bench/provenance.sh        (BENCH_MODEL_MIB: the big build's size, default 1024)
set -euo pipefail
source "$(dirname "$0")/common.sh"
release_build ota-server ota-agent otactl
SIZE_MIB=${BENCH_MODEL_MIB:-1024}
TOOL=$ROOT/.venv-model-signing/bin/model_signing
[ -x "$TOOL" ] || { echo "bench: $TOOL is missing: run scripts/install-deps.sh test" >&2; exit 1; }
WORK=$(mktemp -d /tmp/ota-bench-provenance.XXXXXX)
cleanup() { kill "${SERVER_PID:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

mkdir -p "$WORK/model/fp32" "$WORK/model/int8"
head -c $((SIZE_MIB << 20)) /dev/urandom > "$WORK/model/fp32/model.bin"
head -c $((16 << 20)) /dev/urandom > "$WORK/model/int8/model.bin"
printf 'int8  cpu.features contains neon\nfp32  cpu.features contains avx2\n' > "$WORK/variants.txt"
openssl ecparam -name secp384r1 -genkey -noout -out "$WORK/team.pem" 2>/dev/null
openssl ec -in "$WORK/team.pem" -pubout -out "$WORK/team.pub" 2>/dev/null
for build in fp32 int8; do "$TOOL" sign key --private_key "$WORK/team.pem" --signature "$WORK/model/$build/model.sig" "$WORK/model/$build" > /dev/null; done
for role in root release online; do "$BIN/otactl" keygen --out "$WORK/$role" > /dev/null; done
create_root() { # OUT [model-signing options]
  local out=$1; shift
  "$BIN/otactl" trust create --root-key "$WORK/root.pub" --release-key "$WORK/release.pub" --online-key "$WORK/online.pub" \
    --sign "$WORK/root.key" --out "$out" "$@" > /dev/null
}
create_root "$WORK/plain.json"
create_root "$WORK/trust.json" --model-signer "team=$WORK/team.pub" --require-model-signature bench
"$BIN/otactl" bundle create "$WORK/model" --variants "$WORK/variants.txt" --name bench --version 1.0.0 --kind model \
  --compatible bench-hw --key "$WORK/release.key" -o "$WORK/bench.otab" > /dev/null

measure "$BIN/otactl" bundle verify "$WORK/bench.otab" --trust "$WORK/plain.json"; plain=$ELAPSED; plain_rss=$RSS_KB
measure "$BIN/otactl" bundle verify "$WORK/bench.otab" --trust "$WORK/trust.json"; signed=$ELAPSED; signed_rss=$RSS_KB
grep -q "model team's signature covers every file" "$OUT/cmd.out" || { echo "bench: the signature was not checked" >&2; exit 1; }
measure openssl dgst -sha256 "$WORK/model/fp32/model.bin" "$WORK/model/int8/model.bin"; dgst=$ELAPSED
measure "$TOOL" verify key --public_key "$WORK/team.pub" --signature "$WORK/model/fp32/model.sig" "$WORK/model/fp32"; tool=$ELAPSED; tool_rss=$RSS_KB

export OTA_TOKEN=$("$BIN/ota-server" token create --data "$WORK/data" --role admin --name bench 2>/dev/null)
start_server "$WORK/data" "$WORK/trust.json" --online-key "$WORK/online.key" --poll-interval 60
export OTA_SERVER=$SERVER_URL
"$BIN/otactl" publish "$WORK/bench.otab" > /dev/null
"$BIN/otactl" release add bench 1.0.0 --channel stable --key "$WORK/release.key" --trust "$WORK/trust.json" > /dev/null
write_agent_config "$WORK" bench-1
python3 - "$WORK/agent.json" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["inventory_command"] = ["/bin/echo", json.dumps({"architecture": "x86_64", "cpu_features": ["avx2"]})]
json.dump(config, open(sys.argv[1], "w"))
PY
"$BIN/ota-agent" once --config "$WORK/agent.json" > /dev/null 2>&1   # registers and reports its inventory
"$BIN/otactl" deployments create bench 1.0.0 --all > /dev/null
measure "$BIN/ota-agent" once --config "$WORK/agent.json"; agent=$ELAPSED; agent_rss=$RSS_KB
[ "$(readlink -f "$WORK/state/current/bench")" != "" ] && cmp -s "$(readlink -f "$WORK/state/current/bench")/model.bin" "$WORK/model/fp32/model.bin" ||
  { echo "bench: the agent did not install the fp32 build" >&2; exit 1; }

echo
echo "provenance benchmark: a ${SIZE_MIB} MiB model build and a 16 MiB one, each signed by its model team (P-384)"
echo "  otactl bundle verify, model signature required: ${signed} s, $(mib "$signed_rss") MiB peak"
echo "  otactl bundle verify, no signature required:    ${plain} s, $(mib "$plain_rss") MiB peak (the signature check: $(python3 -c "print(f'{max(0.0, $signed - $plain):.2f}')") s)"
echo "  openssl dgst -sha256 of the same files:         ${dgst} s (ratio verify/openssl $(ratio "$signed" "$dgst"))"
echo "  model_signing verify key of the big build:      ${tool} s, $(mib "$tool_rss") MiB peak (ratio verify/tool $(ratio "$signed" "$tool"))"
echo "  ota-agent once: picks the big build by its inventory, fetches it, checks the signature, installs: ${agent} s, $(mib "$agent_rss") MiB peak"
