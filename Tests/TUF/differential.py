#!/usr/bin/env python3
"""Differential test: python-tuf's ngclient against our TUF client (otactl).

Usage:
  differential.py STATES_DIR --otactl PATH [--only NAME]
  differential.py STATES_DIR --python-only [--only NAME]

STATES_DIR is what make_states.py wrote. For every state both clients start from
STATE/trusted and update from STATE/remote; the test passes when they agree on
accept/reject. ngclient is the reference because it is the TUF reference
implementation; where it is known to be lax (states whose description starts with
"LAX:") our client may reject what it accepts, which is reported as "stricter" and
does not fail the run. Our client accepting something ngclient rejects always fails.

--python-only prints ngclient's decision per state and checks it against the
expectation (PASS/FAIL/LAX) in the state's description.txt, to test the battery itself.

Exit status: 0 all agree, 1 a disagreement (or, with --python-only, an unexpected
ngclient decision), 2 a harness failure (otactl crashed, printed no JSON, ...).
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from tuf.api.exceptions import DownloadHTTPError
from tuf.ngclient import Updater, UpdaterConfig
from tuf.ngclient.config import EnvelopeType
from tuf.ngclient.fetcher import FetcherInterface

OTACTL_TIMEOUT_SECONDS = 60


class HarnessFailure(Exception):
    """Something other than a client decision went wrong; the run cannot be trusted."""


@dataclass
class Outcome:
    """One client's decision on one state."""

    ok: bool
    error: str = ""

    def label(self) -> str:
        return "ok" if self.ok else "fail"


@dataclass
class State:
    name: str
    path: str
    description: str

    @property
    def expectation(self) -> str:
        """PASS, FAIL or LAX: the word before the first colon of the description."""
        return self.description.split(":", 1)[0].strip()

    @property
    def trusted(self) -> str:
        return os.path.join(self.path, "trusted")

    @property
    def remote(self) -> str:
        return os.path.join(self.path, "remote")


def load_states(states_dir: str, only: str | None) -> list[State]:
    """Every folder with a description.txt, sorted by name (optionally just one)."""
    states = []
    for name in sorted(os.listdir(states_dir)):
        path = os.path.join(states_dir, name)
        description_file = os.path.join(path, "description.txt")
        if not os.path.isfile(description_file) or (only and name != only):
            continue
        with open(description_file) as f:
            states.append(State(name, path, f.read().strip()))
    if only and not states:
        raise HarnessFailure(f"no state named {only!r} in {states_dir}")
    if not states:
        raise HarnessFailure(f"no states in {states_dir}")
    return states


# ------------------------------------------------------------------ ngclient side


class LocalFetcher(FetcherInterface):
    """Serves remote/ by the URL's file name, so ngclient never touches the network.

    A missing file answers like an HTTP 404, which is how ngclient learns that there is
    no newer root and how a missing timestamp/snapshot/targets shows up.
    """

    def __init__(self, remote_dir: str):
        self.remote_dir = remote_dir

    def _fetch(self, url: str) -> Iterator[bytes]:
        name = unquote(os.path.basename(urlsplit(url).path))
        path = os.path.join(self.remote_dir, name)
        if not name or not os.path.isfile(path):
            raise DownloadHTTPError("not found", 404)
        with open(path, "rb") as f:
            return iter([f.read()])


def run_ngclient(state: State) -> Outcome:
    """refresh() from a scratch copy of trusted/ (ngclient writes into its metadata dir).

    Any exception is ngclient's rejection: it raises RepositoryError for most attacks
    but lets some TypeError/ValueError through for badly typed payloads.
    """
    with tempfile.TemporaryDirectory(prefix="tuf-diff-") as scratch:
        metadata_dir = os.path.join(scratch, "metadata")
        shutil.copytree(state.trusted, metadata_dir)
        try:
            updater = make_updater(metadata_dir, state.remote)
            updater.refresh()
        except Exception as e:  # noqa: BLE001 - every failure is a decision here
            return Outcome(False, describe_error(e))
    return Outcome(True)


def describe_error(error: BaseException) -> str:
    """Class and message of the error and of its causes: ngclient wraps parse errors in
    a DeserializationError with an empty message, the cause says what was wrong."""
    parts = []
    while error is not None and len(parts) < 4:
        parts.append(f"{type(error).__name__}: {error}".rstrip(": "))
        error = error.__cause__
    return " <- ".join(parts)


def make_updater(metadata_dir: str, remote_dir: str) -> Updater:
    """An Updater for DSSE metadata, trusting metadata_dir/root.json.

    tuf 6+ wants the initial root as a keyword-only `bootstrap`; older releases read it
    from metadata_dir themselves. Either way the same bytes are trusted.
    """
    kwargs = {}
    if "bootstrap" in inspect.signature(Updater.__init__).parameters:
        with open(os.path.join(metadata_dir, "root.json"), "rb") as f:
            kwargs["bootstrap"] = f.read()
    return Updater(
        metadata_dir=metadata_dir,
        metadata_base_url="https://repo.invalid/metadata/",
        fetcher=LocalFetcher(remote_dir),
        config=UpdaterConfig(envelope_type=EnvelopeType.SIMPLE),
        **kwargs,
    )


# ----------------------------------------------------------------------- our side


def run_ours(otactl: str, state: State) -> Outcome:
    """`otactl trust check --trusted T --remote R --json`: one JSON object, exit 0 (ok) or 2 (refused; 1 is accepted too).

    Anything else (crash, timeout, other exit code, no JSON, ok contradicting the exit
    code) is a harness failure, not a decision: a crashing client must not "reject".
    """
    command = [otactl, "trust", "check", "--trusted", state.trusted, "--remote", state.remote, "--json"]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=OTACTL_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise HarnessFailure(f"{state.name}: otactl timed out after {OTACTL_TIMEOUT_SECONDS}s") from None
    except OSError as e:
        raise HarnessFailure(f"cannot run {otactl}: {e}") from None

    context = f"{state.name}: otactl exit {run.returncode}, stdout {run.stdout.strip()!r}, stderr {run.stderr.strip()[-500:]!r}"
    if run.returncode not in (0, 1, 2):
        raise HarnessFailure(context)
    try:
        answer = json.loads(run.stdout)
    except json.JSONDecodeError:
        raise HarnessFailure(f"{context}: not JSON") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
        raise HarnessFailure(f"{context}: no boolean 'ok'")
    if answer["ok"] != (run.returncode == 0):
        raise HarnessFailure(f"{context}: 'ok' contradicts the exit code")
    return Outcome(answer["ok"], str(answer.get("error", "")))


# ---------------------------------------------------------------------- reporting


def python_only(states: list[State]) -> int:
    """Print ngclient's decision per state; fail if it contradicts the description."""
    unexpected = 0
    for state in states:
        outcome = run_ngclient(state)
        expected_ok = state.expectation in ("PASS", "LAX")
        verdict = "as described" if outcome.ok == expected_ok else "UNEXPECTED"
        unexpected += outcome.ok != expected_ok
        detail = f"  ({outcome.error})" if outcome.error else ""
        print(f"{verdict:12} {state.name:48} ngclient={outcome.label()}{detail}")
    print(f"{len(states)} states, {len(states) - unexpected} as described")
    return 1 if unexpected else 0


def differential(states: list[State], otactl: str) -> int:
    """Run both clients on every state and compare their accept/reject decisions."""
    agree = stricter = 0
    for state in states:
        theirs, ours = run_ngclient(state), run_ours(otactl, state)
        if theirs.ok == ours.ok:
            word, agree = "agree", agree + 1
        elif state.expectation == "LAX" and theirs.ok and not ours.ok:
            word, stricter = "stricter", stricter + 1
        else:
            word = "DISAGREE"
        print(f"{word:9}{state.name:48} ngclient={theirs.label()} ours={ours.label()}")
        if word != "agree":
            print(f"         described: {state.description}")
            print(f"         ngclient:  {theirs.error or '-'}")
            print(f"         ours:      {ours.error or '-'}")
    summary = f"{len(states)} states, {agree} agree"
    if stricter:
        summary += f", {stricter} stricter than ngclient on LAX states (allowed)"
    print(summary)
    return 0 if agree + stricter == len(states) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("states_dir", help="folder written by make_states.py")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--otactl", help="path of the otactl binary to test")
    mode.add_argument("--python-only", action="store_true", help="only print ngclient's decisions")
    parser.add_argument("--only", metavar="NAME", help="run just this state")
    args = parser.parse_args()

    # ngclient logs every rejected local file at WARNING/DEBUG; the table says enough.
    logging.disable(logging.CRITICAL)
    try:
        states = load_states(args.states_dir, args.only)
        if args.python_only:
            return python_only(states)
        return differential(states, os.path.abspath(args.otactl) if os.sep in args.otactl else args.otactl)
    except HarnessFailure as e:
        print(f"differential: HARNESS FAILURE: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
