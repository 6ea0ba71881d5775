#!/usr/bin/env python3
"""Soak: simulated devices check in for a long while with staged rollouts running, and the
server must stay flat.

    soak.py [DEVICES] [SECONDS]     (default 10000 devices for 1800 s)

ota-fleet-sim drives the devices (check-ins, and the events of each update); a new version
is deployed in phases (1%, 10%, 100%, auto-advance) every tenth of the run. Every 10 s the
script samples the server's RSS and open descriptors and times 20 check-ins of a probe
device. Prints start, peak and end of both, check-in p99 over the first and the last
fifth, and the errors in the server's log; non-zero if the log has errors or the fleet
simulator failed.
"""

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

import faultlib as f

devices = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
duration = float(sys.argv[2]) if len(sys.argv) > 2 else 1800.0
folder = f.scratch("soak")
server = f.Server(os.path.join(folder, "server")).start()
enrollment = server.enrollment_token(devices + 10)


def process_figures(pid):
    with open(f"/proc/{pid}/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


probe = f.SignedDevice(server, folder, "probe", enrollment, hardware="probe-hw")


def probe_checkin():
    started = time.perf_counter()
    probe.post("/api/v1/device/checkin", {"installed": []}, timeout=10)
    return (time.perf_counter() - started) * 1000


simulator = f.start([f.binary("ota-fleet-sim"), "--server", server.url, "--enrollment-token", enrollment, "--devices", str(devices),
                     "--hardware", f.HARDWARE, "--threads", "4", "--interval", "1", "--failure-rate", "0.01",
                     "--duration", str(duration)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
samples, stop = [], threading.Event()
started = time.monotonic()


def rollouts():
    number = 0
    while not stop.wait(0 if number == 0 else duration / 10):
        number += 1
        version = f"1.{number}.0"
        source = f.write_version(folder, version, {"model.onnx": os.urandom(64 << 10)})
        try:
            server.publish("soak-model", version, source)
            server.deploy("soak-model", version, "--phases", "1%,10%,100%", "--auto-advance", "--soak", "5s")
        except Exception as error:  # noted in the figures, never fatal to the sampling
            print(f"  rollout {version}: {error}", flush=True)


publisher = threading.Thread(target=rollouts, daemon=True)
publisher.start()
while simulator.poll() is None and time.monotonic() - started < duration + 120:
    rss, descriptors = process_figures(server.process.pid)
    latencies = [probe_checkin() for _ in range(20)]
    samples.append((time.monotonic() - started, rss, descriptors, latencies))
    if len(samples) % 30 == 1:
        print(f"  {samples[-1][0]:.0f} s: RSS {rss / 1024:.1f} MiB, {descriptors} fds, probe p99 {f.percentile(latencies, 0.99):.2f} ms", flush=True)
    time.sleep(10)
stop.set()
# The publisher may be mid-publish: let it finish before the figures are read and the folders
# removed at exit (it once failed on a bundle whose folder had gone).
publisher.join(timeout=120)
output, errors = simulator.communicate(timeout=120)
summary = json.loads(output.strip().splitlines()[-1]) if simulator.returncode == 0 and output.strip() else {}
with open(os.path.join(server.folder, "server.log")) as log:
    error_lines = [line for line in log if "error" in line.lower()]
_, deployments = server.api("GET", "/api/v1/deployments")

fifth = max(1, len(samples) // 5)
first = [latency for sample in samples[:fifth] for latency in sample[3]]
last = [latency for sample in samples[-fifth:] for latency in sample[3]]
rss = [sample[1] / 1024 for sample in samples]
fds = [sample[2] for sample in samples]
print(f"soak: {devices} devices for {time.monotonic() - started:.0f} s, {len(deployments['deployments'])} staged rollouts, "
      f"{summary.get('checkins', '?')} check-ins ({summary.get('checkins_per_second', 0):.0f}/s)")
print(f"  server RSS MiB start {rss[0]:.1f}, peak {max(rss):.1f}, end {rss[-1]:.1f}; open fds start {fds[0]}, peak {max(fds)}, end {fds[-1]}")
print(f"  probe check-in p99: first fifth {f.percentile(first, 0.99):.2f} ms, last fifth {f.percentile(last, 0.99):.2f} ms "
      f"(p50 {f.percentile(first, 0.5):.2f} / {f.percentile(last, 0.5):.2f} ms)")
print(f"  errors in the server log: {len(error_lines)}; fleet simulator exit {simulator.returncode}")
for line in error_lines[:5]:
    print("   ", line.rstrip())
if simulator.returncode != 0:
    print("   ", errors.strip()[-500:])
sys.exit(1 if error_lines or simulator.returncode != 0 else 0)
