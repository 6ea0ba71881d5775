#!/usr/bin/env python3
"""A device for benchmark scripts: registers a key, opens a session, checks in once, and
prints the signed headers (one per line, `Name: value`) for a GET of PATH, valid for 300 s;
with --post FILE, for a POST of PATH with FILE's bytes as its body.

    signed_device.py SERVER_URL ENROLLMENT_TOKEN DEVICE_ID HARDWARE PATH [--post FILE]
"""
import base64, json, os, sys, tempfile, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures"))
import device_signing  # noqa: E402

url, enrollment, device_id, hardware, path = sys.argv[1:6]


def post(route, body, headers=None):
    data = json.dumps(body).encode()
    request = urllib.request.Request(url + route, data=data, method="POST", headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null"), data


key = device_signing.DeviceKey(tempfile.mkdtemp())
post("/api/v1/device/register", key.registration(device_id, hardware, enrollment))
session, _ = post("/api/v1/device/session", {"device_id": device_id, "proof": key.proof("ota-session-v1", device_id)})
credentials = (session["session_id"], base64.b64decode(session["session_key"]))
body = json.dumps({"installed": []}).encode()
post("/api/v1/device/checkin", {"installed": []}, device_signing.signed_headers("POST", "/api/v1/device/checkin", body, *credentials))
method, payload = "GET", b""
if len(sys.argv) == 8 and sys.argv[6] == "--post":
    method, payload = "POST", open(sys.argv[7], "rb").read()
for name, value in device_signing.signed_headers(method, path, payload, *credentials).items():
    print(f"{name}: {value}")
