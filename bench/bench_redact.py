"""Redaction of a run's capture: flows per second, and how much the evidence keeper costs.

Generates a capture of phone-like traffic (a third of the flows with credentials: an
Authorization header, a cookie, a session id, a JSON body with a password and an access token
(sometimes a canary); the rest forms and binary bodies without any) and redacts it with `redact.capture_file`:
once without a keeper, once with the keeper of a run's canaries and identifiers.

    .tox/compliance/bin/python bench/bench_redact.py [--flows 20000] [--canaries 50]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from mitmproxy import io
from mitmproxy.test import tflow

from telltale import redact


def _flow(i: int, canary: str):
    f = tflow.tflow(resp=True)
    f.request.host = f"t{i % 50}.telemetry.example.com"
    f.request.path = f"/v1/collect?seq={i}&q=a%20b"
    if i % 3 == 0:
        f.request.path += f"&session_id=s{i:08d}"
        f.request.headers["authorization"] = f"Bearer tok{i:012d}"
        f.request.headers["cookie"] = f"sess=abc{i}; uid=u{i}"
        f.request.headers["content-type"] = "application/json"
        f.request.content = json.dumps({"event": "page", "n": i, "password": f"pw{i}",
                                        "nested": {"access_token": canary if i % 9 == 0 else f"at{i}"},
                                        "blob": "x" * 400}).encode()
    elif i % 3 == 1:
        f.request.headers["content-type"] = "application/x-www-form-urlencoded"
        f.request.content = f"user=u{i}&note=hello%20world&pad={'y' * 300}".encode()
    else:
        f.request.content = b"\x08\x96\x01" + bytes(range(256)) * 2
    return f


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", type=int, default=20_000)
    ap.add_argument("--canaries", type=int, default=50)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-redact-"))
    try:
        values = {f"c{i}": f"https://tt-{i:06d}.example.net/read/{i:08x}" for i in range(args.canaries)}
        src = work / "capture.mitm"
        with open(src, "wb") as fo:
            w = io.FlowWriter(fo)
            for i in range(args.flows):
                w.add(_flow(i, values["c0"]))
        size = src.stat().st_size / 1e6
        print(f"{args.flows} flows, {size:.1f} MB, {args.canaries} canaries + 2 identifiers")
        for label, keep in (("no keeper", None),
                            ("keeper", redact.keeper(values, {"serial": "TTBENCH0000000001",
                                                              "imei": "358240051111110"}))):
            cap = work / f"{label.replace(' ', '-')}.mitm"
            shutil.copy(src, cap)
            t = time.perf_counter()
            total, cut = redact.capture_file(cap, keep)
            dt = time.perf_counter() - t
            print(f"{label:10} {dt:6.2f} s  {total / dt:8.0f} flows/s  {size / dt:5.1f} MB/s  "
                  f"{cut} of {total} flows redacted")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
