"""Captures a command can read only in part, and the real command line to give them to.

A capture of ten flows, each leaking the canary to a host no policy allows, and its twin
with one digit of one record's length prefix flipped: the damage a disk, a copy or a
killed proxy leaves.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.detect.plant import http_flow, write_flows

ROOT = Path(__file__).resolve().parents[2]
CANARY = "Zq7Xw2Pk9Lm4Rt8v"
FLOWS = 10
DAMAGED = 5  # the record whose length prefix is flipped
POLICY = "defaults:\n  allow: ['*.example.net']\n"  # the planted hosts are not in it


def telltale(*args: str, root: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`telltale ARGS` as a pipeline runs it: a new process, its exit code, stdout and stderr."""
    full = {**os.environ, "TELLTALE_ROOT": str(root), **(env or {})}
    return subprocess.run([sys.executable, "-m", "telltale.cli", *args], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=300)


def leaking_capture(path: Path) -> Path:
    """FLOWS flows, flow i leaking the canary to t<i>.tracker.example.com."""
    flows = [http_flow(path=f"/c?t={CANARY}&n={i}", host=f"t{i}.tracker.example.com") for i in range(FLOWS)]
    return write_flows(path, flows)


def record_offsets(data: bytes) -> list[int]:
    """Where each record of a flow file starts (`LEN:PAYLOAD<type>`)."""
    offsets, i = [], 0
    while i < len(data):
        offsets.append(i)
        colon = data.index(b":", i)
        i = colon + 1 + int(data[i:colon]) + 1
    return offsets


def flip_length_digit(src: Path, dst: Path, record: int = DAMAGED) -> Path:
    """`src` with the first digit of `record`'s length prefix changed (one byte, still a digit)."""
    data = bytearray(src.read_bytes())
    at = record_offsets(bytes(data))[record]
    d = data[at] - ord("0")
    data[at] = ord(str(d + 1 if d < 9 else d - 1))
    dst.write_bytes(bytes(data))
    return dst


def twins(folder: Path) -> tuple[Path, Path]:
    """(the intact capture, its damaged twin), and policy.yaml beside them."""
    good = leaking_capture(folder / "good.mitm")
    (folder / "policy.yaml").write_text(POLICY)
    return good, flip_length_digit(good, folder / "damaged.mitm")
