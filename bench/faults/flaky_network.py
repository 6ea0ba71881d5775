#!/usr/bin/env python3
"""Hostile and flaky network: Tests/Fixtures/hostile_proxy.py in `content-flaky` mode sits
between the agent and the server and cuts, shortens, resets, stalls or corrupts content
answers at random (seeded).

    flaky_network.py [UPDATES]     (default 50; FAULT_SEED seeds the proxy)

Every update must end committed (the network alone never condemns a version), each within
a bounded number of agent cycles. Prints the figures; non-zero on any violation.
"""

import os
import subprocess
import sys
import time

import faultlib as f

updates = int(sys.argv[1]) if len(sys.argv) > 1 else 50
_, seed = f.seeded()
folder = f.scratch("flaky")
server = f.Server(os.path.join(folder, "server")).start()
proxy_script = os.path.join(f.ROOT, "Tests", "Fixtures", "hostile_proxy.py")
proxy = f.start(["python3", proxy_script, server.url, "content-flaky", "--log", os.path.join(folder, "proxy.log")],
                stdout=subprocess.PIPE, text=True, env=dict(os.environ, HOSTILE_PROXY_SEED=str(seed)))
proxy_url = f"http://127.0.0.1:{proxy.stdout.readline().strip()}"
os.makedirs(os.path.join(folder, "device"))
device = f.Device(server, os.path.join(folder, "device"), stall_timeout_s=2)
device.config["server_url"] = proxy_url
device.write_config()

sources, cycles, violations = {}, [], []
started = time.monotonic()
for number in range(1, updates + 1):
    version = f"1.{number}.0"
    files = {"model.onnx": os.urandom(512 << 10), "extra.bin": os.urandom(128 << 10), "labels.txt": b"0\n1\n"}
    sources[version] = f.write_version(folder, version, files)
    server.publish("digits", version, sources[version])
    server.deploy("digits", version)
    for cycle in range(1, 31):
        device.once()
        record = device.record("digits") or {}
        if record.get("version") == version and device.journal("digits") is None:
            cycles.append(cycle)
            break
        if version in device.failed_versions("digits"):
            violations.append(f"{version}: condemned by the network")
            break
    else:
        violations.append(f"{version}: not committed after 30 cycles")
    device.check_current("digits", sources)

with open(os.path.join(folder, "proxy.log")) as log:
    content_requests = sum(1 for line in log if "/device/content/" in line)
events = server.api("GET", f"/api/v1/devices/{device.id}")[1]["events"]
failed = [event for event in events if event["state"] in ("failed", "rolled-back")]
print(f"hostile and flaky network (seed {seed}): {len(cycles)}/{updates} updates committed, none condemned "
      f"({len(failed)} failed or rolled-back events); agent cycles per update: median {f.percentile(cycles, 0.5)}, "
      f"max {max(cycles) if cycles else '-'}; {content_requests} content requests through the proxy, "
      f"{time.monotonic() - started:.0f} s")
for violation in violations:
    print("  violation:", violation)
sys.exit(1 if violations or failed else 0)
