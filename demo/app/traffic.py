#!/usr/bin/env python3
"""Live traffic for the demo apps: what a camera on each device would send.

Sends one input per request, drawn from golden.json with sensor noise (Gaussian, σ --noise
on each pixel, clipped to 0..1), to each app at about --rate requests per second, until
stopped (SIGTERM) or --seconds passed. With --answers FILE it appends one JSON line per
request: the input's index and noise seed, the app, and the label and version it served, so
that answers with and without a shadow evaluation can be compared input by input.

Usage: traffic.py --golden golden.json --app http://127.0.0.1:PORT [--app ...] [--rate 50]
"""

import argparse
import json
import signal
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def noisy_input(inputs, index, seed, noise):
    rng = np.random.default_rng(seed)
    row = np.asarray(inputs[index], dtype=np.float64) + rng.normal(0.0, noise, len(inputs[index]))
    return np.clip(row, 0.0, 1.0).round(4).tolist()


def drive(app, inputs, args, stop, answers, lock):
    sent = 0
    interval = 1.0 / args.rate
    while not stop.is_set():
        started = time.monotonic()
        index, seed = sent % len(inputs), args.seed + sent
        body = json.dumps({"inputs": [noisy_input(inputs, index, seed, args.noise)]}).encode()
        request = urllib.request.Request(app + "/predict", data=body, headers={"Content-Type": "application/json"})
        try:
            with OPENER.open(request, timeout=10) as response:
                answer = json.loads(response.read())
            if answers is not None:
                with lock:
                    answers.write(json.dumps({"app": app, "index": index, "seed": seed,
                                              "label": answer["labels"][0], "version": answer["version"]}) + "\n")
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            pass  # no model yet, or the app restarts: traffic goes on
        sent += 1
        stop.wait(max(0.0, interval - (time.monotonic() - started)))


def main():
    # Whoever started us may have blocked these (a daemon waiting for them does): take them back.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--golden", required=True)
    parser.add_argument("--app", action="append", required=True)
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second per app")
    parser.add_argument("--noise", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0: until SIGTERM)")
    parser.add_argument("--answers", help="append what each request was answered to this file (JSON lines)")
    args = parser.parse_args()
    with open(args.golden, encoding="utf-8") as handle:
        inputs = json.load(handle)["inputs"]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    answers = open(args.answers, "a", encoding="utf-8") if args.answers else None
    lock = threading.Lock()
    threads = [threading.Thread(target=drive, args=(app.rstrip("/"), inputs, args, stop, answers, lock), daemon=True) for app in args.app]
    for thread in threads:
        thread.start()
    if args.seconds:
        stop.wait(args.seconds)
        stop.set()
    else:
        while not stop.is_set():
            stop.wait(1)
    for thread in threads:
        thread.join(timeout=5)
    if answers:
        answers.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
