"""Shadow evaluation for the demo app: the candidate model runs beside the live one.

The live path answers first and never waits: /predict hands a copy of its inputs and the
answers it served to `Shadow.offer`, which drops them when the queue is full (the compute
budget) or when the sample share says so. A worker thread runs both models on each sampled
input, one at a time under the same conditions, and keeps what the agent's gates read:

    agreement     share of inputs where the candidate's top-1 answer equals the one served
    latency       p50 / p95 per input of each model, in milliseconds of the worker thread's
                  CPU time: the time inference itself takes, so that a busy device (other
                  threads, other processes, the interpreter's lock) does not blur the comparison
    confidence    mean top-1 probability of each model
    errors        inputs the candidate failed on

It writes the report the agent names (OTA_SHADOW_REPORT) atomically, every 25 samples and
when it stops, echoing the agent's shadow id.
"""

import json
import os
import queue
import random
import threading
import time

import numpy as np


def percentile(values, share):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * (len(ordered) - 1) + 0.5))]


def top1(session, input_name, row, timing=None):
    """Runs one input; returns (label, top-1 probability or None). With `timing` (a list),
    appends the milliseconds of thread CPU time the inference itself took."""
    start = time.thread_time_ns()
    outputs = session.run(None, {input_name: row})
    if timing is not None:
        timing.append((time.thread_time_ns() - start) / 1e6)
    names = [output.name for output in session.get_outputs()]
    label = int(outputs[names.index("label")][0])
    confidence = None
    if "probabilities" in names:
        probabilities = np.asarray(outputs[names.index("probabilities")], dtype=np.float64).reshape(-1)
        confidence = float(probabilities.max()) if probabilities.size else None
    return label, confidence


class Figures:
    """What one model did on the sampled inputs."""

    def __init__(self):
        self.latencies_ms = []
        self.confidences = []
        self.errors = 0

    def report(self):
        body = {"latency_p50_ms": round(percentile(self.latencies_ms, 0.5), 6),
                "latency_p95_ms": round(percentile(self.latencies_ms, 0.95), 6), "errors": self.errors}
        if self.confidences:
            body["confidence"] = round(sum(self.confidences) / len(self.confidences), 6)
        return body


class Shadow:
    def __init__(self, live, candidate, shadow_id, report_path, min_samples, sample_share, log):
        self.live, self.candidate = live, candidate
        self.shadow_id, self.report_path = shadow_id, report_path
        self.min_samples, self.sample_share = min_samples, sample_share
        self.log = log
        self.queue = queue.Queue(maxsize=256)
        self.samples = self.agreed = 0
        self.live_figures, self.candidate_figures = Figures(), Figures()
        self.stopped = threading.Event()
        self.worker = threading.Thread(target=self.run, daemon=True)
        self.worker.start()

    def offer(self, batch, served_labels):
        """Called by the live path after it answered: never blocks, never raises."""
        try:
            for row, label in zip(batch, served_labels):
                if random.random() < self.sample_share:
                    self.queue.put_nowait((row.reshape(1, -1).copy(), int(label)))
        except queue.Full:
            pass  # over budget: this input is not sampled

    def run(self):
        while not self.stopped.is_set():
            try:
                row, served = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            _, live_confidence = top1(self.live.session, self.live.input_name, row, self.live_figures.latencies_ms)
            if live_confidence is not None:
                self.live_figures.confidences.append(live_confidence)
            try:
                label, confidence = top1(self.candidate.session, self.candidate.input_name, row, self.candidate_figures.latencies_ms)
                if confidence is not None:
                    self.candidate_figures.confidences.append(confidence)
                self.agreed += label == served
            except Exception:  # noqa: BLE001 - a candidate that fails on an input is an error, not a crash
                self.candidate_figures.errors += 1
            self.samples += 1
            if self.samples % 25 == 0:
                self.write()

    def report(self):
        return {"shadow_id": self.shadow_id, "samples": self.samples,
                "agreement": round(self.agreed / self.samples, 6) if self.samples else 0.0,
                "live": self.live_figures.report(), "candidate": self.candidate_figures.report()}

    def write(self):
        if not self.report_path:
            return
        temporary = self.report_path + ".tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(self.report(), handle)
        os.replace(temporary, self.report_path)

    def stop(self):
        self.stopped.set()
        self.worker.join(timeout=5)
        self.write()
