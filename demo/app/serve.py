#!/usr/bin/env python3
"""A small inference app for the OTA demo: serves the model the agent installed.

The ota-agent keeps STATE/current/NAME as a symbolic link to the active slot folder
(STATE/slots/NAME/VERSION-DIGEST). This app resolves that link when it loads, so a swap
takes effect only when the agent's reload hook asks for it:

    POST /reload     re-resolve STATE/current/NAME and load that model; answers once the
                     new model serves (200), or 500 with the reason (the old model keeps
                     serving), so the agent's reload command fails and the agent rolls back.
                     SIGHUP does the same, asynchronously.
    POST /predict    {"inputs": [[64 floats in 0..1], ...]} -> {"labels": [...], "version": ...}
    GET  /version    which version and slot serve, and the model's SHA-256
    GET  /healthz    200 when a model is loaded, 503 otherwise

Usage: serve.py --state STATE_DIR [--name digits] [--listen 127.0.0.1] [--port 0]
                [--port-file FILE]
With --port 0 the system picks a free port; it is printed and written to --port-file.
"""

import argparse
import hashlib
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import onnxruntime as ort

MAX_BODY = 8 << 20
MAX_ROWS = 10_000


def log(message):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())
    print(f"{stamp} serve: {message}", file=sys.stderr, flush=True)


class LoadedModel:
    """One model, loaded from one slot folder (already resolved: it never moves)."""

    def __init__(self, slot_dir):
        self.slot_dir = slot_dir
        self.slot = os.path.basename(slot_dir)
        # Slot folders are named VERSION-SHORTDIGEST; a SemVer may itself contain '-'.
        self.version = self.slot.rsplit("-", 1)[0] if "-" in self.slot else self.slot
        model_path = os.path.join(slot_dir, "model.onnx")
        with open(model_path, "rb") as handle:
            model_bytes = handle.read()
        self.sha256 = hashlib.sha256(model_bytes).hexdigest()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(model_bytes, sess_options=options, providers=["CPUExecutionProvider"])
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f"expected one model input, found {len(inputs)}")
        self.input_name = inputs[0].name
        width = inputs[0].shape[-1] if inputs[0].shape else None
        self.width = width if isinstance(width, int) else 64
        self.output_names = [output.name for output in self.session.get_outputs()]
        if "label" not in self.output_names:
            raise ValueError(f"the model has no 'label' output (outputs: {', '.join(self.output_names)})")
        labels_path = os.path.join(slot_dir, "labels.txt")
        self.labels = None
        if os.path.exists(labels_path):
            with open(labels_path, encoding="utf-8") as handle:
                self.labels = [line.strip() for line in handle if line.strip()]
        # Load means run: a model that cannot answer one input is refused now, not in production.
        self.predict(np.zeros((1, self.width), dtype=np.float32))
        self.loaded_at = time.time()

    def predict(self, batch):
        (labels,) = self.session.run(["label"], {self.input_name: batch})
        return [int(value) for value in labels]

    def describe(self):
        return {"version": self.version, "slot": self.slot, "slot_dir": self.slot_dir, "model_sha256": self.sha256,
                "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.loaded_at))}


class App:
    def __init__(self, state_dir, name):
        self.state_dir = os.path.abspath(state_dir)
        self.name = name
        self.link = os.path.join(self.state_dir, "current", name)
        self.model = None
        self.lock = threading.Lock()  # serialises reloads; requests read self.model once
        self.reloads = 0

    def reload(self):
        """Loads whatever STATE/current/NAME points at now. Returns (ok, description)."""
        with self.lock:
            self.reloads += 1
            if not os.path.lexists(self.link):
                if self.model is not None:
                    log(f"{self.link} is gone: unloading {self.model.version}")
                self.model = None
                return True, {"version": None, "detail": f"no model installed yet ({self.link} does not exist)"}
            # Resolve the link once: the loaded model keeps its slot even if the link moves.
            slot_dir = os.path.realpath(self.link)
            if self.model is not None and self.model.slot_dir == slot_dir:
                return True, dict(self.model.describe(), detail="already serving this slot")
            try:
                model = LoadedModel(slot_dir)
            except Exception as error:  # noqa: BLE001 - any load failure keeps the old model
                problem = f"cannot load {slot_dir}: {error}".replace("\n", " ")
                log(problem + (f"; still serving {self.model.version}" if self.model else ""))
                return False, {"error": problem, "serving": self.model.describe() if self.model else None}
            previous = self.model.version if self.model else "nothing"
            self.model = model
            log(f"now serving {self.name} {model.version} (slot {model.slot}, model sha256 {model.sha256[:12]}; was {previous})")
            return True, model.describe()


def make_handler(app):
    class Handler(BaseHTTPRequestHandler):
        server_version = "digits-demo/1"
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002 - the base class's name
            pass  # requests are frequent (health checks); the log keeps reloads and errors

        def send_json(self, status, body):
            data = (json.dumps(body) + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def read_json(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY:
                raise ValueError(f"a JSON body of 1 to {MAX_BODY} bytes is required")
            return json.loads(self.rfile.read(length))

        def do_GET(self):  # noqa: N802 - http.server's naming
            model = app.model
            if self.path == "/healthz":
                if model is None:
                    self.send_json(503, {"status": "no model loaded", "name": app.name})
                else:
                    self.send_json(200, {"status": "ok", "name": app.name, "version": model.version})
            elif self.path == "/version":
                body = {"name": app.name, "reloads": app.reloads}
                body.update(model.describe() if model else {"version": None, "slot": None})
                self.send_json(200, body)
            else:
                self.send_json(404, {"error": f"no route GET {self.path}"})

        def do_POST(self):  # noqa: N802
            if self.path == "/reload":
                # Drain any body so the connection stays usable.
                length = int(self.headers.get("Content-Length") or 0)
                if 0 < length <= MAX_BODY:
                    self.rfile.read(length)
                ok, body = app.reload()
                self.send_json(200 if ok else 500, body)
            elif self.path == "/predict":
                model = app.model
                if model is None:
                    self.send_json(503, {"error": "no model loaded yet"})
                    return
                try:
                    request = self.read_json()
                    batch = np.asarray(request["inputs"], dtype=np.float32)
                    if batch.ndim != 2 or batch.shape[1] != model.width or not 0 < batch.shape[0] <= MAX_ROWS:
                        raise ValueError(f"inputs must be 1 to {MAX_ROWS} rows of {model.width} numbers")
                except (ValueError, KeyError, TypeError) as error:
                    self.send_json(400, {"error": f"bad request: {error}"})
                    return
                labels = model.predict(batch)
                body = {"labels": labels, "version": model.version, "slot": model.slot}
                if model.labels:
                    body["names"] = [model.labels[i] if 0 <= i < len(model.labels) else str(i) for i in labels]
                self.send_json(200, body)
            else:
                self.send_json(404, {"error": f"no route POST {self.path}"})

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state", required=True, help="the agent's state folder")
    parser.add_argument("--name", default="digits", help="bundle name (STATE/current/NAME)")
    parser.add_argument("--listen", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", help="write the port here once listening")
    args = parser.parse_args()

    app = App(args.state, args.name)
    ok, body = app.reload()
    if not ok:
        log(body["error"])
    elif body.get("version") is None:
        log(body["detail"])

    server = ThreadingHTTPServer((args.listen, args.port), make_handler(app))
    server.daemon_threads = True
    port = server.server_address[1]

    def on_hup(signum, frame):
        threading.Thread(target=app.reload, daemon=True).start()

    def on_term(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGHUP, on_hup)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    if args.port_file:
        temporary = args.port_file + ".tmp"
        with open(temporary, "w") as handle:
            handle.write(f"{port}\n")
        os.replace(temporary, args.port_file)
    log(f"listening on http://{args.listen}:{port} for {app.link}")
    server.serve_forever()
    server.server_close()
    log("stopped")


if __name__ == "__main__":
    main()
