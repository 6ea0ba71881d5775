#!/usr/bin/env python3
"""Builds the battery of TUF repository states for the differential test.

Usage: make_states.py OUTPUT_DIR

Every state is a folder OUTPUT_DIR/NAME/ holding
  trusted/root.json        the root the client trusts before the update
  trusted/{timestamp,snapshot,targets}.json   optional, metadata trusted earlier
  remote/N.root.json       newer roots, N = 2, 3, ...
  remote/timestamp.json, remote/[V.]snapshot.json, remote/[V.]targets.json
  description.txt          one line: EXPECTATION: what the state tests

The expectation is what python-tuf's ngclient decides (differential.py --python-only
checks it): PASS or FAIL, or LAX for states ngclient accepts although a stricter client
may fairly reject them (differential.py reports those as "stricter", not as failures).

All metadata are DSSE envelopes (TUF POUF-2, payloadType application/vnd.tuf+json)
signed with Ed25519 keys made fresh on every run. Hostile states are made the way an
attacker would: by editing, re-signing or replaying files, so each state breaks one rule
and keeps everything else valid (e.g. the hashes in the parent metadata are computed
over the tampered bytes, so that the signature check is what has to catch the tamper).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from securesystemslib.signer import CryptoSigner, Key, SSlibKey
from tuf.api.dsse import SimpleEnvelope
from tuf.api.metadata import MetaFile, Role, Root, Snapshot, TargetFile, Targets, Timestamp

NOW = datetime.now(timezone.utc).replace(microsecond=0)
FUTURE = NOW + timedelta(days=365)
PAST = NOW - timedelta(days=1)
TUF_PAYLOAD_TYPE = SimpleEnvelope.DEFAULT_PAYLOAD_TYPE

Hook = Callable[[bytes], bytes]


# --------------------------------------------------------------------------- keys


class KeyRing:
    """Ed25519 signers by name ("root-a", "timestamp-b", ...), made on first use.

    Names keep the states readable; the keyids are whatever securesystemslib computes.
    """

    def __init__(self) -> None:
        self._signers: dict[str, CryptoSigner] = {}
        self.name_of: dict[str, str] = {}

    def signer(self, name: str) -> CryptoSigner:
        if name not in self._signers:
            signer = CryptoSigner.generate_ed25519()
            self._signers[name] = signer
            self.name_of[signer.public_key.keyid] = name
        return self._signers[name]

    def key(self, name: str) -> Key:
        return self.signer(name).public_key

    def keyid(self, name: str) -> str:
        return self.key(name).keyid


def set_role_keys(ring: KeyRing, root: Root, role: str, names: list[str], threshold: int = 1) -> None:
    """Give `role` exactly the keys `names` and drop keys no role uses any more."""
    root.roles[role] = Role([ring.keyid(n) for n in names], threshold)
    for name in names:
        root.keys[ring.keyid(name)] = ring.key(name)
    used = {keyid for r in root.roles.values() for keyid in r.keyids}
    root.keys = {keyid: key for keyid, key in root.keys.items() if keyid in used}


DEFAULT_ROLE_KEYS = {
    "root": ["root-a"],
    "targets": ["targets-a"],
    "snapshot": ["snapshot-a"],
    "timestamp": ["timestamp-a"],
}


def make_root(
    ring: KeyRing,
    *,
    keys: dict[str, list[str]] | None = None,
    thresholds: dict[str, int] | None = None,
    expires: datetime = FUTURE,
    consistent: bool = False,
) -> Root:
    """Version-1 root; `keys` overrides DEFAULT_ROLE_KEYS role by role."""
    root = Root(version=1, expires=expires, consistent_snapshot=consistent)
    for role, names in {**DEFAULT_ROLE_KEYS, **(keys or {})}.items():
        set_role_keys(ring, root, role, names, (thresholds or {}).get(role, 1))
    return root


# ---------------------------------------------------------------------- envelopes


def payload_of(signed) -> bytes:
    return json.dumps(signed.to_dict()).encode()


def sign_payload(ring: KeyRing, payload: bytes, signers: list[str], payload_type: str = TUF_PAYLOAD_TYPE) -> bytes:
    """A DSSE envelope over arbitrary payload bytes (so states can sign broken payloads)."""
    envelope = SimpleEnvelope(payload, payload_type, {})
    for name in signers:
        envelope.sign(ring.signer(name))
    return envelope.to_bytes()


def edit_signed(edit: Callable[[dict], None]) -> Hook:
    """A before-signing hook: edit the payload as a dict (the signature covers the edit)."""

    def hook(payload: bytes) -> bytes:
        signed = json.loads(payload)
        edit(signed)
        return json.dumps(signed).encode()

    return hook


def edit_envelope(edit: Callable[[dict], None]) -> Hook:
    """An after-signing hook: edit the envelope dict (signatures, payloadType, ...)."""

    def hook(data: bytes) -> bytes:
        envelope = json.loads(data)
        edit(envelope)
        return json.dumps(envelope).encode()

    return hook


def tamper_payload(edit: Callable[[dict], None]) -> Hook:
    """An after-signing hook: change the payload but keep the old signatures."""

    def change(envelope: dict) -> None:
        signed = json.loads(base64.b64decode(envelope["payload"]))
        edit(signed)
        envelope["payload"] = base64.b64encode(json.dumps(signed).encode()).decode()

    return edit_envelope(change)


def sign_raw_payload_instead_of_pae(ring: KeyRing, name: str) -> Hook:
    """Replace the signatures by one over the bare payload, not DSSE's PAE encoding."""

    def change(envelope: dict) -> None:
        payload = base64.b64decode(envelope["payload"])
        signature = ring.signer(name).sign(payload)
        envelope["signatures"] = [{"keyid": signature.keyid, "sig": base64.b64encode(bytes.fromhex(signature.signature)).decode()}]

    return edit_envelope(change)


def metafile(data: bytes, version: int, algorithms: tuple[str, ...] = ("sha256",)) -> MetaFile:
    """Meta for a file: its version, plus length and hashes unless `algorithms` is empty."""
    if not algorithms:
        return MetaFile(version=version)
    hashes = {name: hashlib.new(name, data).hexdigest() for name in algorithms}
    return MetaFile(version=version, length=len(data), hashes=hashes)


def sample_targets() -> dict[str, TargetFile]:
    """Targets named channel/name/version, over made-up model bytes."""
    files = {
        "stable/face-detector/1.4.0": b"face-detector 1.4.0 model bytes",
        "stable/face-detector/1.3.2": b"face-detector 1.3.2 model bytes",
        "beta/face-detector/1.5.0-rc.1": b"face-detector 1.5.0-rc.1 model bytes",
        "stable/plate-reader/2.0.1": b"plate-reader 2.0.1 model bytes",
    }
    return {path: TargetFile.from_data(path, data, ["sha256"]) for path, data in files.items()}


# --------------------------------------------------------------------- repository


@dataclass
class Published:
    """One publication: role -> (remote file name, bytes), plus the newer roots."""

    files: dict[str, tuple[str, bytes]]
    roots: dict[str, bytes] = field(default_factory=dict)

    def remote(self, *omit: str) -> dict[str, bytes]:
        """The remote/ folder; `omit` names roles whose file the repository lacks."""
        remote = dict(self.roots)
        remote.update({name: data for role, (name, data) in self.files.items() if role not in omit})
        return remote

    def trusted(self, *roles: str) -> dict[str, bytes]:
        """Files for trusted/ (unversioned names, as a client stores them)."""
        return {f"{role}.json": self.files[role][1] for role in roles}

    def data(self, role: str) -> bytes:
        return self.files[role][1]


class Repo:
    """A TUF repository that signs targets -> snapshot -> timestamp consistently.

    Versions and expiry are plain attributes (repo.timestamp.version = 5); the hooks of
    publish() and rotate() break exactly one thing for a hostile state.
    """

    def __init__(self, ring: KeyRing, root: Root, root_signers: list[str] | None = None):
        self.ring = ring
        self.root = root
        self.trusted_root_version = 1
        self.root_files = {1: sign_payload(ring, payload_of(root), root_signers or self.role_signers("root"))}
        self.targets = Targets(version=1, expires=FUTURE, targets=sample_targets())
        self.snapshot = Snapshot(version=1, expires=FUTURE)
        self.timestamp = Timestamp(version=1, expires=FUTURE)

    def role_signers(self, role: str, root: Root | None = None) -> list[str]:
        """Names of every key of `role` in `root` (default: the newest root)."""
        root = root or self.root
        return [self.ring.name_of[k] for k in root.roles[role].keyids if k in self.ring.name_of]

    def trusted_root(self, version: int | None = None) -> dict[str, bytes]:
        return {"root.json": self.root_files[version or self.trusted_root_version]}

    def bump(self, *roles: str) -> None:
        """Raise the version of the given roles (default: targets, snapshot, timestamp)."""
        for role in roles or ("targets", "snapshot", "timestamp"):
            getattr(self, role).version += 1

    def rotate(
        self,
        edit: Callable[[Root], None] | None = None,
        *,
        signers: list[str] | None = None,
        before_sign: Hook | None = None,
        after_sign: Hook | None = None,
    ) -> Root:
        """Publish the next root as N.root.json (N = newest + 1).

        Signed by default with every root key of the old and the new root, which meets
        both thresholds. `edit` changes the new root (keys, expiry, even its version).
        """
        number = self.root.version + 1
        new = copy.deepcopy(self.root)
        new.version = number
        if edit:
            edit(new)
        if signers is None:
            signers = list(dict.fromkeys(self.role_signers("root") + self.role_signers("root", new)))
        payload = payload_of(new)
        if before_sign:
            payload = before_sign(payload)
        data = sign_payload(self.ring, payload, signers)
        if after_sign:
            data = after_sign(data)
        self.root_files[number] = data
        self.root = new
        return new

    def publish(
        self,
        *,
        before_sign: dict[str, Hook] | None = None,
        after_sign: dict[str, Hook] | None = None,
        meta: dict[str, Callable[[MetaFile], None]] | None = None,
        signers: dict[str, list[str]] | None = None,
        hashes: tuple[str, ...] = ("sha256",),
    ) -> Published:
        """Sign targets, then snapshot (with targets' meta), then timestamp.

        before_sign[role] edits the payload bytes before signing, after_sign[role] edits the
        envelope bytes after; meta["targets"] / meta["snapshot"] edit the MetaFile that
        snapshot / timestamp carry for the file below (after it is computed from bytes);
        `hashes` are the algorithms of that meta (none: version only, no length either).
        """
        before_sign, after_sign, meta, signers = before_sign or {}, after_sign or {}, meta or {}, signers or {}

        def sign(role: str, signed) -> bytes:
            payload = payload_of(signed)
            if role in before_sign:
                payload = before_sign[role](payload)
            data = sign_payload(self.ring, payload, signers.get(role, self.role_signers(role)))
            if role in after_sign:
                data = after_sign[role](data)
            return data

        targets = sign("targets", self.targets)
        targets_meta = metafile(targets, self.targets.version, hashes)
        if "targets" in meta:
            meta["targets"](targets_meta)
        self.snapshot.meta = {"targets.json": targets_meta}
        snapshot = sign("snapshot", self.snapshot)
        snapshot_meta = metafile(snapshot, self.snapshot.version, hashes)
        if "snapshot" in meta:
            meta["snapshot"](snapshot_meta)
        self.timestamp.snapshot_meta = snapshot_meta
        timestamp = sign("timestamp", self.timestamp)

        # With consistent snapshots the client asks for the version its parent names.
        prefix = self.root.consistent_snapshot
        files = {
            "targets": (f"{targets_meta.version}.targets.json" if prefix else "targets.json", targets),
            "snapshot": (f"{snapshot_meta.version}.snapshot.json" if prefix else "snapshot.json", snapshot),
            "timestamp": ("timestamp.json", timestamp),
        }
        roots = {f"{n}.root.json": data for n, data in self.root_files.items() if n > self.trusted_root_version}
        return Published(files, roots)


# ------------------------------------------------------------------------- states

STATES: list[tuple[str, str, Callable[[KeyRing], tuple[dict, dict]]]] = []


def state(name: str, description: str):
    """Register a state builder: ring -> (trusted files, remote files)."""

    def register(build):
        STATES.append((name, description, build))
        return build

    return register


def fresh(ring: KeyRing, **root_args) -> Repo:
    return Repo(ring, make_root(ring, **root_args))


def simple(ring: KeyRing, **publish_args) -> tuple[dict, dict]:
    """A fresh repository with one publish() hook: the shape of most single-file attacks."""
    repo = fresh(ring)
    return repo.trusted_root(), repo.publish(**publish_args).remote()


def trusted_then_bump(repo: Repo, *trusted_roles: str) -> dict[str, bytes]:
    """Publish the current versions as what the client trusted earlier (root plus
    `trusted_roles`), then bump every version so the next publish() is the update."""
    trusted = {**repo.trusted_root(), **repo.publish().trusted(*trusted_roles)}
    repo.bump()
    return trusted


# --- valid repositories


@state("valid-fresh", "PASS: a valid fresh repository, nothing trusted but root v1")
def _(ring):
    return simple(ring)


@state("valid-update-from-trusted", "PASS: trusted timestamp/snapshot/targets v1, remote has valid v2 of each")
def _(ring):
    repo = fresh(ring)
    trusted = trusted_then_bump(repo, "timestamp", "snapshot", "targets")
    return trusted, repo.publish().remote()


@state("valid-consistent-snapshot", "PASS: consistent_snapshot=true, remote has 4.snapshot.json and 3.targets.json")
def _(ring):
    repo = fresh(ring, consistent=True)
    repo.snapshot.version, repo.targets.version = 4, 3
    return repo.trusted_root(), repo.publish().remote()


@state("valid-consistent-snapshot-update", "PASS: consistent_snapshot=true, trusted v1 metadata, remote v2 (2.snapshot.json, 2.targets.json)")
def _(ring):
    repo = fresh(ring, consistent=True)
    trusted = trusted_then_bump(repo, "timestamp", "snapshot", "targets")
    return trusted, repo.publish().remote()


@state("consistent-snapshot-unversioned-files", "FAIL: consistent_snapshot=true but remote only has unversioned snapshot.json/targets.json")
def _(ring):
    repo = fresh(ring, consistent=True)
    published = repo.publish()
    remote = published.remote()
    remote["snapshot.json"] = remote.pop("1.snapshot.json")
    remote["targets.json"] = remote.pop("1.targets.json")
    return repo.trusted_root(), remote


@state("root-rotation-enables-consistent-snapshot", "PASS: root v2 switches consistent_snapshot on, remote files are versioned")
def _(ring):
    repo = fresh(ring)
    repo.rotate(lambda r: setattr(r, "consistent_snapshot", True))
    repo.snapshot.version = 2
    return repo.trusted_root(), repo.publish().remote()


@state("meta-without-hashes-or-length", "PASS: timestamp and snapshot meta give only versions (hashes and length are optional)")
def _(ring):
    return simple(ring, hashes=())


@state("meta-sha256-and-sha512", "PASS: timestamp and snapshot meta carry correct sha256 and sha512 hashes")
def _(ring):
    return simple(ring, hashes=("sha256", "sha512"))


# --- root rotation


@state("root-rotation-1-2", "PASS: root v2 replaces root key a by b, signed by a (old) and b (new)")
def _(ring):
    repo = fresh(ring)
    repo.rotate(lambda r: set_role_keys(ring, r, "root", ["root-b"]))
    return repo.trusted_root(), repo.publish().remote()


@state("root-chain-1-2-3", "PASS: roots 1 -> 2 -> 3, root key a -> b -> c, each signed by old and new key")
def _(ring):
    repo = fresh(ring)
    repo.rotate(lambda r: set_role_keys(ring, r, "root", ["root-b"]))
    repo.rotate(lambda r: set_role_keys(ring, r, "root", ["root-c"]))
    return repo.trusted_root(), repo.publish().remote()


@state("root-rotation-old-threshold-not-met", "FAIL: root v2 (key b) is signed only by the new key b, not by old key a")
def _(ring):
    repo = fresh(ring)
    repo.rotate(lambda r: set_role_keys(ring, r, "root", ["root-b"]), signers=["root-b"])
    return repo.trusted_root(), repo.publish().remote()


@state("root-rotation-new-threshold-not-met", "FAIL: root v2 (key b) is signed only by the old key a, not by new key b")
def _(ring):
    repo = fresh(ring)
    repo.rotate(lambda r: set_role_keys(ring, r, "root", ["root-b"]), signers=["root-a"])
    return repo.trusted_root(), repo.publish().remote()


@state("root-chain-broken-in-middle", "FAIL: 1 -> 2 valid, 3.root.json signed only by its own new key c")
def _(ring):
    repo = fresh(ring)
    repo.rotate(lambda r: set_role_keys(ring, r, "root", ["root-b"]))
    repo.rotate(lambda r: set_role_keys(ring, r, "root", ["root-c"]), signers=["root-c"])
    return repo.trusted_root(), repo.publish().remote()


@state("root-version-skip", "FAIL: file 2.root.json holds a validly signed root with version 3")
def _(ring):
    repo = fresh(ring)
    repo.rotate(lambda r: setattr(r, "version", 3))
    return repo.trusted_root(), repo.publish().remote()


@state("root-version-goes-back", "FAIL: trusted root v2; file 3.root.json holds a validly signed root with version 1")
def _(ring):
    repo = fresh(ring)
    repo.rotate()
    repo.trusted_root_version = 2
    repo.rotate(lambda r: setattr(r, "version", 1))
    return repo.trusted_root(), repo.publish().remote()


@state("root-replayed-as-next", "FAIL: trusted root v2; 3.root.json is a byte copy of 2.root.json")
def _(ring):
    repo = fresh(ring)
    repo.rotate()
    repo.trusted_root_version = 2
    remote = repo.publish().remote()
    remote["3.root.json"] = repo.root_files[2]
    return repo.trusted_root(), remote


@state("root-threshold-2of3-met", "PASS: root threshold 2 of keys a,b,c; v2 signed by b and c")
def _(ring):
    repo = Repo(ring, make_root(ring, keys={"root": ["root-a", "root-b", "root-c"]}, thresholds={"root": 2}), ["root-a", "root-b"])
    repo.rotate(signers=["root-b", "root-c"])
    return repo.trusted_root(), repo.publish().remote()


@state("root-threshold-2of3-not-met", "FAIL: root threshold 2 of keys a,b,c; v2 signed by a only")
def _(ring):
    repo = Repo(ring, make_root(ring, keys={"root": ["root-a", "root-b", "root-c"]}, thresholds={"root": 2}), ["root-a", "root-b"])
    repo.rotate(signers=["root-a"])
    return repo.trusted_root(), repo.publish().remote()


@state("root-threshold-2of3-one-bad-signature", "FAIL: root threshold 2 of a,b,c; v2 signed by a, and b's signature is garbage")
def _(ring):
    def spoil_b(envelope: dict) -> None:
        for sig in envelope["signatures"]:
            if sig["keyid"] == ring.keyid("root-b"):
                sig["sig"] = base64.b64encode(bytes(64)).decode()

    repo = Repo(ring, make_root(ring, keys={"root": ["root-a", "root-b", "root-c"]}, thresholds={"root": 2}), ["root-a", "root-b"])
    repo.rotate(signers=["root-a", "root-b"], after_sign=edit_envelope(spoil_b))
    return repo.trusted_root(), repo.publish().remote()


@state("trusted-root-not-self-signed", "FAIL: the trusted root (threshold 2 of a,b,c) carries only a's signature")
def _(ring):
    repo = Repo(ring, make_root(ring, keys={"root": ["root-a", "root-b", "root-c"]}, thresholds={"root": 2}), ["root-a"])
    return repo.trusted_root(), repo.publish().remote()


@state("trusted-root-corrupt", "FAIL: trusted/root.json is not JSON: nothing to start from")
def _(ring):
    repo = fresh(ring)
    return {"root.json": b'{"payload": '}, repo.publish().remote()


def duplicate_first_signature(envelope: dict) -> None:
    envelope["signatures"].append(dict(envelope["signatures"][0]))


@state("root-duplicate-signature-same-key", "FAIL: root threshold 2 of a,b,c; v2 carries a's signature twice")
def _(ring):
    repo = Repo(ring, make_root(ring, keys={"root": ["root-a", "root-b", "root-c"]}, thresholds={"root": 2}), ["root-a", "root-b"])
    repo.rotate(signers=["root-a"], after_sign=edit_envelope(duplicate_first_signature))
    return repo.trusted_root(), repo.publish().remote()


@state("timestamp-duplicate-signature-threshold-met", "FAIL: timestamp (threshold 1) carries its valid signature twice; ngclient refuses any envelope with a repeated keyid")
def _(ring):
    return simple(ring, after_sign={"timestamp": edit_envelope(duplicate_first_signature)})


@state("root-same-key-under-two-keyids", "LAX: root lists one public key under two keyids with threshold 2; v2 signed by that one key twice (once per keyid)")
def _(ring):
    alias = "ab" * 32
    key = ring.key("root-a")

    def alias_root(r: Root) -> None:
        r.keys[alias] = SSlibKey(alias, key.keytype, key.scheme, dict(key.keyval))
        r.roles["root"] = Role([ring.keyid("root-a"), alias], 2)

    def add_alias_signature(envelope: dict) -> None:
        envelope["signatures"].append({"keyid": alias, "sig": envelope["signatures"][0]["sig"]})

    root = make_root(ring)
    alias_root(root)
    repo = Repo(ring, root, ["root-a"])
    repo.root_files[1] = edit_envelope(add_alias_signature)(repo.root_files[1])
    repo.rotate(signers=["root-a"], after_sign=edit_envelope(add_alias_signature))
    return repo.trusted_root(), repo.publish().remote()


@state("root-role-keyid-without-key", "PASS: root role lists an extra keyid that has no key in 'keys'; threshold 1 met by root key a")
def _(ring):
    root = make_root(ring)
    root.roles["root"].keyids.append("cd" * 32)
    repo = Repo(ring, root, ["root-a"])
    return repo.trusted_root(), repo.publish().remote()


@state("root-threshold-zero", "FAIL: root v2 sets the timestamp role threshold to 0")
def _(ring):
    repo = fresh(ring)
    repo.rotate(before_sign=edit_signed(lambda d: d["roles"]["timestamp"].update(threshold=0)))
    return repo.trusted_root(), repo.publish().remote()


@state("root-missing-role", "FAIL: root v2 has no 'timestamp' role")
def _(ring):
    repo = fresh(ring)
    repo.rotate(before_sign=edit_signed(lambda d: d["roles"].pop("timestamp")))
    return repo.trusted_root(), repo.publish().remote()


# --- signatures


@state("signature-unknown-key-only", "FAIL: timestamp signed only by a key the root does not know")
def _(ring):
    return simple(ring, signers={"timestamp": ["stranger"]})


@state("signature-unknown-key-extra", "PASS: timestamp signed by its key plus a key the root does not know (extra signatures are ignored)")
def _(ring):
    return simple(ring, signers={"timestamp": ["timestamp-a", "stranger"]})


@state("signature-wrong-role-key", "FAIL: timestamp signed by the snapshot key (known to root, wrong role)")
def _(ring):
    return simple(ring, signers={"timestamp": ["snapshot-a"]})


@state("signature-keyid-relabelled", "FAIL: timestamp signed by a stranger's key under the timestamp key's keyid")
def _(ring):
    def relabel(envelope: dict) -> None:
        envelope["signatures"][0]["keyid"] = ring.keyid("timestamp-a")

    return simple(ring, signers={"timestamp": ["stranger"]}, after_sign={"timestamp": edit_envelope(relabel)})


@state("signature-altered-payload-timestamp", "FAIL: timestamp payload changed after signing (expiry pushed out)")
def _(ring):
    return simple(ring, after_sign={"timestamp": tamper_payload(lambda d: d.update(expires="2099-01-01T00:00:00Z"))})


@state("signature-altered-payload-targets", "FAIL: targets payload changed after signing (a target's hash); snapshot meta matches the altered bytes")
def _(ring):
    def swap(d: dict) -> None:
        d["targets"]["stable/face-detector/1.4.0"]["hashes"]["sha256"] = "00" * 32

    return simple(ring, after_sign={"targets": tamper_payload(swap)})


@state("signature-altered-payload-root", "FAIL: root v2 changed after signing (a new timestamp key slipped in)")
def _(ring):
    stranger = ring.key("stranger")

    def add_key(d: dict) -> None:
        d["keys"][stranger.keyid] = stranger.to_dict()
        d["roles"]["timestamp"]["keyids"] = [stranger.keyid]

    repo = fresh(ring)
    repo.rotate(after_sign=tamper_payload(add_key))
    return repo.trusted_root(), repo.publish(signers={"timestamp": ["stranger"]}).remote()


@state("signature-altered-payload-type", "FAIL: timestamp signed with payloadType application/vnd.tuf+json, envelope then says application/json")
def _(ring):
    return simple(ring, after_sign={"timestamp": edit_envelope(lambda e: e.update(payloadType="application/json"))})


@state("signature-over-raw-payload", "FAIL: timestamp signature is over the bare payload, not over DSSE's PAE")
def _(ring):
    return simple(ring, after_sign={"timestamp": sign_raw_payload_instead_of_pae(ring, "timestamp-a")})


@state("signature-garbage-bytes", "FAIL: timestamp signature is 64 zero bytes")
def _(ring):
    def zero(envelope: dict) -> None:
        envelope["signatures"][0]["sig"] = base64.b64encode(bytes(64)).decode()

    return simple(ring, after_sign={"timestamp": edit_envelope(zero)})


@state("signature-truncated", "FAIL: timestamp signature cut to 32 bytes")
def _(ring):
    def cut(envelope: dict) -> None:
        sig = base64.b64decode(envelope["signatures"][0]["sig"])
        envelope["signatures"][0]["sig"] = base64.b64encode(sig[:32]).decode()

    return simple(ring, after_sign={"timestamp": edit_envelope(cut)})


@state("signature-list-empty", "FAIL: timestamp envelope has an empty signatures list")
def _(ring):
    return simple(ring, after_sign={"timestamp": edit_envelope(lambda e: e.update(signatures=[]))})


@state("signature-not-base64", "FAIL: timestamp signature value is not base64")
def _(ring):
    def spoil(envelope: dict) -> None:
        envelope["signatures"][0]["sig"] = "not base64 at all!"

    return simple(ring, after_sign={"timestamp": edit_envelope(spoil)})


@state("wrong-payload-type", "FAIL: timestamp validly signed but with payloadType application/json")
def _(ring):
    repo = fresh(ring)
    published = repo.publish()
    payload = payload_of(repo.timestamp)
    published.files["timestamp"] = ("timestamp.json", sign_payload(ring, payload, ["timestamp-a"], "application/json"))
    return repo.trusted_root(), published.remote()


# --- expiry


@state("expired-final-root", "FAIL: the trusted root v1 is expired and no newer root exists")
def _(ring):
    repo = fresh(ring, expires=PAST)
    return repo.trusted_root(), repo.publish().remote()


@state("expired-trusted-root-renewed", "PASS: the trusted root v1 is expired, remote 2.root.json is valid and current")
def _(ring):
    repo = fresh(ring, expires=PAST)
    repo.rotate(lambda r: setattr(r, "expires", FUTURE))
    return repo.trusted_root(), repo.publish().remote()


@state("expired-intermediate-root", "PASS: roots 1 -> 2 -> 3 where v2 is expired; v3 is current")
def _(ring):
    repo = fresh(ring)
    repo.rotate(lambda r: setattr(r, "expires", PAST))
    repo.rotate(lambda r: setattr(r, "expires", FUTURE))
    return repo.trusted_root(), repo.publish().remote()


@state("expired-final-root-after-rotation", "FAIL: 1 -> 2 valid rotation, but the final root v2 is expired")
def _(ring):
    repo = fresh(ring)
    repo.rotate(lambda r: setattr(r, "expires", PAST))
    return repo.trusted_root(), repo.publish().remote()


@state("expired-timestamp", "FAIL: timestamp is expired")
def _(ring):
    repo = fresh(ring)
    repo.timestamp.expires = PAST
    return repo.trusted_root(), repo.publish().remote()


@state("expired-snapshot", "FAIL: snapshot is expired")
def _(ring):
    repo = fresh(ring)
    repo.snapshot.expires = PAST
    return repo.trusted_root(), repo.publish().remote()


@state("expired-targets", "FAIL: targets is expired")
def _(ring):
    repo = fresh(ring)
    repo.targets.expires = PAST
    return repo.trusted_root(), repo.publish().remote()


@state("trusted-timestamp-expired-remote-newer", "PASS: trusted timestamp v1 is expired, remote timestamp v2 is current")
def _(ring):
    repo = fresh(ring)
    repo.timestamp.expires = PAST
    trusted = trusted_then_bump(repo, "timestamp")
    repo.timestamp.expires = FUTURE
    return trusted, repo.publish().remote()


@state("expires-with-fraction-of-second", "FAIL: targets 'expires' is 2099-01-01T00:00:00.5Z (TUF wants YYYY-MM-DDTHH:MM:SSZ)")
def _(ring):
    return simple(ring, before_sign={"targets": edit_signed(lambda d: d.update(expires="2099-01-01T00:00:00.5Z"))})


@state("expires-with-utc-offset", "FAIL: targets 'expires' is 2099-01-01T00:00:00+00:00 instead of ...Z")
def _(ring):
    return simple(ring, before_sign={"targets": edit_signed(lambda d: d.update(expires="2099-01-01T00:00:00+00:00"))})


# --- timestamp rollback


@state("timestamp-rollback", "FAIL: trusted timestamp v5, remote timestamp v4")
def _(ring):
    repo = fresh(ring)
    repo.timestamp.version = 5
    trusted = {**repo.trusted_root(), **repo.publish().trusted("timestamp")}
    repo.timestamp.version = 4
    return trusted, repo.publish().remote()


@state("timestamp-equal-version", "PASS: remote timestamp is the same file as the trusted one (v3)")
def _(ring):
    repo = fresh(ring)
    repo.timestamp.version = 3
    published = repo.publish()
    return {**repo.trusted_root(), **published.trusted("timestamp")}, published.remote()


@state("timestamp-equal-version-different-content", "FAIL: trusted timestamp v3 names snapshot v1; remote timestamp is also v3 but names snapshot v2 (ngclient keeps the trusted one)")
def _(ring):
    repo = fresh(ring)
    repo.timestamp.version = 3
    trusted = {**repo.trusted_root(), **repo.publish().trusted("timestamp")}
    repo.bump("snapshot", "targets")
    return trusted, repo.publish().remote()


@state("timestamp-equal-version-trusted-expired", "FAIL: trusted timestamp v3 is expired; remote timestamp v3 is re-signed with a new expiry but the same version")
def _(ring):
    repo = fresh(ring)
    repo.timestamp.version = 3
    repo.timestamp.expires = PAST
    trusted = {**repo.trusted_root(), **repo.publish().trusted("timestamp")}
    repo.timestamp.expires = FUTURE
    return trusted, repo.publish().remote()


@state("timestamp-snapshot-meta-rollback", "FAIL: trusted timestamp v1 names snapshot v5; remote timestamp v2 names snapshot v4")
def _(ring):
    repo = fresh(ring)
    repo.snapshot.version = 5
    trusted = {**repo.trusted_root(), **repo.publish().trusted("timestamp")}
    repo.timestamp.version, repo.snapshot.version = 2, 4
    return trusted, repo.publish().remote()


@state("timestamp-rollback-across-root-rotation", "FAIL: root 1 -> 2 keeps the timestamp key; trusted timestamp v10, remote v9")
def _(ring):
    repo = fresh(ring)
    repo.timestamp.version = 10
    trusted = {**repo.trusted_root(), **repo.publish().trusted("timestamp")}
    repo.rotate(lambda r: set_role_keys(ring, r, "root", ["root-b"]))
    repo.timestamp.version = 9
    return trusted, repo.publish().remote()


@state("timestamp-key-rotated-restarts-rollback", "PASS: root v2 rotates the timestamp key; trusted timestamp v10 (old key) no longer verifies, so remote v1 (new key) is accepted")
def _(ring):
    repo = fresh(ring)
    repo.timestamp.version = 10
    trusted = {**repo.trusted_root(), **repo.publish().trusted("timestamp", "snapshot")}
    repo.rotate(lambda r: set_role_keys(ring, r, "timestamp", ["timestamp-b"]))
    repo.timestamp.version = 1
    return trusted, repo.publish().remote()


@state("timestamp-signed-by-rotated-out-key", "FAIL: root v2 replaces timestamp key a by b; remote timestamp still signed by a")
def _(ring):
    repo = fresh(ring)
    repo.rotate(lambda r: set_role_keys(ring, r, "timestamp", ["timestamp-b"]))
    return repo.trusted_root(), repo.publish(signers={"timestamp": ["timestamp-a"]}).remote()


@state("timestamp-version-float", "LAX: trusted timestamp v3, remote timestamp 'version': 3.5 (JSON number, not an integer)")
def _(ring):
    repo = fresh(ring)
    repo.timestamp.version = 3
    trusted = {**repo.trusted_root(), **repo.publish().trusted("timestamp")}
    return trusted, repo.publish(before_sign={"timestamp": edit_signed(lambda d: d.update(version=3.5))}).remote()


@state("timestamp-version-string", "FAIL: timestamp 'version' is the string \"2\"")
def _(ring):
    return simple(ring, before_sign={"timestamp": edit_signed(lambda d: d.update(version="2"))})


@state("timestamp-version-zero", "FAIL: timestamp 'version' is 0")
def _(ring):
    return simple(ring, before_sign={"timestamp": edit_signed(lambda d: d.update(version=0))})


@state("timestamp-meta-missing-snapshot", "FAIL: timestamp meta has no snapshot.json entry")
def _(ring):
    return simple(ring, before_sign={"timestamp": edit_signed(lambda d: d.update(meta={}))})


@state("timestamp-oversized", "FAIL: timestamp.json is 1 MiB (an unknown field padded out: endless-data defence)")
def _(ring):
    return simple(ring, before_sign={"timestamp": edit_signed(lambda d: d.update({"x-padding": "A" * (1 << 20)}))})


# --- snapshot


@state("snapshot-version-mismatch", "FAIL: timestamp names snapshot v2, snapshot.json is v1 (hashes match its bytes)")
def _(ring):
    return simple(ring, meta={"snapshot": lambda m: setattr(m, "version", 2)})


@state("snapshot-hash-mismatch", "FAIL: timestamp's sha256 for snapshot.json is wrong")
def _(ring):
    return simple(ring, meta={"snapshot": lambda m: m.hashes.update(sha256="00" * 32)})


@state("snapshot-length-too-short", "FAIL: timestamp's length for snapshot.json is 10 bytes less than the file")
def _(ring):
    return simple(ring, meta={"snapshot": lambda m: setattr(m, "length", m.length - 10)})


@state("snapshot-length-too-long", "FAIL: timestamp's length for snapshot.json is 10 bytes more than the file")
def _(ring):
    return simple(ring, meta={"snapshot": lambda m: setattr(m, "length", m.length + 10)})


@state("snapshot-meta-unknown-hash-algorithm", "FAIL: timestamp's only hash for snapshot.json uses algorithm 'sha1024'")
def _(ring):
    return simple(ring, meta={"snapshot": lambda m: setattr(m, "hashes", {"sha1024": "00" * 128})})


@state("snapshot-meta-sha512-wrong", "FAIL: timestamp's sha256 for snapshot.json is right, its sha512 is wrong")
def _(ring):
    return simple(ring, meta={"snapshot": lambda m: m.hashes.update(sha512="00" * 64)})


@state("snapshot-missing-targets-entry", "FAIL: snapshot meta has no targets.json entry")
def _(ring):
    return simple(ring, before_sign={"snapshot": edit_signed(lambda d: d.update(meta={}))})


@state("snapshot-drops-entry-from-trusted", "FAIL: trusted snapshot lists targets.json and face-models.json; remote snapshot v2 drops face-models.json")
def _(ring):
    repo = fresh(ring)
    add = edit_signed(lambda d: d["meta"].update({"face-models.json": {"version": 1}}))
    trusted = {**repo.trusted_root(), **repo.publish(before_sign={"snapshot": add}).trusted("timestamp", "snapshot")}
    repo.bump()
    return trusted, repo.publish().remote()


@state("snapshot-signed-by-timestamp-key", "FAIL: snapshot signed by the timestamp key")
def _(ring):
    return simple(ring, signers={"snapshot": ["timestamp-a"]})


@state("snapshot-key-rotated-restarts-rollback", "PASS: root v2 rotates the snapshot key; trusted snapshot (old key, names targets v5) no longer verifies, so remote targets v1 is accepted")
def _(ring):
    repo = fresh(ring)
    repo.targets.version = 5
    trusted = {**repo.trusted_root(), **repo.publish().trusted("timestamp", "snapshot")}
    repo.rotate(lambda r: set_role_keys(ring, r, "snapshot", ["snapshot-b"]))
    repo.timestamp.version, repo.snapshot.version, repo.targets.version = 2, 2, 1
    return trusted, repo.publish().remote()


@state("trusted-snapshot-current-remote-missing", "LAX: trusted snapshot already is the one the new timestamp names, remote has no snapshot.json (ngclient does not download it)")
def _(ring):
    repo = fresh(ring)
    published = repo.publish()
    trusted = {**repo.trusted_root(), **published.trusted("snapshot", "targets")}
    return trusted, published.remote("snapshot")


@state("trusted-snapshot-corrupt", "PASS: trusted/snapshot.json is garbage; the remote repository is valid")
def _(ring):
    repo = fresh(ring)
    trusted = trusted_then_bump(repo, "timestamp")
    return {**trusted, "snapshot.json": b"\x00garbage"}, repo.publish().remote()


# --- targets


@state("targets-version-mismatch", "FAIL: snapshot names targets v2, targets.json is v1 (hashes match its bytes)")
def _(ring):
    return simple(ring, meta={"targets": lambda m: setattr(m, "version", 2)})


@state("targets-hash-mismatch", "FAIL: snapshot's sha256 for targets.json is wrong")
def _(ring):
    return simple(ring, meta={"targets": lambda m: m.hashes.update(sha256="11" * 32)})


@state("targets-length-mismatch", "FAIL: snapshot's length for targets.json is one byte short")
def _(ring):
    return simple(ring, meta={"targets": lambda m: setattr(m, "length", m.length - 1)})


@state("targets-rollback-vs-trusted-snapshot", "FAIL: trusted snapshot names targets v5; remote snapshot v2 names targets v4 (and targets.json is v4)")
def _(ring):
    repo = fresh(ring)
    repo.targets.version = 5
    trusted = {**repo.trusted_root(), **repo.publish().trusted("timestamp", "snapshot")}
    repo.timestamp.version, repo.snapshot.version, repo.targets.version = 2, 2, 4
    return trusted, repo.publish().remote()


@state("targets-key-removed", "FAIL: root v2 replaces targets key a by b; targets signed only by the removed key a")
def _(ring):
    repo = fresh(ring)
    repo.rotate(lambda r: set_role_keys(ring, r, "targets", ["targets-b"]))
    return repo.trusted_root(), repo.publish(signers={"targets": ["targets-a"]}).remote()


@state("targets-key-added", "PASS: root v2 adds targets key b next to a (threshold 1); targets signed only by b")
def _(ring):
    repo = fresh(ring)
    repo.rotate(lambda r: set_role_keys(ring, r, "targets", ["targets-a", "targets-b"]))
    return repo.trusted_root(), repo.publish(signers={"targets": ["targets-b"]}).remote()


@state("targets-threshold-2of3-met", "PASS: targets threshold 2 of a,b,c; targets signed by a and c")
def _(ring):
    repo = fresh(ring, keys={"targets": ["targets-a", "targets-b", "targets-c"]}, thresholds={"targets": 2})
    return repo.trusted_root(), repo.publish(signers={"targets": ["targets-a", "targets-c"]}).remote()


@state("targets-threshold-2of3-not-met", "FAIL: targets threshold 2 of a,b,c; targets signed by b only")
def _(ring):
    repo = fresh(ring, keys={"targets": ["targets-a", "targets-b", "targets-c"]}, thresholds={"targets": 2})
    return repo.trusted_root(), repo.publish(signers={"targets": ["targets-b"]}).remote()


@state("targets-negative-length", "FAIL: a target in targets.json has length -1")
def _(ring):
    edit = edit_signed(lambda d: d["targets"]["stable/face-detector/1.4.0"].update(length=-1))
    return simple(ring, before_sign={"targets": edit})


@state("trusted-targets-corrupt", "PASS: trusted/targets.json is garbage; the remote repository is valid")
def _(ring):
    repo = fresh(ring)
    trusted = trusted_then_bump(repo, "timestamp", "snapshot")
    return {**trusted, "targets.json": b"{]"}, repo.publish().remote()


# --- formats


@state("wrong-type-snapshot-as-timestamp", "FAIL: timestamp.json is a snapshot payload, signed by the timestamp key")
def _(ring):
    repo = fresh(ring)
    published = repo.publish()
    fake = sign_payload(ring, payload_of(repo.snapshot), ["timestamp-a"])
    published.files["timestamp"] = ("timestamp.json", fake)
    return repo.trusted_root(), published.remote()


@state("wrong-type-timestamp-as-root", "FAIL: 2.root.json is a timestamp payload, signed by the root key")
def _(ring):
    repo = fresh(ring)
    remote = repo.publish().remote()
    remote["2.root.json"] = sign_payload(ring, payload_of(repo.timestamp), ["root-a"])
    return repo.trusted_root(), remote


@state("spec-version-2", "FAIL: timestamp spec_version is 2.0.0 (unsupported major version)")
def _(ring):
    return simple(ring, before_sign={"timestamp": edit_signed(lambda d: d.update(spec_version="2.0.0"))})


@state("spec-version-newer-minor", "PASS: timestamp spec_version is 1.99.0 (same major version)")
def _(ring):
    return simple(ring, before_sign={"timestamp": edit_signed(lambda d: d.update(spec_version="1.99.0"))})


@state("spec-version-garbage", "FAIL: timestamp spec_version is 1.0.x")
def _(ring):
    return simple(ring, before_sign={"timestamp": edit_signed(lambda d: d.update(spec_version="1.0.x"))})


@state("unknown-fields-in-signed", "PASS: every signed payload carries unknown extra fields (also in meta and target entries)")
def _(ring):
    def extra(d: dict) -> None:
        d["x-vendor-note"] = {"anything": [1, 2, 3]}
        for entry in list(d.get("meta", {}).values()) + list(d.get("targets", {}).values()):
            entry["x-extra"] = True

    hooks = {role: edit_signed(extra) for role in ("timestamp", "snapshot", "targets")}
    repo = fresh(ring)
    repo.rotate(before_sign=edit_signed(extra))
    return repo.trusted_root(), repo.publish(before_sign=hooks).remote()


@state("root-x-ota-checkin", "PASS: root v2 carries an unrecognized field x-ota-checkin {keyids, threshold: 1}")
def _(ring):
    checkin = {"keyids": [ring.keyid("checkin-a")], "threshold": 1}
    repo = fresh(ring)
    repo.rotate(before_sign=edit_signed(lambda d: d.update({"x-ota-checkin": checkin})))
    return repo.trusted_root(), repo.publish().remote()


@state("root-x-ota-model-signing", "PASS: root v2 carries an unrecognized field x-ota-model-signing {signers: {name: ECDSA P-256 PEM}, bundles}")
def _(ring):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    policy = {"signers": {"vision-team": pem}, "bundles": ["digits"]}
    repo = fresh(ring)
    repo.rotate(before_sign=edit_signed(lambda d: d.update({"x-ota-model-signing": policy})))
    return repo.trusted_root(), repo.publish().remote()


@state("unknown-fields-in-envelope", "LAX: timestamp envelope has an extra top-level field next to payload/payloadType/signatures")
def _(ring):
    return simple(ring, after_sign={"timestamp": edit_envelope(lambda e: e.update({"x-note": "hello"}))})


@state("payload-duplicate-json-keys", "LAX: trusted timestamp v5; remote timestamp payload has \"version\": 4 then \"version\": 6 (python's json keeps the last)")
def _(ring):
    repo = fresh(ring)
    repo.timestamp.version = 5
    trusted = {**repo.trusted_root(), **repo.publish().trusted("timestamp")}
    repo.timestamp.version = 6

    def duplicate(payload: bytes) -> bytes:
        return payload.replace(b'"version": 6', b'"version": 4, "version": 6', 1)

    return trusted, repo.publish(before_sign={"timestamp": duplicate}).remote()


@state("malformed-json-timestamp", "FAIL: timestamp.json is truncated JSON")
def _(ring):
    return simple(ring, after_sign={"timestamp": lambda data: data[: len(data) // 2]})


@state("malformed-json-payload", "FAIL: timestamp envelope is valid JSON, its signed payload is not (signature is valid)")
def _(ring):
    return simple(ring, before_sign={"timestamp": lambda payload: payload[:-1]})


@state("malformed-json-next-root", "FAIL: 2.root.json is not JSON")
def _(ring):
    repo = fresh(ring)
    remote = repo.publish().remote()
    remote["2.root.json"] = b"<html>maintenance</html>"
    return repo.trusted_root(), remote


@state("legacy-metadata-format", "FAIL: timestamp.json is classic {signed, signatures} metadata, not a DSSE envelope")
def _(ring):
    repo = fresh(ring)
    published = repo.publish()
    signed = repo.timestamp.to_dict()
    classic = {"signed": signed, "signatures": [{"keyid": ring.keyid("timestamp-a"), "sig": "00" * 64}]}
    published.files["timestamp"] = ("timestamp.json", json.dumps(classic).encode())
    return repo.trusted_root(), published.remote()


@state("missing-timestamp", "FAIL: remote has no timestamp.json")
def _(ring):
    repo = fresh(ring)
    return repo.trusted_root(), repo.publish().remote("timestamp")


@state("missing-snapshot", "FAIL: remote has no snapshot.json")
def _(ring):
    repo = fresh(ring)
    return repo.trusted_root(), repo.publish().remote("snapshot")


@state("missing-targets", "FAIL: remote has no targets.json")
def _(ring):
    repo = fresh(ring)
    return repo.trusted_root(), repo.publish().remote("targets")


@state("payload-not-base64", "FAIL: timestamp envelope payload is not base64")
def _(ring):
    return simple(ring, after_sign={"timestamp": edit_envelope(lambda e: e.update(payload="{not: base64}"))})


def ensure_urlsafe_difference(payload: bytes) -> bytes:
    """Pad the payload until its standard base64 contains '+' or '/' (so the URL-safe
    alphabet really differs) and its length is not a multiple of 3 (so there is padding)."""
    signed = json.loads(payload)
    pad = ""
    while True:
        candidate = json.dumps({**signed, "x-pad": pad} if pad else signed).encode()
        text = base64.b64encode(candidate)
        if (b"+" in text or b"/" in text) and len(candidate) % 3:
            return candidate
        pad += "?"


@state("payload-base64url", "PASS: timestamp payload uses the URL-safe base64 alphabet (DSSE allows it)")
def _(ring):
    def urlsafe(envelope: dict) -> None:
        envelope["payload"] = base64.urlsafe_b64encode(base64.b64decode(envelope["payload"])).decode()

    return simple(ring, before_sign={"timestamp": ensure_urlsafe_difference}, after_sign={"timestamp": edit_envelope(urlsafe)})


@state("payload-base64-unpadded", "FAIL: timestamp payload base64 without '=' padding (DSSE allows it; ngclient refuses it)")
def _(ring):
    def unpad(envelope: dict) -> None:
        envelope["payload"] = envelope["payload"].rstrip("=")

    return simple(ring, before_sign={"timestamp": ensure_urlsafe_difference}, after_sign={"timestamp": edit_envelope(unpad)})


# ------------------------------------------------------------------------- output


def write_state(out: str, name: str, description: str, trusted: dict[str, bytes], remote: dict[str, bytes]) -> None:
    for sub, files in (("trusted", trusted), ("remote", remote)):
        folder = os.path.join(out, name, sub)
        os.makedirs(folder, exist_ok=True)
        for filename, data in files.items():
            with open(os.path.join(folder, filename), "wb") as f:
                f.write(data)
    with open(os.path.join(out, name, "description.txt"), "w") as f:
        f.write(description + "\n")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    out = argv[1]
    os.makedirs(out, exist_ok=True)
    names = [name for name, _, _ in STATES]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise SystemExit(f"make_states: duplicate state names {sorted(duplicates)}")
    for name, description, build in STATES:
        trusted, remote = build(KeyRing())
        if "root.json" not in trusted:
            raise SystemExit(f"make_states: state {name} has no trusted root")
        write_state(out, name, description, trusted, remote)
    print(f"make_states: {len(STATES)} states in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
