#!/usr/bin/env python3
"""Server killed under mixed load: check-ins, events, uploads with publishes and admin writes
run at once while `kill -9` hits ota-server at random moments.

    kill_server.py [KILLS]        (default 20; FAULT_SEED picks the moments)

After every restart: `PRAGMA integrity_check` is ok; every event, publish and enrollment
token the server acknowledged is there; every visible bundle's content is complete and
matches its digest (no partial content is visible). Prints the figures; non-zero on any loss.
"""

import hashlib
import json
import os
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.request

import faultlib as f

kills = int(sys.argv[1]) if len(sys.argv) > 1 else 20
rng, seed = f.seeded()
folder = f.scratch("kill-server")
server = f.Server(os.path.join(folder, "server")).start()
enrollment = server.enrollment_token()
acked = {"events": set(), "bundles": set(), "tokens": set()}
counts = {"checkins": 0, "events": 0, "publishes": 0, "tokens": 0, "refused": 0}
lock = threading.Lock()


def post(path, body, token):
    request = urllib.request.Request(server.url + path, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, json.loads(response.read() or b"null")


devices = [f.SignedDevice(server, folder, f"load-{number}", enrollment) for number in range(8)]


def checkins(stop):
    while not stop.is_set():
        for device in devices:
            try:
                device.post("/api/v1/device/checkin", {"installed": []})
                with lock:
                    counts["checkins"] += 1
            except Exception:
                time.sleep(0.05)


def events(stop, lane):
    serial = 0
    while not stop.is_set():
        serial += 1
        detail = f"event-{lane}-{serial}-{os.getpid()}-{time.monotonic_ns()}"
        event = {"bundle_name": "load", "version": "1.0.0", "state": "downloading", "detail": detail,
                 "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        try:
            status, _ = devices[lane].post("/api/v1/device/events", {"events": [event]})
            if status == 202:
                with lock:
                    acked["events"].add(detail)
                    counts["events"] += 1
        except Exception:
            time.sleep(0.05)


def publishes(stop):
    serial = 0
    while not stop.is_set():
        serial += 1
        version = f"2.{os.getpid()}.{serial}-k{len(acked['bundles'])}"
        source = f.write_version(folder, version, {"weights.bin": os.urandom(512 << 10), "labels.txt": b"a\nb\n"})
        try:
            server.publish("load", version, source)
            with lock:
                acked["bundles"].add(version)
                counts["publishes"] += 1
        except Exception:
            with lock:
                counts["refused"] += 1
            time.sleep(0.05)


def admin_writes(stop):
    serial = 0
    while not stop.is_set():
        serial += 1
        name = f"token-{os.getpid()}-{serial}-{time.monotonic_ns()}"
        try:
            status, _ = post("/api/v1/enrollment-tokens", {"name": name, "max_uses": 1}, server.token)
            if status == 201:
                with lock:
                    acked["tokens"].add(name)
                    counts["tokens"] += 1
        except Exception:
            time.sleep(0.05)


def check_after_restart(round_number):
    problems = []
    database = sqlite3.connect(f"file:{server.data}/registry.sqlite?mode=ro", uri=True)
    try:
        integrity = database.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            problems.append(f"integrity_check: {integrity}")
        stored_events = {row[0] for row in database.execute("SELECT detail FROM events")}
        stored_bundles = {row[0] for row in database.execute("SELECT version FROM bundles WHERE name = 'load'")}
        stored_tokens = {row[0] for row in database.execute("SELECT name FROM enrollment_tokens")}
        files = database.execute("SELECT digest, size FROM bundle_files").fetchall()
    finally:
        database.close()
    with lock:
        for kind, stored in (("events", stored_events), ("bundles", stored_bundles), ("tokens", stored_tokens)):
            lost = acked[kind] - stored
            if lost:
                problems.append(f"{len(lost)} acknowledged {kind} missing, e.g. {sorted(lost)[:2]}")
    for digest, size in files:
        path = os.path.join(server.data, "content", digest[:2], digest)
        if not os.path.exists(path) or os.path.getsize(path) != size or f.sha256_file(path) != digest:
            problems.append(f"content {digest[:12]} of a visible bundle is missing or partial")
    return problems


violations = []
started = time.monotonic()
for round_number in range(1, kills + 1):
    stop = threading.Event()
    threads = [threading.Thread(target=checkins, args=(stop,)), threading.Thread(target=publishes, args=(stop,)),
               threading.Thread(target=admin_writes, args=(stop,))]
    threads += [threading.Thread(target=events, args=(stop, lane)) for lane in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(rng.uniform(0.5, 3.0))
    server.kill()
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    server.start()
    problems = check_after_restart(round_number)
    violations.extend(f"kill {round_number}: {problem}" for problem in problems)
    print(f"  kill {round_number}/{kills}: {'ok' if not problems else '; '.join(problems)}", flush=True)

print(f"server killed under mixed load (seed {seed}): {kills - len({v.split(':')[0] for v in violations})}/{kills} restarts clean "
      f"(integrity_check ok, nothing acknowledged lost, no partial content visible); acknowledged in all: "
      f"{counts['checkins']} check-ins, {counts['events']} events, {counts['publishes']} publishes, {counts['tokens']} admin writes; "
      f"{time.monotonic() - started:.0f} s")
for violation in violations:
    print("  violation:", violation)
sys.exit(1 if violations else 0)
