#!/usr/bin/env bash
# How registry.sqlite here was made: by the ota-server and otactl of commit d8484e3 (the last
# registry schema before the async SQL layer, migrations 0001-0007), so that
# `OldRegistryTests` can check that today's server opens it with its data intact.
#   Tests/Fixtures/registry-0007/make.sh OLD_BIN_DIR NEW_BIN_DIR
# OLD_BIN_DIR holds that commit's ota-server and otactl; NEW_BIN_DIR an ota-fleet-sim (any
# version speaking the same device API). The release key is made, used and thrown away here;
# what stays is the legacy trust root (public keys), the admin token of this test registry,
# and the registry itself.
set -euo pipefail
old=$1 new=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
"$old/otactl" keygen --out "$work/release" > /dev/null
"$old/otactl" trust init --key "$work/release.pub" --out "$here/trust.json" > /dev/null
"$old/ota-server" token create --data "$work/data" --role admin --name fixture 2>/dev/null > "$here/admin-token.txt"
"$old/ota-server" serve --data "$work/data" --listen 127.0.0.1:0 --trust "$here/trust.json" > "$work/out" 2> "$work/log" & pid=$!
for _ in $(seq 100); do url=$(sed -n 's/^ota-server listening on //p' "$work/out"); [ -n "$url" ] && break; sleep 0.1; done
export OTA_SERVER=$url OTA_TOKEN=$(cat "$here/admin-token.txt")
mkdir -p "$work/model" && printf 'weights of version 1.0.0\n' > "$work/model/model.bin"
"$old/otactl" bundle create "$work/model" --name digits --version 1.0.0 --kind model --compatible fixture-hw \
  --key "$work/release.key" -o "$work/digits.otab" > /dev/null
"$old/otactl" publish "$work/digits.otab" > /dev/null
"$old/otactl" deployments create digits 1.0.0 --all > /dev/null
enrollment=$("$old/otactl" enroll-token create --name fixture-devices --max-uses 3 --auto-accept --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
"$new/ota-fleet-sim" --server "$url" --enrollment-token "$enrollment" --devices 3 --prefix cam --hardware fixture-hw \
  --until-quiet 5 --interval 0.2 > /dev/null
kill $pid; wait $pid 2>/dev/null || true
sqlite3 "$work/data/registry.sqlite" 'PRAGMA wal_checkpoint(TRUNCATE);' > /dev/null
cp "$work/data/registry.sqlite" "$here/registry.sqlite"
echo "made $here/registry.sqlite: $(sqlite3 "$here/registry.sqlite" 'SELECT count(*) FROM devices') devices"
