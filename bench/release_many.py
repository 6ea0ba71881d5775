#!/usr/bin/env python3
"""Writes release metadata (TUF targets) listing many releases, signed with a release key:
the metadata of a fleet that has been releasing for a long time.

    release_many.py TEMPLATE KEY CHANNELS RELEASES_PER_CHANNEL BUNDLES OUT

TEMPLATE is a release metadata file written by `otactl release renew --out` (its payload
gives the version, expiry and existing releases, its signature the key id); KEY is the
release private key (PKCS#8 PEM) that signed it. The releases are spread over BUNDLES bundle
names on each of CHANNELS channels; the existing ones are kept. Used by bench/answer.sh and
the tests of large release metadata.
"""
import base64
import hashlib
import json
import sys

from cryptography.hazmat.primitives.serialization import load_pem_private_key


def main(template, key_path, channels, per_channel, bundles, out):
    with open(template, "rb") as f:
        envelope = json.load(f)
    signed = json.loads(base64.b64decode(envelope["payload"]))
    targets = signed["targets"]
    for channel in range(int(channels)):
        for release in range(int(per_channel)):
            name = f"bundle-{release % int(bundles):03d}"
            version = f"1.{release // int(bundles)}.{channel}"
            manifest = f"{name} {version} {channel}".encode()
            targets[f"channel-{channel:02d}/{name}/{version}"] = {
                "length": 4000 + release, "hashes": {"sha256": hashlib.sha256(manifest).hexdigest()}}
    signed["version"] += 1
    payload = json.dumps(signed, separators=(",", ":"), sort_keys=True).encode()
    kind = envelope["payloadType"].encode()
    pae = b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)
    with open(key_path, "rb") as f:
        key = load_pem_private_key(f.read(), password=None)
    envelope = {"payload": base64.b64encode(payload).decode(), "payloadType": envelope["payloadType"],
                "signatures": [{"keyid": envelope["signatures"][0]["keyid"], "sig": base64.b64encode(key.sign(pae)).decode()}]}
    with open(out, "w") as f:
        json.dump(envelope, f, separators=(",", ":"))
    print(f"{out}: {len(targets)} releases, {len(payload)} bytes of payload")


if __name__ == "__main__":
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    main(*sys.argv[1:])
