#!/usr/bin/env python3
"""Disk full during download and during staging, on a small filesystem of its own (a tmpfs
mounted for the agent's state folder; needs root).

    disk_full.py

For each phase: fill the disk, run the agent, expect a clear error naming the lack of space,
the running version untouched and the update still journaled; free the space, run again,
expect the update committed. Prints a line per phase and exits non-zero on any violation.
"""

import os
import subprocess
import sys

import faultlib as f

if os.geteuid() != 0:
    sys.exit("disk_full.py mounts a small tmpfs and needs root")

folder = f.scratch("disk-full")
server = f.Server(os.path.join(folder, "server")).start()
device_folder = os.path.join(folder, "device")
os.makedirs(os.path.join(device_folder, "state"))
mount_point = os.path.join(device_folder, "state")
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", mount_point], check=True)
try:
    device = f.Device(server, device_folder)
    sources = {"1.0.0": f.write_version(folder, "1.0.0", {"model.onnx": os.urandom(1 << 20), "labels.txt": b"0\n1\n"})}
    server.publish("digits", "1.0.0", sources["1.0.0"])
    server.deploy("digits", "1.0.0")
    assert device.once().returncode == 0, "the first install failed"
    filler = os.path.join(mount_point, "filler")
    violations = []

    def fill(leave):
        """Fills the filesystem up to `leave` bytes free."""
        stats = os.statvfs(mount_point)
        free = stats.f_bavail * stats.f_frsize
        with open(filler, "ab") as file:
            file.write(b"\0" * max(0, free - leave))

    def phase(name, version, leave, crash_at=None):
        sources[version] = f.write_version(folder, version, {"model.onnx": os.urandom(4 << 20), "labels.txt": b"0\n1\n"})
        server.publish("digits", version, sources[version])
        server.deploy("digits", version)
        if crash_at:
            env = dict(os.environ, OTA_AGENT_CRASH_AT=crash_at)
            assert device.once(env=env).returncode == 99, f"the agent did not stop at {crash_at}"
        fill(leave)
        full = device.once()
        # With the disk full, status.json cannot be written either: the log says it.
        last_error = next((line for line in full.stderr.splitlines() if "No space left" in line), full.stderr.strip()[-300:])
        try:
            device.check_current("digits", sources)
        except AssertionError as error:
            violations.append(f"{name}: {error}")
        problems = []
        if full.returncode != 1:
            problems.append(f"exit {full.returncode}, expected 1")
        if "No space left" not in last_error:
            problems.append(f"last error does not name the lack of space: {last_error!r}")
        if device.journal("digits") is None:
            problems.append("the update was dropped instead of kept for later")
        os.remove(filler)
        resumed = device.once()
        record = device.record("digits") or {}
        if resumed.returncode != 0 or record.get("version") != version:
            problems.append(f"after freeing space: exit {resumed.returncode}, running {record.get('version')}")
        device.check_current("digits", sources)
        violations.extend(f"{name}: {problem}" for problem in problems)
        print(f"disk full {name}: {'clear error, nothing corrupted, resumed and committed' if not problems else '; '.join(problems)}"
              f" (error: {last_error[:140]!r})", flush=True)

    phase("during download", "2.0.0", leave=1 << 20)
    phase("during staging", "3.0.0", leave=0, crash_at="downloaded")
finally:
    subprocess.run(["umount", "-l", mount_point])
sys.exit(1 if violations else 0)
