#!/usr/bin/env bash
# Bundle create and verify with a 1 GiB payload: verify time against `openssl dgst -sha256`
# of the same file (target ≤ 1.5), and peak RSS of create and verify (target ≤ 64 MiB each).
source "$(dirname "$0")/common.sh"
release_build otactl
SIZE_MIB=${BENCH_SIZE_MIB:-1024}
work=$OUT/bundle
rm -rf "$work" && mkdir -p "$work/payload"
echo "writing a ${SIZE_MIB} MiB payload ..." >&2
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$work/payload/model.bin"
echo "small file" > "$work/payload/labels.txt"
"$BIN/otactl" keygen --out "$work/key" > /dev/null
"$BIN/otactl" trust init --key "$work/key.pub" --out "$work/trust.json" > /dev/null

measure "$BIN/otactl" bundle create "$work/payload" --name bench --version 1.0.0 --kind model --compatible x \
  --key "$work/key.key" -o "$work/bench.otab"
create_s=$ELAPSED; create_rss=$RSS_KB

openssl dgst -sha256 "$work/bench.otab" > /dev/null   # warm the page cache for both
best_of 3 openssl dgst -sha256 "$work/payload/model.bin"; openssl_s=$BEST
best_of 3 "$BIN/otactl" bundle verify "$work/bench.otab" --trust "$work/trust.json"; verify_s=$BEST
measure "$BIN/otactl" bundle verify "$work/bench.otab" --trust "$work/trust.json"
verify_rss=$RSS_KB

echo
echo "bundle benchmark (${SIZE_MIB} MiB payload, release build, warm page cache)"
echo "  create:  ${create_s}s, peak RSS $(mib "$create_rss") MiB (target ≤ 64)"
echo "  verify:  ${verify_s}s, peak RSS $(mib "$verify_rss") MiB (target ≤ 64)"
echo "  openssl dgst -sha256: ${openssl_s}s"
echo "  verify / openssl ratio: $(ratio "$verify_s" "$openssl_s") (target ≤ 1.5)"
rm -rf "$work"
