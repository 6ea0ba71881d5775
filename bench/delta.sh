#!/usr/bin/env bash
# Delta updates by content-defined chunks, on real model updates of about 60 MB built with the
# ONNX tooling (bench/delta/make_models.py): what a device fetches to go from the old to the new
# file, against the full file and against per-pair diffs of the same two files computed with
# `zstd --patch-from`, `xdelta3` and `bsdiff`; the time to build the bundle; and the time the
# device takes for the whole update (check-in, reuse of held chunks, fetching the rest over
# loopback, verification, staging) against downloading the full file at 100 Mbit/s.
# Targets: ≤ 1.5 × zstd on cases 1-3; ≤ 2 % above the full file on case 4 (the envelope with
# its chunk list included); the device's update no slower than the 100 Mbit/s download.
# Then the same updates cut with other average chunk sizes (bench/delta/chunk_sweep.swift): the
# measurement behind the standard 64 KiB.
# BENCH_DELTA_DIFFS=0 skips the per-pair diff tools (bsdiff alone takes about a minute a case).
source "$(dirname "$0")/common.sh"
release_build ota-server otactl ota-agent
work=$OUT/delta
rm -rf "$work" && mkdir -p "$work"
cleanup() { kill "${SERVER_PID:-}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "building the model updates with numpy and onnx ..." >&2
"$ROOT/.venv/bin/python" bench/delta/make_models.py "$work/models" > "$work/models.txt"
cases=$(ls "$work/models")

"$BIN/otactl" keygen --out "$work/key" > /dev/null
"$BIN/otactl" trust init --key "$work/key.pub" --out "$work/trust.json" > /dev/null
token=$("$BIN/ota-server" token create --data "$work/data" --role admin 2>/dev/null)
start_server "$work/data" "$work/trust.json"
export OTA_SERVER=$SERVER_URL OTA_TOKEN=$token
write_agent_config "$work" bench-delta

bundle() { # bundle CASE old|new VERSION -> the bundle path; sets BUILD_S
  local name=$1 which=$2 version=$3 start end
  mkdir -p "$work/payload/$name-$which"
  cp "$work/models/$name/$which/"* "$work/payload/$name-$which/"
  echo "0 1 2" > "$work/payload/$name-$which/labels.txt"
  start=$(date +%s.%N)
  "$BIN/otactl" bundle create "$work/payload/$name-$which" --name "delta-$name" --version "$version" --kind model \
    --compatible bench-hw --key "$work/key.key" -o "$work/$name-$which.otab" > /dev/null
  end=$(date +%s.%N)
  BUILD_S=$(python3 -c "print(f'{$end - $start:.2f}')")
}

# The device starts on every old version.
for name in $cases; do
  bundle "$name" old 1.0.0
  "$BIN/otactl" publish "$work/$name-old.otab" > /dev/null
  "$BIN/otactl" deployments create "delta-$name" 1.0.0 --all > /dev/null
done
"$BIN/ota-agent" once --config "$work/agent.json" --quiet

results=()
for name in $cases; do
  file=$(ls "$work/models/$name/new")
  old=$work/models/$name/old/$file new=$work/models/$name/new/$file
  full=$(stat -c %s "$new")
  bundle "$name" new 2.0.0; build_s=$BUILD_S
  envelope=$(tar -xOf "$work/$name-new.otab" bundle.dsse.json | wc -c)
  "$BIN/otactl" publish "$work/$name-new.otab" > /dev/null
  "$BIN/otactl" deployments create "delta-$name" 2.0.0 --all > /dev/null
  measure "$BIN/ota-agent" once --config "$work/agent.json"
  update_s=$ELAPSED
  fetched=$("$BIN/ota-agent" status --config "$work/agent.json" --json | python3 -c "
import json, sys
bundle = next(b for b in json.load(sys.stdin)['bundles'] if b['name'] == 'delta-$name')
assert bundle['version'] == '2.0.0', bundle
print(bundle['transfer']['fetched_bytes'])")
  labels=6  # labels.txt is unchanged; the fetched bytes are the model's
  zstd_b=- xdelta_b=- bsdiff_b=- zstd_s=- xdelta_s=- bsdiff_s=-
  if [ "${BENCH_DELTA_DIFFS:-1}" != 0 ]; then
    window=$(python3 -c "import math; print(max(10, math.ceil(math.log2($full)) + 1))")
    start=$(date +%s.%N); zstd -q -f -19 --long="$window" --patch-from="$old" "$new" -o "$work/patch.zst" 2>/dev/null; end=$(date +%s.%N)
    zstd_b=$(stat -c %s "$work/patch.zst"); zstd_s=$(python3 -c "print(f'{$end - $start:.1f}')")
    start=$(date +%s.%N); xdelta3 -e -9 -f -s "$old" "$new" "$work/patch.xd3"; end=$(date +%s.%N)
    xdelta_b=$(stat -c %s "$work/patch.xd3"); xdelta_s=$(python3 -c "print(f'{$end - $start:.1f}')")
    start=$(date +%s.%N); bsdiff "$old" "$new" "$work/patch.bsdiff"; end=$(date +%s.%N)
    bsdiff_b=$(stat -c %s "$work/patch.bsdiff"); bsdiff_s=$(python3 -c "print(f'{$end - $start:.1f}')")
  fi
  results+=("$name $full $fetched $envelope $zstd_b $xdelta_b $bsdiff_b $build_s $update_s $zstd_s $xdelta_s $bsdiff_s")
done

echo
echo "delta benchmark: real ONNX/safetensors model updates, chunks 16/64/256 KiB, loopback, release build"
python3 - "${results[@]}" <<'PY'
import sys
rows = [r.split() for r in sys.argv[1:]]
def mb(n): return f"{int(n) / 1e6:.2f} MB"
print(f"  {'case':<15} {'full file':>10} {'fetched':>10} {'+envelope':>10} {'zstd':>10} {'xdelta3':>10} {'bsdiff':>10} {'vs zstd':>8} {'vs full':>8}")
for name, full, fetched, envelope, z, x, b, *_ in rows:
    total = int(fetched) + int(envelope)
    vs_zstd = f"{total / int(z):.2f}x" if z != '-' else '-'
    vs_full = f"{(total / int(full) - 1) * 100:+.1f}%"
    print(f"  {name:<15} {mb(full):>10} {mb(fetched):>10} {mb(total):>10} {mb(z) if z != '-' else '-':>10} {mb(x) if x != '-' else '-':>10} {mb(b) if b != '-' else '-':>10} {vs_zstd:>8} {vs_full:>8}")
print()
print(f"  {'case':<15} {'bundle create':>14} {'device update':>14} {'100 Mbit/s full':>16} {'zstd diff':>10} {'xdelta3 diff':>13} {'bsdiff diff':>12}")
for name, full, fetched, envelope, z, x, b, build, update, zs, xs, bs in rows:
    download = int(full) * 8 / 100e6
    print(f"  {name:<15} {build + ' s':>14} {update + ' s':>14} {f'{download:.2f} s':>16} {zs + ' s':>10} {xs + ' s':>13} {bs + ' s':>12}")
print()
print("  targets: fetched+envelope <= 1.5 x zstd on cases 1-3; <= +2 % of the full file on case 4;")
print("  device update no slower than the full download at 100 Mbit/s")
PY

echo
echo "the same updates cut with other average chunk sizes (min = average / 4, max = 4 x average):"
swiftc -O -wmo -parse-as-library -swift-version 6 -module-name ChunkSweep -I Sources/COpenSSL \
  $(find Sources/OTACore -name '*.swift' | sort) bench/delta/chunk_sweep.swift -lcrypto -o "$work/chunk-sweep" 2> /dev/null
pairs=()
for name in $cases; do
  file=$(ls "$work/models/$name/new")
  pairs+=("$work/models/$name/old/$file" "$work/models/$name/new/$file")
done
"$work/chunk-sweep" "${pairs[@]}"
