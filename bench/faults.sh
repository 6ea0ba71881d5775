#!/usr/bin/env bash
# The whole fault campaign on release binaries (about 50 minutes): kill -9 of the agent
# during 200 updates, disk full, the server killed 20 times under mixed load, 50 updates
# through a flaky network, and a 30-minute soak of 10,000 devices. Figures go to stdout and
# bench/out/faults-*.txt. FAULT_SEED changes the random moments. Loopback only.
source "$(dirname "$0")/common.sh"
release_build ota-server ota-agent otactl ota-fleet-sim
export OTA_BIN=$BIN
cd "$ROOT/bench/faults"
for step in "kill_agent.py ${KILL_UPDATES:-200}" "disk_full.py" "kill_server.py ${SERVER_KILLS:-20}" \
            "flaky_network.py ${FLAKY_UPDATES:-50}" "soak.py ${SOAK_DEVICES:-10000} ${SOAK_SECONDS:-1800}"; do
  name=${step%%.py*}
  echo "== $step"
  # shellcheck disable=SC2086
  python3 $step | tee "$OUT/faults-$name.txt"
done
