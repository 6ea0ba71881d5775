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
    POST /shadow/start {"id", "report", "sample_share"}: load STATE/candidate/NAME and run it
                     beside the live model on live inputs (see shadow.py); 500 if it cannot load
    POST /shadow/stop  drop the candidate (writes its last report)
    GET  /metrics    the live model's figures since the last call (the agent's metrics_command)

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

from shadow import Figures, Shadow, top1

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
        self.shadow = None
        self.live_figures = Figures()

    def start_shadow(self, request):
        """Loads the candidate the agent linked and evaluates it beside the live model."""
        with self.lock:
            if self.model is None:
                return False, {"error": "no live model to compare with"}
            report = request.get("report")
            reports = os.path.join(self.state_dir, "reports")
            # The report goes only where the agent reads it: never a file a caller names.
            if not isinstance(report, str) or os.path.dirname(os.path.abspath(report)) != reports:
                return False, {"error": f"report must be a file in {reports}"}
            if self.shadow is not None and self.shadow.shadow_id == request.get("id"):
                return True, {"detail": "already evaluating this candidate"}
            if self.shadow is not None:
                self.shadow.stop()
                self.shadow = None
            link = os.path.join(self.state_dir, "candidate", self.name)
            try:
                candidate = LoadedModel(os.path.realpath(link))
            except Exception as error:  # noqa: BLE001 - the agent fails the shadow phase with this reason
                return False, {"error": f"cannot load the candidate {link}: {error}".replace("\n", " ")}
            self.shadow = Shadow(self.model, candidate, str(request.get("id", "")), report,
                                 int(request.get("min_samples", 200)), float(request.get("sample_share", 1.0)), log)
            log(f"evaluating {self.name} {candidate.version} in shadow beside {self.model.version}")
            return True, {"candidate": candidate.describe(), "live": self.model.describe()}

    def stop_shadow(self):
        with self.lock:
            shadow, self.shadow = self.shadow, None
        if shadow is not None:
            shadow.stop()
            log(f"stopped the shadow evaluation of {shadow.candidate.version} after {shadow.samples} samples")
        return True, {"stopped": shadow is not None}

    def take_metrics(self):
        """The live model's figures since the last call, as the agent's metrics report."""
        figures, self.live_figures = self.live_figures, Figures()
        return dict(figures.report(), samples=len(figures.latencies_ms))

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
            elif self.path == "/metrics":
                self.send_json(200, app.take_metrics())
            elif self.path == "/version":
                body = {"name": app.name, "reloads": app.reloads}
                body.update(model.describe() if model else {"version": None, "slot": None})
                self.send_json(200, body)
            else:
                self.send_json(404, {"error": f"no route GET {self.path}"})

        def do_POST(self):  # noqa: N802
            if self.path in ("/shadow/start", "/shadow/stop"):
                try:
                    request = self.read_json() if self.path == "/shadow/start" else {}
                except (ValueError, json.JSONDecodeError) as error:
                    self.send_json(400, {"error": f"bad request: {error}"})
                    return
                ok, body = app.start_shadow(request) if self.path == "/shadow/start" else app.stop_shadow()
                self.send_json(200 if ok else 500, body)
            elif self.path == "/reload":
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
                started = time.perf_counter()
                labels = model.predict(batch)
                elapsed_ms = (time.perf_counter() - started) * 1000
                body = {"labels": labels, "version": model.version, "slot": model.slot}
                live = app.live_figures
                live.latencies_ms.append(elapsed_ms / len(labels))
                if len(live.latencies_ms) > 10_000:
                    del live.latencies_ms[:5_000]  # a window, when nobody collects them
                if model.labels:
                    body["names"] = [model.labels[i] if 0 <= i < len(model.labels) else str(i) for i in labels]
                self.send_json(200, body)
                # Only after the answer is out: the candidate never delays or changes it.
                shadow = app.shadow
                if shadow is not None and shadow.live is model:
                    shadow.offer(batch, labels)
            else:
                self.send_json(404, {"error": f"no route POST {self.path}"})

    return Handler


def main():
    # Whoever started us may have blocked these (a daemon waiting for them does): take them back.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
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
