#!/usr/bin/env python3
"""A hostile network between an agent and a real ota-server, for end-to-end tests.

    hostile_proxy.py UPSTREAM_URL MODE [--log FILE]

Listens on 127.0.0.1 on a port the system picks and prints it as the first line of stdout.
Every request is forwarded to UPSTREAM_URL (a plain-http server on 127.0.0.1); MODE says how
the check-in or content answers are spoiled on the way back (see MODES). Each request is
logged to FILE as "METHOD PATH range=RANGE" so tests can count what the agent asked for.
Every answer closes its connection, so no spoiled state leaks into the next request.
Standard library only.
"""

import base64
import http.client
import http.server
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

CHECKIN = "/api/v1/device/checkin"
SESSION = "/api/v1/device/session"
CONTENT = "/api/v1/device/content/"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-connection", "host", "content-length"}
GARBAGE = b"\xde\xad\xbe\xef" * (1 << 18)  # 1 MiB
# An endless answer still ends here, so a client that never hangs up cannot pin the proxy.
ENDLESS_LIMIT_SECONDS = 30


class Upstream:
    """The real server's answer to one request, read whole (test content is small)."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.relay()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_GET

    def log_message(self, format, *args):
        pass

    # Plumbing

    def relay(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.request_body = self.rfile.read(length) if length else b""
        self.server.note(f"{self.command} {self.path} range={self.headers.get('Range', '-')}")
        self.close_connection = True
        target = ("checkin" if self.path == CHECKIN else "session" if self.path == SESSION
                  else "content" if self.path.startswith(CONTENT) else None)
        spoil = MODES[self.server.mode].get(target) if target else None
        try:
            if spoil:
                spoil(self)
            else:
                self.send(self.forward())
        except (BrokenPipeError, ConnectionResetError):
            pass  # the agent hung up on us, as it should on a hostile answer

    def forward(self, headers=None):
        """The request as the agent sent it, with `headers` changed (None removes one)."""
        sent = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        for name, value in (headers or {}).items():
            sent = {k: v for k, v in sent.items() if k.lower() != name.lower()}
            if value is not None:
                sent[name] = value
        upstream = urllib.parse.urlsplit(self.server.upstream)
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
        try:
            connection.request(self.command, self.path, body=self.request_body or None, headers=sent)
            response = connection.getresponse()
            body = response.read()
            # send_response() writes its own Server and Date.
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP | {"server", "date"}]
            return Upstream(response.status, kept, body)
        finally:
            connection.close()

    def send(self, answer, extra=b"", framed=True):
        """Sends `answer` followed by `extra` bytes; unframed answers end when the connection closes."""
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        if framed:
            self.send_header("Content-Length", str(len(answer.body) + len(extra)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body + extra)

    def replay_first(self):
        """The first check-in answer is recorded, then sent again for every later check-in
        (of any device). The server still sees every request."""
        answer = self.forward()
        if getattr(self.server, "recorded", None) is None:
            self.server.recorded = answer
        self.send(self.server.recorded)

    def inject_root(self):
        """Adds the file given with --root as the next root beside the signed answer."""
        answer = self.forward()
        body = json.loads(answer.body)
        with open(self.server.root_file, "rb") as f:
            root = base64.b64encode(f.read()).decode()
        body["metadata"] = dict(body.get("metadata") or {}, roots=[root])
        self.send(Upstream(answer.status, self.without(answer, "content-length"), json.dumps(body).encode()))

    def compromised(self):
        """A compromised server: it holds the online key (--key), so it re-signs the answer
        after changing it: a clock far ahead (--issued EPOCH), an extra assignment (--assignment
        FILE, one assignment as JSON). Everything it cannot sign (releases) stays as it was."""
        answer = self.forward()
        body = json.loads(answer.body)
        envelope = body["answer"]
        payload = json.loads(base64.b64decode(envelope["payload"]))
        options = self.server.options
        if "--issued" in options:
            payload["issued"] = int(options["--issued"])
        if "--assignment" in options:
            with open(options["--assignment"]) as f:
                payload["assignments"].append(json.load(f))
        data = json.dumps(payload).encode()
        kind = envelope["payloadType"].encode()
        pae = b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(data), data)
        with tempfile.NamedTemporaryFile() as message:
            message.write(pae)
            message.flush()
            signature = subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", options["--key"], "-rawin", "-in", message.name],
                                       check=True, capture_output=True).stdout
        body["answer"] = {"payload": base64.b64encode(data).decode(), "payloadType": envelope["payloadType"],
                          "signatures": [{"keyid": envelope["signatures"][0]["keyid"], "sig": base64.b64encode(signature).decode()}]}
        self.send(Upstream(answer.status, self.without(answer, "content-length"), json.dumps(body).encode()))

    def session_expiry(self, seconds):
        """The session answer with `expires_in_s` replaced (a hostile lifetime)."""
        answer = self.forward()
        if answer.status != 201:
            return self.send(answer)
        document = json.loads(answer.body)
        document["expires_in_s"] = seconds
        self.send(Upstream(answer.status, self.without(answer, "content-length"), json.dumps(document).encode()))

    def pad_metadata(self):
        """Adds junk base64 of --pad BYTES as the metadata field --field (default targets) of a
        signed answer: more than a role may hold, or whatever size a test asks for."""
        answer = self.forward()
        body = json.loads(answer.body)
        size = int(self.server.options.get("--pad", "1000000"))
        field = self.server.options.get("--field", "targets")
        junk = base64.b64encode(b"\x00" * size).decode()
        metadata = dict(body.get("metadata") or {})
        metadata[field] = [junk] if field == "roots" else junk
        body["metadata"] = metadata
        self.send(Upstream(answer.status, self.without(answer, "content-length"), json.dumps(body).encode()))

    def without(self, answer, *names):
        return [(k, v) for k, v in answer.headers if k.lower() not in names]

    def asked_start(self):
        """The first byte of a `Range: bytes=N-` request, or None."""
        asked = self.headers.get("Range", "")
        if not asked.startswith("bytes=") or not asked.endswith("-"):
            return None
        return int(asked[len("bytes="):-1])

    # Misbehaviours

    def extra_bytes(self):
        self.send(self.forward(), extra=GARBAGE)

    def extra_bytes_unframed(self):
        self.send(self.forward(), extra=GARBAGE, framed=False)

    def endless(self):
        answer = self.forward()
        self.send_response(answer.status)
        for name, value in self.without(answer, "content-range"):
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(answer.body)
        deadline = time.monotonic() + ENDLESS_LIMIT_SECONDS
        while time.monotonic() < deadline:
            self.wfile.write(GARBAGE)

    def huge_json(self):
        """A 64 MiB check-in answer: a JSON array of empty objects, well-formed to the end."""
        size = 64 << 20
        head, item, tail = b'{"poll_interval_s": 60, "assignments": [', b"{}, ", b"{}]}"
        items, padding = divmod(size - len(head) - len(tail), len(item))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(size))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(head)
        per_write = 1 << 16
        for _ in range(items // per_write):
            self.wfile.write(item * per_write)
        self.wfile.write(item * (items % per_write) + b" " * padding + tail)

    def wrong_types(self):
        self.send(Upstream(200, [("Content-Type", "application/json")],
                           b'{"poll_interval_s": "soon", "assignments": {"digits": true}}'))

    def truncated_json(self):
        answer = self.forward()
        self.send(Upstream(200, answer.headers, answer.body[: len(answer.body) // 2]))

    def redirect(self):
        location = self.server.upstream + self.path
        self.send(Upstream(302, [("Location", location), ("Content-Type", "text/plain")], b"moved to " + location.encode()))

    def html_error(self):
        page = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n" \
               b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        self.send(Upstream(502, [("Content-Type", "text/html")], page))

    def retry_after_huge(self):
        self.send(Upstream(503, [("Retry-After", str(2**63 - 1)), ("Content-Type", "text/plain")], b"busy"))

    def poll_interval(self, seconds):
        answer = self.forward()
        document = json.loads(answer.body)
        document["poll_interval_s"] = seconds
        self.send(Upstream(answer.status, answer.headers, json.dumps(document).encode()))

    def path_names(self):
        """Renames every assignment to a path out of the agent's state folder."""
        answer = self.forward()
        document = json.loads(answer.body)
        for assignment in document["assignments"]:
            assignment["name"] = "../../escape"
        self.send(Upstream(answer.status, answer.headers, json.dumps(document).encode()))

    def range_from_zero(self):
        """Ignores the asked offset: the whole content, honestly labelled as bytes from 0."""
        if self.asked_start() is None:
            return self.send(self.forward())
        whole = self.forward({"Range": None, "If-Range": None})
        size = len(whole.body)
        self.send(Upstream(206, self.without(whole, "content-range") + [("Content-Range", f"bytes 0-{size - 1}/{size}")], whole.body))

    def range_wrong_start(self):
        """Serves (honestly labelled) bytes from further on than asked."""
        start = self.asked_start()
        if start is None:
            return self.send(self.forward())
        self.send(self.forward({"Range": f"bytes={start + 4096}-"}))

    def range_mislabelled(self):
        """Labels bytes from 0 as the asked range: the right length, the wrong bytes."""
        start = self.asked_start()
        if start is None:
            return self.send(self.forward())
        whole = self.forward({"Range": None, "If-Range": None})
        size = len(whole.body)
        label = ("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.send(Upstream(206, self.without(whole, "content-range") + [label], whole.body[: size - start]))

    # Faults of a flaky link: the first answer for each content path goes wrong, later ones
    # are honest (so an agent that resumes or retries must get through).

    def first_time(self):
        """True for the first request of this content path through the proxy."""
        with self.server.log_lock:
            seen = self.server.seen.get(self.path, 0)
            self.server.seen[self.path] = seen + 1
        return seen == 0

    def spoiled_first(self, how):
        if not self.first_time():
            return self.send(self.forward())
        how(self, self.forward())

    def cut(self, answer):
        """Announces the whole length, sends half, and closes."""
        self.head_only(answer)
        self.wfile.write(answer.body[: len(answer.body) // 2])
        self.wfile.flush()

    def short(self, answer):
        """Announces and sends only half: a clean answer that ends early."""
        half = answer.body[: len(answer.body) // 2]
        self.send(Upstream(answer.status, self.without(answer, "content-range", "content-length"), half))

    def reset(self, answer):
        """Sends a quarter, then resets the connection (RST, not FIN)."""
        self.head_only(answer)
        self.wfile.write(answer.body[: len(answer.body) // 4])
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    def stall(self, answer):
        """Sends half, then nothing: the agent's stall timeout must cut it."""
        self.head_only(answer)
        self.wfile.write(answer.body[: len(answer.body) // 2])
        self.wfile.flush()
        time.sleep(ENDLESS_LIMIT_SECONDS)

    def corrupt(self, answer):
        """Flips one byte in the middle: the right length, the wrong bytes."""
        body = bytearray(answer.body)
        if body:
            body[len(body) // 2] ^= 0xFF
        self.send(Upstream(answer.status, answer.headers, bytes(body)))

    def head_only(self, answer):
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("Connection", "close")
        self.end_headers()

    def trickle(self):
        """The real answer, one byte a second: only an overall deadline ends it."""
        answer = self.forward()
        self.head_only(answer)
        deadline = time.monotonic() + ENDLESS_LIMIT_SECONDS
        for byte in answer.body:
            if time.monotonic() > deadline:
                break
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(1)

    def gone(self):
        self.send(Upstream(410, [("Content-Type", "application/json")],
                           b'{"error": {"code": "gone", "message": "this content is no longer served"}}'))

    def flaky(self):
        """A random fault (or none) on every content answer, from a seeded generator."""
        with self.server.log_lock:
            roll = self.server.random.random()
        answer = self.forward()
        for limit, how in ((0.15, Handler.cut), (0.25, Handler.short), (0.35, Handler.reset), (0.40, Handler.stall),
                           (0.45, Handler.corrupt)):
            if roll < limit:
                return how(self, answer)
        self.send(answer)


# Which answers each mode spoils, and how; anything else is forwarded unchanged.
MODES = {
    "content-extra-bytes": {"content": Handler.extra_bytes},
    "content-extra-bytes-unframed": {"content": Handler.extra_bytes_unframed},
    "content-endless": {"content": Handler.endless},
    "content-redirect": {"content": Handler.redirect},
    "content-range-from-zero": {"content": Handler.range_from_zero},
    "content-range-wrong-start": {"content": Handler.range_wrong_start},
    "content-range-mislabelled": {"content": Handler.range_mislabelled},
    "checkin-huge": {"checkin": Handler.huge_json},
    "checkin-wrong-types": {"checkin": Handler.wrong_types},
    "checkin-truncated": {"checkin": Handler.truncated_json},
    "checkin-redirect": {"checkin": Handler.redirect},
    "checkin-html-error": {"checkin": Handler.html_error},
    "checkin-retry-after-huge": {"checkin": Handler.retry_after_huge},
    "checkin-poll-zero": {"checkin": lambda handler: handler.poll_interval(0)},
    "checkin-poll-huge": {"checkin": lambda handler: handler.poll_interval(2**63 - 1)},
    "checkin-path-names": {"checkin": Handler.path_names},
    "content-cut-first": {"content": lambda handler: handler.spoiled_first(Handler.cut)},
    "content-short-first": {"content": lambda handler: handler.spoiled_first(Handler.short)},
    "content-reset-first": {"content": lambda handler: handler.spoiled_first(Handler.reset)},
    "content-stall-first": {"content": lambda handler: handler.spoiled_first(Handler.stall)},
    "content-corrupt-first": {"content": lambda handler: handler.spoiled_first(Handler.corrupt)},
    "content-corrupt-always": {"content": lambda handler: Handler.corrupt(handler, handler.forward())},
    "content-gone": {"content": Handler.gone},
    "checkin-trickle": {"checkin": Handler.trickle},
    "checkin-replay": {"checkin": Handler.replay_first},
    "checkin-inject-root": {"checkin": Handler.inject_root},
    "checkin-compromised": {"checkin": Handler.compromised},
    "content-flaky": {"content": Handler.flaky},
    "session-expiry-hostile": {"session": lambda handler: handler.session_expiry(-2**63)},
    "checkin-pad-metadata": {"checkin": Handler.pad_metadata},
}


class Proxy(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream, mode, log_path):
        super().__init__(("127.0.0.1", 0), Handler)
        self.upstream = upstream.rstrip("/")
        self.mode = mode
        self.log_path = log_path
        self.log_lock = threading.Lock()
        self.seen = {}
        self.random = random.Random(int(os.environ.get("HOSTILE_PROXY_SEED", "1")))

    def note(self, line):
        if not self.log_path:
            return
        with self.log_lock, open(self.log_path, "a") as log:
            log.write(line + "\n")


def main(arguments):
    # A test harness may start us with SIGTERM blocked (Foundation's Process does): unblock
    # it, so that the harness can stop us.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Options of the modes that need them: --root FILE, --key FILE, --issued N, --assignment FILE.
    options = {}
    for name in ("--root", "--key", "--issued", "--assignment", "--pad", "--field"):
        if name in arguments:
            index = arguments.index(name)
            options[name] = arguments[index + 1]
            arguments = arguments[:index] + arguments[index + 2:]
    root_file = options.get("--root")
    if len(arguments) not in (2, 4) or arguments[1] not in MODES or (len(arguments) == 4 and arguments[2] != "--log"):
        sys.exit(f"usage: hostile_proxy.py UPSTREAM_URL MODE [--log FILE] [--root FILE] [--key FILE] [--issued N] [--assignment FILE] [--pad BYTES] [--field ROLE]\nmodes: {', '.join(MODES)}")
    upstream = urllib.parse.urlsplit(arguments[0])
    if upstream.scheme != "http" or upstream.hostname != "127.0.0.1":
        sys.exit("hostile_proxy.py only forwards to http://127.0.0.1:PORT")
    proxy = Proxy(arguments[0], arguments[1], arguments[3] if len(arguments) == 4 else None)
    proxy.root_file = root_file
    proxy.options = options
    print(proxy.server_address[1], flush=True)
    proxy.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
