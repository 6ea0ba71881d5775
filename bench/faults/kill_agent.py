#!/usr/bin/env python3
"""Kill at any instant: `kill -9` the agent daemon at random moments (not only at journal
steps) during N updates of a multi-file model (3-4 MiB) over a link throttled to 1 MiB/s, restarting it each time.
Two versions in three change 1 MiB inside the previous model, so the agent rebuilds the file
from the chunks it holds (kills land mid-rebuild); every third is new throughout.

    kill_agent.py [UPDATES]        (FAULT_SEED picks the moments; default 200 updates)

Every 7th version fails its health check, so rollbacks are killed too. After every kill,
current/NAME must name a complete slot holding exactly the signed files. Every update must
end (committed, or rolled back for the bad ones), and the server's view of what runs must
match the device's. Prints the figures and exits non-zero on any violation.
"""

import os
import sys
import time

import faultlib as f

updates = int(sys.argv[1]) if len(sys.argv) > 1 else 200
rng, seed = f.seeded()
folder = f.scratch("kill-agent")
server = f.Server(os.path.join(folder, "server")).start()
os.makedirs(os.path.join(folder, "device"))
health = ["/bin/sh", "-c", 'test "$(cat "$OTA_BUNDLE_DIR/health")" = ok']
device = f.Device(server, os.path.join(folder, "device"), health_command=health, max_download_bytes_per_s=1 << 20)

labels = b"".join(b"%d\n" % i for i in range(1000))
sources, kills, kills_mid_update, violations = {}, 0, 0, []
kills_by_update, started = [], time.monotonic()
committed = rolled_back = 0
model = os.urandom(3 << 20)
for number in range(1, updates + 1):
    version = f"1.{number}.0"
    bad = number % 7 == 0
    if number % 3 == 0:
        model = os.urandom(3 << 20)
    else:
        at = rng.randrange(0, len(model) - (1 << 20))
        model = model[:at] + os.urandom(1 << 20) + model[at + (1 << 20):]
    files = {"model.onnx": model, "labels.txt": labels, "health": b"bad" if bad else b"ok"}
    if number % 2:
        files["extra.bin"] = os.urandom(256 << 10)
    sources[version] = f.write_version(folder, version, files)
    server.publish("digits", version, sources[version])
    server.deploy("digits", version)
    ended = False
    this_update = 0
    for attempt in range(40):
        device.start_daemon()
        # Mostly short lives, so kills land in every step; now and then a long one.
        time.sleep(rng.uniform(0.05, 2.5) if attempt < 8 else 10.0)
        midway = device.journal("digits") is not None
        device.kill()
        kills += 1
        kills_mid_update += 1 if midway else 0
        this_update += 1
        try:
            device.check_current("digits", sources)
        except AssertionError as error:
            violations.append(f"{version}: after a kill: {error}")
        record = device.record("digits")
        if device.journal("digits") is None and ((record and record["version"] == version) or version in device.failed_versions("digits")):
            ended = True
            break
    kills_by_update.append(this_update)
    if not ended:
        violations.append(f"{version}: did not end after {this_update} kills")
        continue
    outcome_ok = version in device.failed_versions("digits") if bad else device.record("digits")["version"] == version
    if not outcome_ok:
        violations.append(f"{version}: wrong outcome (bad={bad})")
    committed += 0 if bad else 1
    rolled_back += 1 if bad else 0
    # The server must learn what really runs: let the daemon check in once more.
    expected = device.record("digits")["version"]
    device.start_daemon()
    seen = f.wait_until(lambda: server.installed(device.id).get("digits") == (expected, "committed"), timeout=15)
    device.stop()
    if not seen:
        violations.append(f"{version}: the server shows {server.installed(device.id).get('digits')}, the device runs {expected}")
    if number % 10 == 0:
        print(f"  {number}/{updates} updates, {kills} kills, {len(violations)} violations", flush=True)

ended_count = updates - sum(1 for v in violations if "did not end" in v)
print(f"kill at any instant (seed {seed}): {ended_count}/{updates} updates ended "
      f"({committed} committed, {rolled_back} rolled back as intended) after {kills} kill -9, {kills_mid_update} of them "
      f"with an update in progress "
      f"(per update: median {f.percentile(kills_by_update, 0.5)}, max {max(kills_by_update)}); "
      f"current always complete and verified: {'yes' if not any('after a kill' in v for v in violations) else 'NO'}; "
      f"server view matched: {'yes' if not any('server shows' in v for v in violations) else 'NO'}; "
      f"{time.monotonic() - started:.0f} s")
for violation in violations:
    print("  violation:", violation)
sys.exit(1 if violations else 0)
