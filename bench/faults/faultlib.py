"""Shared pieces of the fault campaign: real ota-server and ota-agent processes on 127.0.0.1,
real keys, bundles and SQLite files in a scratch folder. Standard library only.

Binaries come from $OTA_BIN (default .build/debug). Every loop here is bounded in count
and time, and every process started is stopped at exit.
"""

import atexit
import base64
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Tests", "Fixtures"))
import device_signing  # noqa: E402  (a device's key and signed requests, as ota-agent makes them)
BIN = os.environ.get("OTA_BIN", os.path.join(ROOT, ".build", "debug"))
HARDWARE = "fault-hw"
_processes = []


def binary(name):
    return os.path.join(BIN, name)


def _stop_all():
    for process in _processes:
        if process.poll() is None:
            process.kill()
            process.wait()


atexit.register(_stop_all)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def start(argv, **kwargs):
    process = subprocess.Popen(argv, **kwargs)
    _processes.append(process)
    return process


def check(argv, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def scratch(label):
    path = tempfile.mkdtemp(prefix=f"ota-{label}-")
    os.chmod(path, 0o755)
    if not os.environ.get("OTA_KEEP_FILES"):
        atexit.register(shutil.rmtree, path, True)
    return path


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Server:
    """An ota-server with its own data folder, signing key and admin token."""

    def __init__(self, folder, extra=()):
        self.folder = folder
        self.data = os.path.join(folder, "data")
        self.extra = list(extra)
        check([binary("otactl"), "keygen", "--out", os.path.join(folder, "release")])
        self.key = os.path.join(folder, "release.key")
        self.trust = os.path.join(folder, "trust.json")
        check([binary("otactl"), "trust", "init", "--key", os.path.join(folder, "release.pub"), "--out", self.trust])
        self.token = check([binary("ota-server"), "token", "create", "--data", self.data, "--role", "admin", "--name", "faults"]).strip()
        self.process = None
        self.url = None
        self.port = 0

    def start(self):
        log = open(os.path.join(self.folder, "server.log"), "a")
        listen = f"127.0.0.1:{self.port}"
        self.process = start([binary("ota-server"), "serve", "--data", self.data, "--listen", listen, "--trust", self.trust,
                              "--poll-interval", "1", "--log-level", "warning", "--registrations-per-minute", "100000"] + self.extra,
                             stdout=subprocess.PIPE, stderr=log, text=True)
        line = self.process.stdout.readline()
        if "listening on " not in line:
            raise RuntimeError(f"ota-server did not start: {line!r}")
        self.url = line.split("listening on ", 1)[1].strip()
        # Restarts keep the port, so that agents and load keep their configuration.
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)

    def api(self, method, path, body=None, token=None, timeout=10):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {token or self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read()
            return response.status, (json.loads(text) if text else None)

    def otactl(self, *arguments):
        return check([binary("otactl"), *arguments, "--server", self.url, "--token", self.token])

    def enrollment_token(self, uses=100_000):
        return json.loads(self.otactl("enroll-token", "create", "--max-uses", str(uses), "--expires-in", "7d", "--auto-accept", "--json"))["token"]

    def publish(self, name, version, source, extra=()):
        output = os.path.join(self.folder, f"{name}-{version}.otab")
        check([binary("otactl"), "bundle", "create", source, "--name", name, "--version", version, "--kind", "model",
               "--compatible", HARDWARE, "--key", self.key, "-o", output, *extra])
        self.otactl("publish", output)
        os.remove(output)

    def deploy(self, name, version, *options):
        return json.loads(self.otactl("deployments", "create", name, version, "--all", *options, "--json"))

    def installed(self, device):
        _, detail = self.api("GET", f"/api/v1/devices/{device}")
        return {bundle["name"]: (bundle["version"], bundle["state"]) for bundle in detail["device"]["installed"]}


class Device:
    """One ota-agent with its state folder and config."""

    def __init__(self, server, folder, device_id="dev-1", enrollment=None, **config):
        self.folder = folder
        self.id = device_id
        self.state = os.path.join(folder, "state")
        self.config_path = os.path.join(folder, "agent.json")
        self.config = {"server_url": server.url, "device_id": device_id, "hardware": HARDWARE,
                       "enrollment_token": enrollment or server.enrollment_token(), "trust_root": server.trust,
                       "state_dir": self.state, "allow_insecure_http": True, "health_command": ["/bin/true"]}
        self.config.update(config)
        self.write_config()
        self.process = None

    def write_config(self):
        with open(self.config_path, "w") as file:
            json.dump(self.config, file)

    def once(self, timeout=120, env=None):
        return subprocess.run([binary("ota-agent"), "once", "--config", self.config_path, "--quiet"],
                              capture_output=True, text=True, timeout=timeout, env=env)

    def start_daemon(self):
        log = open(os.path.join(self.folder, "agent.log"), "a")
        self.process = start([binary("ota-agent"), "run", "--config", self.config_path], stdout=log, stderr=log)

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)

    def read(self, relative):
        path = os.path.join(self.state, relative)
        if not os.path.exists(path):
            return None
        with open(path) as file:
            return json.load(file)

    def record(self, name):
        return self.read(f"installed/{name}.json")

    def journal(self, name):
        return self.read(f"journal/{name}.json")

    def failed_versions(self, name):
        return (self.read("ledger.json") or {}).get("failed_versions", {}).get(name, [])

    def current_slot(self, name):
        link = os.path.join(self.state, "current", name)
        return os.path.basename(os.readlink(link)) if os.path.islink(link) else None

    def check_current(self, name, sources):
        """Raises unless current/NAME names a slot whose files are exactly those of its version's source folder."""
        slot = self.current_slot(name)
        if slot is None:
            return
        version = slot.rsplit("-", 1)[0]
        source = sources[version]
        folder = os.path.join(self.state, "slots", name, slot)
        expected = sorted(os.listdir(source))
        present = sorted(os.listdir(folder))
        if present != expected:
            raise AssertionError(f"current/{name} -> {slot} holds {present}, expected {expected}")
        for file in expected:
            if sha256_file(os.path.join(folder, file)) != sha256_file(os.path.join(source, file)):
                raise AssertionError(f"current/{name} -> {slot}: {file} is not the signed content")


def write_version(folder, version, files):
    """Writes a bundle's source folder: {relative name: bytes}."""
    path = os.path.join(folder, f"src-{version}")
    os.makedirs(path, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(path, name), "wb") as file:
            file.write(data)
    return path


def seeded(seed_variable="FAULT_SEED", default=1):
    seed = int(os.environ.get(seed_variable, default))
    return random.Random(seed), seed


def wait_until(condition, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    return None


def percentile(values, fraction):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class SignedDevice:
    """A device speaking the device API directly (load generators): its own key, a session,
    and requests signed with it."""

    def __init__(self, server, folder, device_id, enrollment, hardware=HARDWARE):
        self.server = server
        self.id = device_id
        key = device_signing.DeviceKey(folder)
        self.post("/api/v1/device/register", key.registration(device_id, hardware, enrollment), signed=False)
        session = self.post("/api/v1/device/session", {"device_id": device_id, "proof": key.proof("ota-session-v1", device_id)},
                            signed=False)[1]
        self.session = (session["session_id"], base64.b64decode(session["session_key"]))

    def post(self, path, body, signed=True, timeout=5):
        data = json.dumps(body).encode()
        request = urllib.request.Request(self.server.url + path, data=data, method="POST")
        request.add_header("Content-Type", "application/json")
        if signed:
            for name, value in device_signing.signed_headers("POST", path, data, *self.session).items():
                request.add_header(name, value)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read()
            return response.status, (json.loads(text) if text else None)
