#!/usr/bin/env python3
"""The device's health check for the OTA demo: runs the LIVE model on golden data.

ota-agent runs it (its `health_command`) after it swapped STATE/current/NAME to the new
slot and the reload hook returned, with OTA_BUNDLE_NAME, OTA_BUNDLE_VERSION,
OTA_BUNDLE_DIR (the new slot) and OTA_CURRENT_DIR in the environment. It checks that the
running app serves exactly that slot (GET /version), sends golden.json's inputs to its
POST /predict, and compares the answers with golden.json's labels.

Exit 0 when accuracy >= golden.json's min_accuracy, 1 otherwise (or when the app does not
serve the new version, or does not answer). The last line printed is the reason; the agent
reports it in the event detail, e.g. "accuracy 0.025 is below min_accuracy 0.9 ...".

Usage: health_check.py --app http://127.0.0.1:PORT --golden golden.json [--wait 10]
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request


class Unhealthy(Exception):
    pass


# The app is local: never send its traffic through an http_proxy from the environment.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(url, body=None, timeout=10.0):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with OPENER.open(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace").strip()
        raise Unhealthy(f"{url} answered {error.code}: {detail[:200]}") from None
    except (urllib.error.URLError, OSError) as error:
        raise Unhealthy(f"the app at {url} does not answer: {getattr(error, 'reason', error)}") from None


def check(app, golden_path, wait_seconds):
    name = os.environ.get("OTA_BUNDLE_NAME", "digits")
    version = os.environ.get("OTA_BUNDLE_VERSION")
    bundle_dir = os.environ.get("OTA_BUNDLE_DIR")
    if not version or not bundle_dir:
        raise Unhealthy("OTA_BUNDLE_VERSION and OTA_BUNDLE_DIR must be set (run by ota-agent)")
    expected_slot = os.path.realpath(bundle_dir)

    # The live app must serve the new slot, not the old one: otherwise we would test the wrong model.
    deadline = time.monotonic() + wait_seconds
    while True:
        serving = call(app + "/version")
        if serving.get("slot_dir") == expected_slot:
            break
        if time.monotonic() >= deadline:
            raise Unhealthy(f"the app serves {name} {serving.get('version')} ({serving.get('slot')}), "
                            f"not the new {version} ({os.path.basename(expected_slot)}) after {wait_seconds:g}s")
        time.sleep(0.2)
    print(f"the app serves {name} {serving['version']} from {serving['slot']} (model sha256 {serving['model_sha256'][:12]})")

    with open(golden_path, encoding="utf-8") as handle:
        golden = json.load(handle)
    inputs, labels, minimum = golden["inputs"], golden["labels"], float(golden["min_accuracy"])
    if not inputs or len(inputs) != len(labels):
        raise Unhealthy(f"{golden_path}: inputs and labels must be non-empty and of the same length")

    answer = call(app + "/predict", {"inputs": inputs}, timeout=30.0)
    if answer.get("slot") != os.path.basename(expected_slot):
        raise Unhealthy(f"the app switched to {answer.get('slot')} during the check")
    predicted = answer.get("labels")
    if not isinstance(predicted, list) or len(predicted) != len(labels):
        raise Unhealthy(f"/predict returned {len(predicted) if isinstance(predicted, list) else 'no'} labels for {len(labels)} inputs")
    correct = sum(1 for got, want in zip(predicted, labels) if int(got) == int(want))
    accuracy = correct / len(labels)
    # No timings or device names here: the server groups failure reasons by their exact text.
    summary = f"{correct}/{len(labels)} golden samples right"
    if accuracy < minimum:
        raise Unhealthy(f"accuracy {accuracy:.3f} is below min_accuracy {minimum:g} ({name} {version}: {summary})")
    return f"accuracy {accuracy:.3f} >= min_accuracy {minimum:g} ({name} {version}: {summary})"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--app", required=True, help="base URL of the running app, e.g. http://127.0.0.1:8000")
    parser.add_argument("--golden", required=True, help="golden.json: inputs, labels, min_accuracy")
    parser.add_argument("--wait", type=float, default=10.0, help="seconds to wait for the app to serve the new slot")
    args = parser.parse_args()
    try:
        print(check(args.app.rstrip("/"), args.golden, args.wait), flush=True)
    except Unhealthy as problem:
        print(problem, flush=True)
        sys.exit(1)
    except Exception as error:  # noqa: BLE001 - any surprise is unhealthy, with its reason
        print(f"health check error: {type(error).__name__}: {error}", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
