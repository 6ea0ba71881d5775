"""A device's side of the device API in Python (standard library plus the openssl command):
an Ed25519 key, registration and session proofs, and requests signed as RFC 9421 HTTP
Message Signatures with the session's HMAC-SHA256 key, exactly as ota-agent makes them.
For test fixtures (the dashboard's seed), not for devices."""

import base64
import hashlib
import hmac
import os
import subprocess
import tempfile
import time


class DeviceKey:
    def __init__(self, folder):
        self.path = os.path.join(folder, f"device-{os.urandom(4).hex()}.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", self.path], check=True, capture_output=True)
        der = subprocess.run(["openssl", "pkey", "-in", self.path, "-pubout", "-outform", "DER"], check=True, capture_output=True).stdout
        self.public = der[-32:]

    def sign(self, message):
        with tempfile.NamedTemporaryFile() as file:
            file.write(message)
            file.flush()
            return subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", self.path, "-in", file.name],
                                  check=True, capture_output=True).stdout

    def proof(self, purpose, device_id):
        created, nonce = int(time.time()), os.urandom(16).hex()
        message = f"{purpose}\n{device_id}\n{base64.b64encode(self.public).decode()}\n{created}\n{nonce}".encode()
        return {"created": created, "nonce": nonce, "signature": base64.b64encode(self.sign(message)).decode()}

    def registration(self, device_id, hardware, enrollment_token=None, attributes=None):
        body = {"device_id": device_id, "hardware": hardware, "public_key": base64.b64encode(self.public).decode(),
                "proof": self.proof("ota-register-v1", device_id), "attributes": attributes or {}}
        if enrollment_token:
            body["enrollment_token"] = enrollment_token
        return body


def signed_headers(method, path, body, session_id, session_key):
    """The Content-Digest, Signature-Input and Signature headers for one request."""
    digest = "sha-256=:%s:" % base64.b64encode(hashlib.sha256(body).digest()).decode()
    params = f'("@method" "@path" "content-digest");created={int(time.time())};keyid="{session_id}";alg="hmac-sha256"'
    base = f'"@method": {method}\n"@path": {path}\n"content-digest": {digest}\n"@signature-params": {params}'
    mac = base64.b64encode(hmac.new(session_key, base.encode(), hashlib.sha256).digest()).decode()
    return {"Content-Digest": digest, "Signature-Input": f"ota={params}", "Signature": f"ota=:{mac}:"}
