#!/usr/bin/env bash
# The agent's walk of a long root chain: a device holding root version 1 checks in once
# against a server whose chain has gone on to version 1+N (each version rotates the root key,
# so every link needs the old and the new key). The reference, in the same run, is the next
# check-in of the same device, with nothing left to walk.
#
#   bench/trustchain.sh        (BENCH_ROOTS versions to walk, default 100)
set -euo pipefail
source "$(dirname "$0")/common.sh"
release_build ota-server ota-agent otactl
ROOTS=${BENCH_ROOTS:-100}
WORK=$(mktemp -d /tmp/ota-bench-chain.XXXXXX)
cleanup() { kill "${SERVER_PID:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

for role in root-1 release online; do "$BIN/otactl" keygen --out "$WORK/$role" > /dev/null; done
"$BIN/otactl" trust create --root-key "$WORK/root-1.pub" --release-key "$WORK/release.pub" --online-key "$WORK/online.pub" \
  --sign "$WORK/root-1.key" --out "$WORK/trust.json" > /dev/null
export OTA_TOKEN=$("$BIN/ota-server" token create --data "$WORK/data" --role admin --name bench 2>/dev/null)
start_server "$WORK/data" "$WORK/trust.json" --online-key "$WORK/online.key" --poll-interval 60
export OTA_SERVER=$SERVER_URL
"$BIN/otactl" release renew --key "$WORK/release.key" --trust "$WORK/trust.json" > /dev/null
write_agent_config "$WORK" bench-1
"$BIN/ota-agent" once --config "$WORK/agent.json" > /dev/null 2>&1   # registers, verifies root 1

echo "publishing root versions 2 to $((ROOTS + 1)), each with a new root key ..." >&2
previous=$WORK/trust.json
for version in $(seq 2 $((ROOTS + 1))); do
  "$BIN/otactl" keygen --out "$WORK/root-$version" > /dev/null
  "$BIN/otactl" trust next --from "$previous" --remove "root=$WORK/root-$((version - 1)).pub" --add "root=$WORK/root-$version.pub" \
    --sign "$WORK/root-$((version - 1)).key" --sign "$WORK/root-$version.key" --out "$WORK/root-v$version.json" > /dev/null
  "$BIN/otactl" trust publish "$WORK/root-v$version.json" > /dev/null
  previous=$WORK/root-v$version.json
done

measure "$BIN/ota-agent" once --config "$WORK/agent.json"; walk_s=$ELAPSED; walk_rss=$RSS_KB
walked=$(python3 -c "import json; print(json.load(open('$WORK/state/trust/state.json')).get('problem') or 'ok')")
measure "$BIN/ota-agent" once --config "$WORK/agent.json"; ref_s=$ELAPSED; ref_rss=$RSS_KB
version=$("$BIN/ota-agent" status --config "$WORK/agent.json" --json | python3 -c "import json, sys; print(json.load(sys.stdin)['trust']['report']['root_version'])")
[ "$version" = "$((ROOTS + 1))" ] || { echo "the agent is at root version $version, not $((ROOTS + 1)): $walked" >&2; exit 1; }
echo
echo "root chain walk: one check-in of a device at root version 1 against a chain to version $((ROOTS + 1)), release build"
echo "  check-in walking $ROOTS versions: ${walk_s}s, peak RSS $(mib "$walk_rss") MiB (trust: $walked)"
echo "  next check-in, nothing to walk:   ${ref_s}s, peak RSS $(mib "$ref_rss") MiB"
echo "  ratio walk / reference: $(ratio "$walk_s" "$ref_s"); per version: $(python3 -c "print(f'{($walk_s - $ref_s) * 1000 / $ROOTS:.2f}')") ms"
