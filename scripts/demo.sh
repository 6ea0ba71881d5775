#!/usr/bin/env bash
# The whole OTA story on one machine, with real ONNX models, in well under two minutes:
#
#   keys and a trust root -> ota-server on embedded SQLite -> bundle digits 1.0.0, published
#   -> three devices: an ota-agent and a small inference app each (separate state folders)
#   -> deploy 1.0.0 -> a good 2.0.0 (only model.onnx travels; labels.txt is hard-linked)
#   -> a broken 3.0.0 (loads fine, answers wrong): the health check runs the live model on
#      golden.json, fails below min_accuracy, and every device rolls back to 2.0.0.
#   -> with live noisy traffic on every app, 4.0.0 (as accurate, several times slower) and
#      5.0.0 (passes the golden check, disagrees on noisy inputs) are deployed with a shadow
#      phase: each device runs the candidate beside 2.0.0 on the inputs it sees, and the
#      latency gate stops 4.0.0, the agreement gate 5.0.0, before either serves an answer.
#   -> the release key is rotated; 6.0.0 is signed with the new one.
#   -> 7.0.0 is one bundle with two builds of the model, fp32 and int8 (quantized here with
#      onnxruntime): the devices whose inventory reports NEON take int8, the AVX2 one fp32,
#      each proven in shadow, and the rollout shows each build's figures.
#   -> the root requires the model team's own signature (OpenSSF model-signing) for digits:
#      8.0.0, whose models were swapped after the team signed them, is refused on every
#      device before it is staged.
#
# Run it with `make demo` (installs what it needs and builds first), or after a build:
#   scripts/demo.sh
# Everything it makes lives in demo-data/ (git-ignored, recreated on each run). It stops
# every process it started when it ends, fails or is interrupted, and exits non-zero when a
# stage does not reach its expected state in time.
#
# Environment: OTA_BIN (folder of the three binaries; default .build/debug),
# DEMO_DEVICES (default 3), DEMO_STAGE_TIMEOUT (seconds per stage; default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${OTA_BIN:-$ROOT/.build/debug}
PY=$ROOT/.venv/bin/python
DEMO=$ROOT/demo-data
MODELS=$ROOT/demo/models
APP=$ROOT/demo/app
DEVICES=${DEMO_DEVICES:-3}
STAGE_TIMEOUT=${DEMO_STAGE_TIMEOUT:-60}
BUNDLE=digits
HARDWARE="linux-$(uname -m)"
COMPATIBLE="linux-x86_64,linux-aarch64"
# Everything talks to 127.0.0.1: keep any http_proxy of the environment out of it.
export no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}" NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
START_NS=$(date +%s%N)

if [ -t 1 ]; then BOLD=$'\e[1m'; DIM=$'\e[2m'; RED=$'\e[31m'; GREEN=$'\e[32m'; RESET=$'\e[0m'; else BOLD=""; DIM=""; RED=""; GREEN=""; RESET=""; fi

elapsed() { local ns=$(( $(date +%s%N) - START_NS )); printf '%d.%01ds' $((ns / 1000000000)) $(( (ns / 100000000) % 10 )); }
stage() { printf '\n%s==> [%s] %s%s\n' "$BOLD" "$(elapsed)" "$*" "$RESET"; }
step() { printf '%s--- %s%s\n' "$DIM" "$*" "$RESET"; }
ok() { printf '%s✔ %s%s\n' "$GREEN" "$*" "$RESET"; }
# Prints a command, then runs it (the commands a user would type).
show() { printf '%s$ %s%s\n' "$DIM" "$(printf '%q ' "$@" | sed "s|$BIN/||g; s|$ROOT/||g; s|\\\\,|,|g; s| \$||")" "$RESET"; "$@"; }
fail() {
  printf '\n%sdemo FAILED: %s%s\n' "$RED$BOLD" "$*" "$RESET" >&2
  for log in "$DEMO"/server/server.log "$DEMO"/devices/*/agent.log "$DEMO"/devices/*/app.log; do
    [ -f "$log" ] || continue
    printf '%s--- last lines of %s%s\n' "$DIM" "${log#"$ROOT"/}" "$RESET" >&2
    tail -n 8 "$log" >&2
  done
  exit 1
}

# --- Prerequisites ------------------------------------------------------------------------
for program in otactl ota-server ota-agent; do
  [ -x "$BIN/$program" ] || { echo "demo: $BIN/$program is missing: run 'make demo' (or 'swift build' first)" >&2; exit 1; }
done
[ -x "$ROOT/.venv-model-signing/bin/model_signing" ] ||
  { echo "demo: the model-signing tool is missing: run 'scripts/install-deps.sh demo' (or 'make demo')" >&2; exit 1; }
[ -x "$PY" ] && "$PY" -c "import onnxruntime, numpy, onnx" 2>/dev/null ||
  { echo "demo: $PY with onnxruntime, numpy and onnx is missing: run 'scripts/install-deps.sh demo' (or 'make demo')" >&2; exit 1; }
command -v curl >/dev/null || { echo "demo: curl is missing: run 'scripts/install-deps.sh demo'" >&2; exit 1; }
for file in digits-v1/model.onnx digits-v2/model.onnx digits-v3-regressed/model.onnx digits-v4-slow/model.onnx \
  digits-v5-brittle/model.onnx golden.json; do
  [ -f "$MODELS/$file" ] || { echo "demo: $MODELS/$file is missing" >&2; exit 1; }
done

# --- Stop everything we start, whatever happens ---------------------------------------------
AGENT_PIDS=()
APP_PIDS=()
TRAFFIC_PID=""
SERVER_PID=""
stop_pids() {  # SIGTERM, up to 10 s to finish (an agent completes its current step), then SIGKILL
  local pid deadline=$((SECONDS + 10))
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then echo "demo: process $pid did not stop in time; killing it" >&2; kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
  done
}
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e
  if [ ${#AGENT_PIDS[@]} -gt 0 ] || [ ${#APP_PIDS[@]} -gt 0 ] || [ -n "$SERVER_PID" ]; then
    printf '\n%s--- stopping the agents, the apps and the server%s\n' "$DIM" "$RESET"
    [ -n "$TRAFFIC_PID" ] && stop_pids "$TRAFFIC_PID"
    [ ${#AGENT_PIDS[@]} -gt 0 ] && stop_pids "${AGENT_PIDS[@]}"
    [ ${#APP_PIDS[@]} -gt 0 ] && stop_pids "${APP_PIDS[@]}"
    [ -n "$SERVER_PID" ] && stop_pids "$SERVER_PID"
  fi
  [ $status -ne 0 ] && printf '%sdemo stopped (exit %d) after %s; its files are in %s%s\n' "$RED" "$status" "$(elapsed)" "${DEMO#"$ROOT"/}/" "$RESET" >&2
  exit $status
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted" >&2; exit 130' INT
trap 'echo "demo: terminated" >&2; exit 143' TERM

# --- Fleet queries and waiting --------------------------------------------------------------
otactl() { "$BIN/otactl" "$@"; }

# check_stage DEPLOYMENT VERSION WANT: one look at the deployment and the fleet. Prints one
# progress line; exits 0 when every device reached WANT (succeeded | rolled_back) and runs
# VERSION committed, 2 when a device reached another final state, 1 otherwise.
check_stage() {
  local deployment=$1 version=$2 want=$3 dep devices
  dep=$(otactl deployments show "$deployment" --json 2>&1) || { echo "deployments show: $dep"; return 1; }
  devices=$(otactl devices list --all --json 2>&1) || { echo "devices list: $devices"; return 1; }
  DEP="$dep" DEVS="$devices" "$PY" - "$version" "$want" "$DEVICES" "$BUNDLE" <<'EOF'
import json, os, sys
version, want, expected, bundle = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
dep, devices = json.loads(os.environ["DEP"]), json.loads(os.environ["DEVS"])["devices"]
counts = dep["counts"]
progress = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items() if n)
fleet = []
settled = 0
for device in sorted(devices, key=lambda d: d["id"]):
    running = [b for b in device["installed"] if b["name"] == bundle]
    text = f"{running[0]['version']} {running[0]['state']}" if running else "nothing"
    fleet.append(f"{device['id']}={text}/{device['state']}")
    if running and running[0]["version"] == version and running[0]["state"] == "committed" \
            and device["state"] == want.replace("_", "-"):
        settled += 1
print(f"deployment {dep['status']}: {progress or 'no device yet'} | {' '.join(fleet)}")
wrong = {k: n for k, n in counts.items() if n and k in ("succeeded", "failed", "rolled_back") and k != want}
if wrong:
    reasons = "; ".join(f"{r['count']}x {r['reason']}" for r in dep.get("failure_reasons", []))
    print(f"unexpected outcome {wrong}: {reasons or 'no reason reported'}")
    sys.exit(2)
sys.exit(0 if counts.get(want, 0) == expected and settled == expected and len(devices) == expected else 1)
EOF
}

# wait_for WHAT COMMAND...: runs COMMAND until it succeeds (prints its line when it changes),
# fails the demo at once when it exits 2, or after STAGE_TIMEOUT seconds.
wait_for() {
  local what=$1 deadline=$((SECONDS + STAGE_TIMEOUT)) line last="" status
  shift
  while :; do
    status=0
    line=$("$@") || status=$?
    [ "$line" != "$last" ] && printf '    %s[%s]%s %s\n' "$DIM" "$(elapsed)" "$RESET" "$line" && last=$line
    [ $status -eq 0 ] && return 0
    [ $status -eq 2 ] && fail "while waiting for $what: ${line##*$'\n'}"
    [ $SECONDS -ge $deadline ] && fail "timed out after ${STAGE_TIMEOUT}s waiting for $what (last: ${line##*$'\n'})"
    sleep 0.5
  done
}

registered() {
  local devices count
  devices=$(otactl devices list --all --json 2>&1) || { echo "devices list: $devices"; return 1; }
  count=$(DEVS="$devices" "$PY" -c 'import json, os; print(len(json.loads(os.environ["DEVS"])["devices"]))')
  echo "$count of $DEVICES devices registered"
  [ "$count" -eq "$DEVICES" ]
}

# Asks each app for predictions on a few golden inputs, so you see what the fleet serves.
ask_apps() {
  local id port
  for id in "${DEVICE_IDS[@]}"; do
    port=$(cat "$DEMO/devices/$id/app.port")
    "$PY" - "$id" "http://127.0.0.1:$port" "$MODELS/golden.json" <<'EOF'
import json, sys, urllib.request
device, url, golden_path = sys.argv[1:]
golden = json.load(open(golden_path))
inputs, labels = golden["inputs"][:12], golden["labels"][:12]
request = urllib.request.Request(url + "/predict", data=json.dumps({"inputs": inputs}).encode(),
                                 headers={"Content-Type": "application/json"})
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # local: no proxy
answer = json.load(opener.open(request, timeout=10))
right = sum(a == b for a, b in zip(answer["labels"], labels))
print(f"    {device} app serves {answer['version']} ({answer['slot']}): predicts {''.join(map(str, answer['labels']))}"
      f" for digits {''.join(map(str, labels))} ({right}/{len(labels)} right)")
EOF
  done
}

# Prints the detail of each device's latest event in STATE for VERSION.
event_details() {
  local state=$1 version=$2 id detail
  for id in "${DEVICE_IDS[@]}"; do
    detail=$(otactl devices show "$id" --json | "$PY" -c '
import json, sys
state, version = sys.argv[1], sys.argv[2]
events = [e for e in json.load(sys.stdin)["events"] if e["state"] == state and e["version"] == version]
print(events[0]["detail"] if events else "(no such event)")' "$state" "$version")
    printf '    %s %s %s: %s\n' "$id" "$version" "$state" "$detail"
    echo "$id $detail" >>"$DEMO/.details"
  done
}

fleet_table() { step "the fleet"; show "$BIN/otactl" devices list; }

# --- 1. Keys, trust root, server --------------------------------------------------------------
stage "1. Keys, a trust root, and ota-server on embedded SQLite"
rm -rf "$DEMO"
mkdir -p "$DEMO/keys" "$DEMO/server" "$DEMO/bundles" "$DEMO/devices"
step "root and release keys stay offline; only the online key goes to the server"
for role in root release online; do show "$BIN/otactl" keygen --out "$DEMO/keys/$role"; done
show "$BIN/otactl" trust create --root-key "$DEMO/keys/root.pub" --release-key "$DEMO/keys/release.pub" \
  --online-key "$DEMO/keys/online.pub" --sign "$DEMO/keys/root.key" --out "$DEMO/keys/trust.json"
RELEASE_KEY="$DEMO/keys/release.key"
step "ota-server token create --data ${DEMO#"$ROOT"/}/server/data --role admin --name demo"
OTA_TOKEN=$("$BIN/ota-server" token create --data "$DEMO/server/data" --role admin --name demo 2>/dev/null)
(umask 077 && echo "$OTA_TOKEN" >"$DEMO/server/admin.token")
step "ota-server serve --data ${DEMO#"$ROOT"/}/server/data --listen 127.0.0.1:0 --trust ${DEMO#"$ROOT"/}/keys/trust.json --online-key ${DEMO#"$ROOT"/}/keys/online.key --poll-interval 2"
"$BIN/ota-server" serve --data "$DEMO/server/data" --listen 127.0.0.1:0 --trust "$DEMO/keys/trust.json" \
  --online-key "$DEMO/keys/online.key" --poll-interval 2 >"$DEMO/server/server.log" 2>&1 &
SERVER_PID=$!
deadline=$((SECONDS + 30))
OTA_SERVER=""
while [ -z "$OTA_SERVER" ]; do
  kill -0 "$SERVER_PID" 2>/dev/null || fail "ota-server exited at start"
  [ $SECONDS -lt $deadline ] || fail "ota-server did not report its address within 30s"
  OTA_SERVER=$(sed -n 's/^ota-server listening on \(http[^ ]*\).*/\1/p' "$DEMO/server/server.log" | head -n 1)
  [ -n "$OTA_SERVER" ] || sleep 0.1
done
OTA_TRUST=$DEMO/keys/trust.json   # otactl checks what the server sends from this root
export OTA_SERVER OTA_TOKEN OTA_TRUST
ok "ota-server listens on $OTA_SERVER (pid $SERVER_PID; database ${DEMO#"$ROOT"/}/server/data/registry.sqlite)"

# --- 2. Bundle v1 ------------------------------------------------------------------------------
stage "2. Build, sign, verify and publish the bundle $BUNDLE 1.0.0 (real ONNX model: logistic regression)"
make_bundle() {  # VERSION FOLDER DESCRIPTION: build, sign, publish, then release it on the stable channel
  show "$BIN/otactl" bundle create "$MODELS/$2" --name "$BUNDLE" --version "$1" --kind model --compatible "$COMPATIBLE" \
    --key "$RELEASE_KEY" --metadata framework=onnx --metadata "model=$3" -o "$DEMO/bundles/$BUNDLE-$1.otab"
  show "$BIN/otactl" publish "$DEMO/bundles/$BUNDLE-$1.otab"
  show "$BIN/otactl" release add "$BUNDLE" "$1" --channel stable --key "$RELEASE_KEY"
}
make_bundle 1.0.0 digits-v1 logistic-regression
show "$BIN/otactl" bundle verify "$DEMO/bundles/$BUNDLE-1.0.0.otab" --trust "$DEMO/keys/trust.json"

# --- 3. Three devices --------------------------------------------------------------------------
stage "3. Start $DEVICES devices: an inference app and an ota-agent each, with separate state folders"
step "otactl enroll-token create --max-uses $DEVICES --name demo-fleet --tag demo --auto-accept"
ENROLL=$(otactl enroll-token create --max-uses "$DEVICES" --name demo-fleet --tag demo --auto-accept 2>/dev/null)
DEVICE_IDS=()
for n in $(seq 1 "$DEVICES"); do
  id=$(printf 'edge-%02d' "$n")
  DEVICE_IDS+=("$id")
  dir=$DEMO/devices/$id
  mkdir -p "$dir"
  "$PY" "$APP/serve.py" --state "$dir/state" --name "$BUNDLE" --port 0 --port-file "$dir/app.port" >"$dir/app.log" 2>&1 &
  APP_PIDS+=($!)
done
for id in "${DEVICE_IDS[@]}"; do
  dir=$DEMO/devices/$id
  deadline=$((SECONDS + 30))
  until [ -s "$dir/app.port" ]; do
    [ $SECONDS -lt $deadline ] || fail "the app of $id did not start within 30s (see ${dir#"$ROOT"/}/app.log)"
    sleep 0.1
  done
  app_url="http://127.0.0.1:$(cat "$dir/app.port")"
  # The agent's config: reload = ask the app to load the new slot (it answers once it serves
  # it, or fails, and the agent rolls back); health = the live model on golden.json.
  last=0; [ "$id" != "${DEVICE_IDS[-1]}" ] || last=1
  DIR="$dir" ID="$id" LAST="$last" APP_URL="$app_url" ENROLL="$ENROLL" HW="$HARDWARE" PYBIN="$PY" APPDIR="$APP" GOLDEN="$MODELS/golden.json" \
    TRUST="$DEMO/keys/trust.json" "$PY" - <<'EOF'
import json, os
e = os.environ
config = {
    "server_url": e["OTA_SERVER"], "device_id": e["ID"], "hardware": e["HW"], "enrollment_token": e["ENROLL"],
    "trust_root": e["TRUST"], "state_dir": e["DIR"] + "/state", "allow_insecure_http": True, "poll_interval_s": 2,
    "reload_command": ["curl", "--silent", "--fail-with-body", "--noproxy", "*", "--max-time", "60", "-X", "POST",
                       e["APP_URL"] + "/reload"],
    "health_command": [e["PYBIN"], e["APPDIR"] + "/health_check.py", "--app", e["APP_URL"], "--golden", e["GOLDEN"]],
    "health_timeout_s": 30, "attributes": {"site": "demo-lab"},
    # Shadow evaluation: the app runs a candidate beside the live model on live inputs.
    "shadow_command": [e["PYBIN"], e["APPDIR"] + "/hooks.py", "shadow", "--app", e["APP_URL"]],
    "metrics_command": [e["PYBIN"], e["APPDIR"] + "/hooks.py", "metrics", "--app", e["APP_URL"]], "metrics_interval_s": 10,
    # What the device says it is: the last device plays an x86 gateway with AVX2, the others
    # ARM boards with NEON (what the command prints overrides the agent's own reading).
    "inventory_command": ["/bin/echo", json.dumps(
        {"architecture": "x86_64", "cpu_features": ["avx2", "fma", "sse4_2"]} if e["LAST"] == "1" else
        {"architecture": "aarch64", "cpu_features": ["asimd", "asimddp", "neon"]})],
}
with open(e["DIR"] + "/agent.json", "w") as handle:
    json.dump(config, handle, indent=2)
EOF
  "$BIN/ota-agent" run --config "$dir/agent.json" >"$dir/agent.log" 2>&1 &
  AGENT_PIDS+=($!)
  printf '    %s: app on %s (pid %s), ota-agent run --config %s (pid %s)\n' "$id" "$app_url" "${APP_PIDS[${#AGENT_PIDS[@]}-1]}" \
    "${dir#"$ROOT"/}/agent.json" "${AGENT_PIDS[${#AGENT_PIDS[@]}-1]}"
done
wait_for "the devices to register" registered
fleet_table

# --- 4. Deploy v1 ------------------------------------------------------------------------------
deploy() {  # VERSION -> sets DEPLOYMENT
  step "otactl deployments create $BUNDLE $1 --all"
  DEPLOYMENT=$(otactl deployments create "$BUNDLE" "$1" --all --json | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["id"])')
  echo "    deployment $DEPLOYMENT"
}
stage "4. Deploy $BUNDLE 1.0.0 to every device"
deploy 1.0.0
t0=$SECONDS
wait_for "1.0.0 to be committed on every device" check_stage "$DEPLOYMENT" 1.0.0 succeeded
ok "1.0.0 runs on $DEVICES/$DEVICES devices (health-checked on golden.json) in $((SECONDS - t0))s"
fleet_table
step "the apps answer with 1.0.0"
ask_apps

# --- 5. A good v2 ------------------------------------------------------------------------------
stage "5. A good update: $BUNDLE 2.0.0 (MLP; model.onnx changes, labels.txt does not)"
make_bundle 2.0.0 digits-v2 mlp
deploy 2.0.0
t0=$SECONDS
wait_for "2.0.0 to be committed on every device" check_stage "$DEPLOYMENT" 2.0.0 succeeded
ok "2.0.0 runs on $DEVICES/$DEVICES devices in $((SECONDS - t0))s"
fleet_table
step "what each device downloaded (the 'downloaded' event of otactl devices show ID)"
: >"$DEMO/.details"
event_details downloaded 2.0.0
model_size=$(stat -c %s "$MODELS/digits-v2/model.onnx")
[ "$(grep -c "fetched $model_size of [0-9]* bytes; 1 of 2 files already on the device" "$DEMO/.details")" -eq "$DEVICES" ] ||
  fail "expected every device to fetch only model.onnx ($model_size bytes) for 2.0.0"
ok "each device fetched only model.onnx ($model_size bytes); labels.txt was already there"
first=${DEVICE_IDS[0]}
step "labels.txt in ${first}'s slots is one file, hard-linked (same inode)"
(cd "$DEMO/devices/$first/state/slots/$BUNDLE" && ls -li ./*/labels.txt | sed 's/^/    /')
[ "$(stat -c %i "$DEMO/devices/$first/state/slots/$BUNDLE"/*/labels.txt | sort -u | wc -l)" -eq 1 ] ||
  fail "labels.txt is not hard-linked between the slots of $first"
step "the apps reloaded and answer with 2.0.0"
ask_apps

# --- 6. A broken v3 ----------------------------------------------------------------------------
stage "6. A broken update: $BUNDLE 3.0.0 (trained on shuffled labels: loads and runs fine, answers wrong)"
make_bundle 3.0.0 digits-v3-regressed logistic-regression
deploy 3.0.0
t0=$SECONDS
wait_for "every device to roll 3.0.0 back to 2.0.0" check_stage "$DEPLOYMENT" 2.0.0 rolled_back
ok "3.0.0 failed its health check on $DEVICES/$DEVICES devices and was rolled back to 2.0.0 in $((SECONDS - t0))s"
fleet_table
step "why (the 'rolled-back' event of otactl devices show ID)"
: >"$DEMO/.details"
event_details rolled-back 3.0.0
[ "$(grep -c "is below min_accuracy" "$DEMO/.details")" -eq "$DEVICES" ] || fail "expected the accuracy reason on every device"
show "$BIN/otactl" deployments show "$DEPLOYMENT"
step "what the app of $first did (${DEMO#"$ROOT"/}/devices/$first/app.log)"
grep 'now serving' "$DEMO/devices/$first/app.log" | sed 's/^/    /'
step "the apps answer with 2.0.0 again"
ask_apps
step "the device's own view"
show "$BIN/ota-agent" status --config "$DEMO/devices/$first/agent.json"

# --- 7 and 8. Candidates proven in shadow on live traffic --------------------------------------
stage "7. Live traffic, and a slower candidate: $BUNDLE 4.0.0 (as accurate as 2.0.0, several times slower)"
app_args=()
for id in "${DEVICE_IDS[@]}"; do app_args+=(--app "http://127.0.0.1:$(cat "$DEMO/devices/$id/app.port")"); done
step "demo/app/traffic.py: each app gets noisy digits (sensor noise σ 0.15), 40 requests a second"
"$PY" "$APP/traffic.py" --golden "$MODELS/golden.json" "${app_args[@]}" --rate 40 >"$DEMO/traffic.log" 2>&1 &
TRAFFIC_PID=$!
shadow_deploy() {  # VERSION -> sets DEPLOYMENT
  step "otactl deployments create $BUNDLE $1 --all --shadow --shadow-samples 150 --shadow-timeout 60s --gate 'agreement>=0.9' --gate 'latency_p95<=1.5x'"
  DEPLOYMENT=$(otactl deployments create "$BUNDLE" "$1" --all --shadow --shadow-samples 150 --shadow-timeout 60s \
    --gate 'agreement>=0.9' --gate 'latency_p95<=1.5x' --json | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["id"])')
  echo "    deployment $DEPLOYMENT"
}
shadow_stage() {  # VERSION FOLDER DESCRIPTION GATE
  make_bundle "$1" "$2" "$3"
  shadow_deploy "$1"
  t0=$SECONDS
  wait_for "every device to stop $1 in shadow" check_stage "$DEPLOYMENT" 2.0.0 failed
  ok "$1 was stopped in shadow on $DEVICES/$DEVICES devices in $((SECONDS - t0))s, before it served a single answer"
  step "why (the 'failed' event of otactl devices show ID)"
  : >"$DEMO/.details"
  event_details failed "$1"
  [ "$(grep -c "stopped in shadow after .*$4" "$DEMO/.details")" -eq "$DEVICES" ] || fail "expected the $4 gate to stop $1 on every device"
  for id in "${DEVICE_IDS[@]}"; do
    ! grep -q "now serving $BUNDLE $1 " "$DEMO/devices/$id/app.log" || fail "the app of $id served $1"
  done
  ok "no app ever served $1 (their logs show no 'now serving $BUNDLE $1')"
  show "$BIN/otactl" deployments show "$DEPLOYMENT"
}
shadow_stage 4.0.0 digits-v4-slow mlp-768x3 latency_p95
stage "8. A brittle candidate: $BUNDLE 5.0.0 (passes the golden health check, but disagrees on noisy live inputs)"
shadow_stage 5.0.0 digits-v5-brittle mlp-brittle agreement
step "the apps still answer with 2.0.0"
ask_apps

# --- 9. Key rotation ---------------------------------------------------------------------------
stage "9. Rotate the release key: devices follow the root chain; the old key signs nothing any more"
show "$BIN/otactl" keygen --out "$DEMO/keys/release2"
show "$BIN/otactl" trust next --from "$DEMO/keys/trust.json" --remove "release=$DEMO/keys/release.pub" \
  --add "release=$DEMO/keys/release2.pub" --sign "$DEMO/keys/root.key" --out "$DEMO/keys/root-2.json"
show "$BIN/otactl" trust publish "$DEMO/keys/root-2.json"
step "the release metadata was signed by the old key: sign it again with the new one"
show "$BIN/otactl" release renew --key "$DEMO/keys/release2.key"
root_everywhere() {  # VERSION: every device reported this root version and fresh trust
  otactl devices list --json | "$PY" -c '
import json, sys
devices = json.load(sys.stdin)["devices"]
sys.exit(0 if devices and all((d.get("trust") or {}).get("root_version") == int(sys.argv[1]) and not d["trust_stale"] for d in devices) else 1)' "$1"
}
wait_for "every device to walk to root version 2" root_everywhere 2
ok "$DEVICES/$DEVICES devices verified root version 2 (signed by root version 1's root key and its own)"
step "a bundle signed with the old release key is refused now"
show "$BIN/otactl" bundle create "$MODELS/digits-v2" --name "$BUNDLE" --version 6.0.0 --kind model --compatible "$COMPATIBLE" \
  --key "$DEMO/keys/release.key" -o "$DEMO/bundles/$BUNDLE-6.0.0-old-key.otab"
if "$BIN/otactl" bundle verify "$DEMO/bundles/$BUNDLE-6.0.0-old-key.otab" --trust "$DEMO/keys/root-2.json" >/dev/null 2>"$DEMO/.refusal"; then
  fail "the old release key still verifies under root version 2"
fi
echo "    otactl bundle verify: $(cat "$DEMO/.refusal")"
if "$BIN/otactl" publish "$DEMO/bundles/$BUNDLE-6.0.0-old-key.otab" >/dev/null 2>"$DEMO/.refusal"; then
  fail "the server published a bundle signed by the revoked key"
fi
echo "    otactl publish: $(cat "$DEMO/.refusal")"
ok "refused by the server and by any device holding root version 2"
step "the same model signed with the new release key installs everywhere"
RELEASE_KEY="$DEMO/keys/release2.key"
make_bundle 6.0.0 digits-v2 mlp
deploy 6.0.0
t0=$SECONDS
wait_for "6.0.0 to be committed on every device" check_stage "$DEPLOYMENT" 6.0.0 succeeded
ok "6.0.0, signed and released with the new key, runs on $DEVICES/$DEVICES devices in $((SECONDS - t0))s"
show "$BIN/otactl" trust show
show "$BIN/ota-agent" status --config "$DEMO/devices/$first/agent.json"

# --- 10. One release, two builds --------------------------------------------------------------
stage "10. One bundle, two builds: $BUNDLE 7.0.0 as fp32 and int8; each device takes the build its inventory fits"
variants=$DEMO/variants/$BUNDLE-7.0.0
mkdir -p "$variants/fp32" "$variants/int8"
cp "$MODELS/digits-v2/model.onnx" "$MODELS/digits-v2/labels.txt" "$variants/fp32/"
cp "$MODELS/digits-v2/labels.txt" "$variants/int8/"
step "quantize the fp32 model to int8 weights with onnxruntime.quantization.quantize_dynamic"
"$PY" -c 'import sys; from onnxruntime.quantization import quantize_dynamic, QuantType
quantize_dynamic(sys.argv[1], sys.argv[2], weight_type=QuantType.QInt8)' "$variants/fp32/model.onnx" "$variants/int8/model.onnx" 2>/dev/null
echo "    fp32 model.onnx $(stat -c %s "$variants/fp32/model.onnx") bytes, int8 model.onnx $(stat -c %s "$variants/int8/model.onnx") bytes"
printf '%s\n' '# best first: the build, then what a device must report to get it' 'int8  cpu.features contains neon' 'fp32  cpu.features contains avx2' \
  >"$DEMO/variants/variants.txt"
show cat "$DEMO/variants/variants.txt"
show "$BIN/otactl" bundle create "$variants" --variants "$DEMO/variants/variants.txt" --name "$BUNDLE" --version 7.0.0 --kind model \
  --compatible "$COMPATIBLE" --key "$RELEASE_KEY" --metadata framework=onnx -o "$DEMO/bundles/$BUNDLE-7.0.0.otab"
show "$BIN/otactl" publish "$DEMO/bundles/$BUNDLE-7.0.0.otab"
show "$BIN/otactl" release add "$BUNDLE" 7.0.0 --channel stable --key "$RELEASE_KEY"
step "otactl deployments create $BUNDLE 7.0.0 --all --shadow --shadow-samples 150 --shadow-timeout 60s --gate 'agreement>=0.9'"
DEPLOYMENT=$(otactl deployments create "$BUNDLE" 7.0.0 --all --shadow --shadow-samples 150 --shadow-timeout 60s \
  --gate 'agreement>=0.9' --json | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["id"])')
echo "    deployment $DEPLOYMENT"
t0=$SECONDS
wait_for "7.0.0 to be proven in shadow and committed on every device" check_stage "$DEPLOYMENT" 7.0.0 succeeded
for id in "${DEVICE_IDS[@]}"; do
  want=int8; [ "$id" != "${DEVICE_IDS[-1]}" ] || want=fp32
  live=$(readlink -f "$DEMO/devices/$id/state/current/$BUNDLE")/model.onnx
  cmp -s "$live" "$variants/$want/model.onnx" || fail "$id does not run the $want build of 7.0.0"
  echo "    $id runs the $want build ($(stat -c %s "$live") bytes)"
done
ok "each device runs the build its inventory fits, proven in shadow, in $((SECONDS - t0))s"
show "$BIN/otactl" deployments show "$DEPLOYMENT"
show "$BIN/ota-agent" status --config "$DEMO/devices/$first/agent.json"

# --- 11. The model team's signature -----------------------------------------------------------
stage "11. The model team's own signature: the root requires it for $BUNDLE; 8.0.0's models were swapped after signing"
step "the model team's key (ECDSA P-384), and a root version 3 that names it and requires its signature for $BUNDLE"
openssl ecparam -name secp384r1 -genkey -noout -out "$DEMO/keys/model-team.pem" 2>/dev/null
openssl ec -in "$DEMO/keys/model-team.pem" -pubout -out "$DEMO/keys/model-team.pub" 2>/dev/null
show "$BIN/otactl" trust next --from "$DEMO/keys/root-2.json" --model-signer "vision-team=$DEMO/keys/model-team.pub" \
  --require-model-signature "$BUNDLE" --sign "$DEMO/keys/root.key" --out "$DEMO/keys/root-3.json"
show "$BIN/otactl" trust publish "$DEMO/keys/root-3.json"
wait_for "every device to walk to root version 3" root_everywhere 3
signed=$DEMO/variants/$BUNDLE-8.0.0
rm -rf "$signed" && cp -r "$variants" "$signed"
for build in int8 fp32; do
  show "$ROOT/.venv-model-signing/bin/model_signing" sign key --private_key "$DEMO/keys/model-team.pem" \
    --signature "$signed/$build/model.sig" "$signed/$build"
done
step "after signing, something in the pipeline swaps both builds' model.onnx for the regressed 3.0.0 model"
cp "$MODELS/digits-v3-regressed/model.onnx" "$signed/int8/model.onnx"
cp "$MODELS/digits-v3-regressed/model.onnx" "$signed/fp32/model.onnx"
if "$BIN/otactl" bundle create "$signed" --variants "$DEMO/variants/variants.txt" --name "$BUNDLE" --version 8.0.0 --kind model \
  --compatible "$COMPATIBLE" --key "$RELEASE_KEY" --trust "$DEMO/keys/root-3.json" -o "$DEMO/bundles/$BUNDLE-8.0.0.otab" >/dev/null 2>"$DEMO/.refusal"; then
  fail "otactl bundle create --trust accepted models the team did not sign"
fi
echo "    otactl bundle create --trust: $(cat "$DEMO/.refusal")"
step "the release key alone still signs it (a pipeline that holds it), and the server publishes it; the devices decide"
"$BIN/otactl" bundle create "$signed" --variants "$DEMO/variants/variants.txt" --name "$BUNDLE" --version 8.0.0 --kind model \
  --compatible "$COMPATIBLE" --key "$RELEASE_KEY" -o "$DEMO/bundles/$BUNDLE-8.0.0.otab" >/dev/null
show "$BIN/otactl" publish "$DEMO/bundles/$BUNDLE-8.0.0.otab"
show "$BIN/otactl" release add "$BUNDLE" 8.0.0 --channel stable --key "$RELEASE_KEY"
deploy 8.0.0
t0=$SECONDS
wait_for "every device to refuse 8.0.0" check_stage "$DEPLOYMENT" 7.0.0 failed
: >"$DEMO/.details"
event_details failed 8.0.0
[ "$(grep -c "refused by the model team's signature check: 'model.onnx' changed after the model team signed it" "$DEMO/.details")" -eq "$DEVICES" ] ||
  fail "expected every device to refuse 8.0.0 by the model team's signature"
ok "8.0.0 was refused on $DEVICES/$DEVICES devices in $((SECONDS - t0))s, before staging; 7.0.0 still serves"

# --- Done ------------------------------------------------------------------------------------
rm -f "$DEMO/.details"
stage "Done in $(elapsed): 1.0.0 -> 2.0.0 (one file fetched) -> 3.0.0 rolled back by the health check -> 4.0.0 and 5.0.0 stopped in shadow -> release key rotated, 6.0.0 -> 7.0.0 as int8 and fp32 builds -> 8.0.0 refused by the model team's signature"
d=${DEMO#"$ROOT"/}
cat <<EOF
Where to look (everything is in $d/; the next run starts afresh):
  server log          $d/server/server.log
  SQLite registry     $d/server/data/registry.sqlite   (e.g. sqlite3 $d/server/data/registry.sqlite 'SELECT device_id, version, state, detail FROM events')
  content store       $d/server/data/content/
  keys, trust root    $d/keys/   (root.key signs roots; release2.key now signs bundles and releases; online.key is the server's)
  bundles             $d/bundles/*.otab   (otactl bundle inspect / verify)
  agent logs          $d/devices/edge-0N/agent.log
  app logs            $d/devices/edge-0N/app.log   (shadow evaluations: 'evaluating ... in shadow')
  agent configs       $d/devices/edge-0N/agent.json
  device state        $d/devices/edge-0N/state/   (current/$BUNDLE -> slots/$BUNDLE/VERSION-DIGEST)
  device status       ${BIN#"$ROOT"/}/ota-agent status --config $d/devices/edge-01/agent.json
To query the fleet again, restart the server on the same data:
  ${BIN#"$ROOT"/}/ota-server serve --data $d/server/data --trust $d/keys/trust.json --online-key $d/keys/online.key --listen 127.0.0.1:8080 &
  OTA_SERVER=http://127.0.0.1:8080 OTA_TOKEN=\$(cat $d/server/admin.token) ${BIN#"$ROOT"/}/otactl devices show edge-01
EOF
