#!/usr/bin/env python3
"""The agent's shadow_command and metrics_command for the demo app.

    hooks.py shadow --app URL    ota-agent runs it with OTA_SHADOW_ACTION=start|stop (and the
                                 OTA_SHADOW_* variables); it asks the app to start or stop
                                 evaluating STATE/candidate/NAME beside the live model.
    hooks.py metrics --app URL   writes the live model's figures since the last call to
                                 OTA_METRICS_REPORT.

The last line printed is the reason the agent reports when a hook fails.
"""

import argparse
import json
import os
import sys
import urllib.error
import urllib.request

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the app is local: no proxy


def call(url, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with OPENER.open(request, timeout=60) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise SystemExit(f"{url} answered {error.code}: {error.read().decode(errors='replace').strip()[:300]}") from None
    except (urllib.error.URLError, OSError) as error:
        raise SystemExit(f"the app at {url} does not answer: {getattr(error, 'reason', error)}") from None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("hook", choices=["shadow", "metrics"])
    parser.add_argument("--app", required=True, help="base URL of the running app")
    args = parser.parse_args()
    app = args.app.rstrip("/")
    if args.hook == "shadow":
        action = os.environ.get("OTA_SHADOW_ACTION")
        if action == "start":
            answer = call(app + "/shadow/start", {
                "id": os.environ["OTA_SHADOW_ID"], "report": os.environ["OTA_SHADOW_REPORT"],
                "min_samples": int(os.environ.get("OTA_SHADOW_MIN_SAMPLES", "200")),
                "sample_share": float(os.environ.get("OTA_SHADOW_SAMPLE_SHARE", "1"))})
            print(f"evaluating {answer.get('candidate', {}).get('version', '?')} in shadow")
        elif action == "stop":
            call(app + "/shadow/stop", {})
            print("stopped the shadow evaluation")
        else:
            sys.exit(f"OTA_SHADOW_ACTION must be start or stop, not {action!r}")
    else:
        report = call(app + "/metrics")
        path = os.environ["OTA_METRICS_REPORT"]
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump(report, handle)
        os.replace(path + ".tmp", path)
        print(f"{report['samples']} live samples")


if __name__ == "__main__":
    main()
