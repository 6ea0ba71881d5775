#!/usr/bin/env bash
# The agent's peak memory for the largest check-in answers it takes, release build:
#   honest:  release metadata of a long-lived fleet (BENCH_CHANNELS channels × BENCH_RELEASES
#            releases over 100 bundles, 20 × 1000 by default) and an assignment whose envelope
#            lists BENCH_FILES files (20,000), in one signed answer;
#   hostile: an answer padded to just under the agent's 16 MiB cap with a metadata field
#            larger than its role may be (refused by name);
#   idle:    the same agent checking in with nothing new, as the reference.
# Prints each peak RSS; the target is under 48 MiB for every answer the agent accepts.
set -euo pipefail
source "$(dirname "$0")/common.sh"
release_build ota-server ota-agent otactl
CHANNELS=${BENCH_CHANNELS:-20} RELEASES=${BENCH_RELEASES:-1000} FILES=${BENCH_FILES:-20000}
WORK=$(mktemp -d /tmp/ota-bench-answer.XXXXXX)
cleanup() { kill "${SERVER_PID:-}" "${PROXY_PID:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
PY=$ROOT/.venv/bin/python; [ -x "$PY" ] || PY=python3

for role in root release online; do "$BIN/otactl" keygen --out "$WORK/$role" > /dev/null; done
"$BIN/otactl" trust create --root-key "$WORK/root.pub" --release-key "$WORK/release.pub" --online-key "$WORK/online.pub" \
  --sign "$WORK/root.key" --out "$WORK/trust.json" > /dev/null
export OTA_TOKEN=$("$BIN/ota-server" token create --data "$WORK/data" --role admin --name bench 2>/dev/null)
start_server "$WORK/data" "$WORK/trust.json" --online-key "$WORK/online.key" --poll-interval 60
export OTA_SERVER=$SERVER_URL OTA_TRUST=$WORK/trust.json
"$BIN/otactl" release renew --key "$WORK/release.key" > /dev/null
write_agent_config "$WORK" bench-1
measure "$BIN/ota-agent" once --config "$WORK/agent.json"; first_rss=$RSS_KB   # registers, small answer

echo "release metadata: $CHANNELS channels x $RELEASES releases; an assignment of $FILES files ..." >&2
"$BIN/otactl" release renew --key "$WORK/release.key" --out "$WORK/template.json" > /dev/null
mkdir -p "$WORK/payload"
for i in $(seq -w 1 "$FILES"); do printf 'x' > "$WORK/payload/f$i"; done
# A kind this device has no handler for: the answer is read and the envelope verified, then refused.
"$BIN/otactl" bundle create "$WORK/payload" --name huge --version 1.0.0 --kind firmware --compatible bench-hw \
  --key "$WORK/release.key" -o "$WORK/huge.otab" > /dev/null
"$BIN/otactl" publish "$WORK/huge.otab" > /dev/null
"$BIN/otactl" release add huge 1.0.0 --key "$WORK/release.key" --out "$WORK/template.json" > /dev/null
"$PY" bench/release_many.py "$WORK/template.json" "$WORK/release.key" "$CHANNELS" "$RELEASES" 100 "$WORK/many.json" >&2
"$BIN/otactl" release publish "$WORK/many.json" > /dev/null
"$BIN/otactl" deployments create huge 1.0.0 --all > /dev/null
envelope=$(stat -c %s "$WORK/many.json")
MEASURE_ANY_EXIT=1 measure "$BIN/ota-agent" once --config "$WORK/agent.json"; honest_rss=$RSS_KB
grep -q "no install handler for kind 'firmware'" "$OUT/time.log" || { echo "the agent did not get to the assignment:" >&2; tail -5 "$OUT/time.log" >&2; exit 1; }
MEASURE_ANY_EXIT=1 measure "$BIN/ota-agent" once --config "$WORK/agent.json"; idle_rss=$RSS_KB

# Hostile: just under the 16 MiB cap, with a targets field too large for its role.
python3 Tests/Fixtures/hostile_proxy.py "$SERVER_URL" checkin-pad-metadata --pad 12000000 --field targets > "$WORK/proxy.out" &
PROXY_PID=$!
for _ in $(seq 50); do [ -s "$WORK/proxy.out" ] && break; sleep 0.1; done
sed -i "s|\"server_url\": \"$SERVER_URL\"|\"server_url\": \"http://127.0.0.1:$(head -1 "$WORK/proxy.out")\"|" "$WORK/agent.json"
MEASURE_ANY_EXIT=1 measure "$BIN/ota-agent" once --config "$WORK/agent.json"; hostile_rss=$RSS_KB
grep -q "metadata.targets is larger than" "$OUT/time.log" || { echo "the padded answer was not refused by name:" >&2; tail -5 "$OUT/time.log" >&2; exit 1; }

echo
echo "agent peak RSS per check-in answer, release build (target: under 48 MiB for any answer it takes)"
echo "  first check-in (registration, small answer):                 $(mib "$first_rss") MiB"
echo "  release metadata of $((CHANNELS * RELEASES)) releases ($envelope bytes) + a $FILES-file assignment: $(mib "$honest_rss") MiB"
echo "  hostile answer near the 16 MiB cap (oversized targets, refused): $(mib "$hostile_rss") MiB"
echo "  reference, nothing new:                                      $(mib "$idle_rss") MiB"
