"""A large capture scanned in spans by worker processes gives exactly the serial scan's result."""

from __future__ import annotations

import base64
import gzip
import io as pyio
import json

from mitmproxy import io
from plant import http_flow

from telltale.detect import Canary, scan_files
from telltale.detect.scan import _spans
from telltale.errors import CaptureFileError

TOKEN = "Zq7Xw2Pk9Lm4Rt8v"
CANARIES = [Canary("token", TOKEN), Canary("email", "jane.parallel@example.org")]


def _flow_bytes(flows) -> bytes:
    buf = pyio.BytesIO()
    w = io.FlowWriter(buf)
    for f in flows:
        w.add(f)
    return buf.getvalue()


def _flows(n: int):
    out = []
    for i in range(n):
        kind = i % 5
        if kind == 0:
            out.append(http_flow(path=f"/a?i={i}&t={TOKEN}"))
        elif kind == 1:
            body = json.dumps({"i": i, "d": base64.b64encode(b"jane.parallel@example.org").decode()}).encode()
            out.append(http_flow(body=gzip.compress(body), headers={"content-encoding": "gzip"}))
        elif kind == 2:
            cut = gzip.compress(" ".join(str(k * k) for k in range(2000)).encode())[:-300]
            out.append(http_flow(body=cut, headers={"content-encoding": "gzip"}))
        else:
            out.append(http_flow(path=f"/plain/{i}", body=b"nothing here " * 20))
    return out


def _result(r):
    errors = [(e.path, e.where, e.message) if isinstance(e, CaptureFileError) else e for e in r.errors]
    return r.findings, errors, r.truncated, r.flows_scanned


def test_parallel_scan_gives_exactly_the_serial_findings(tmp_path):
    flows = _flows(120)
    data = _flow_bytes(flows[:50]) + b"11:hello world," + _flow_bytes(flows[50:])
    path = tmp_path / "big.mitm"
    path.write_bytes(data)
    assert len(_spans(str(path), 3)) == 3
    serial = scan_files([path], CANARIES, workers=1)
    assert serial.findings and serial.truncated and serial.errors
    for workers in (2, 3):
        parallel = scan_files([path], CANARIES, workers=workers, parallel_min_bytes=0)
        assert _result(parallel) == _result(serial)


def test_parallel_scan_of_a_cut_capture_names_the_damage_as_a_serial_scan(tmp_path):
    data = _flow_bytes(_flows(60))
    path = tmp_path / "cut.mitm"
    path.write_bytes(data[:-25])
    other = tmp_path / "other.mitm"
    other.write_bytes(_flow_bytes(_flows(7)))
    serial = scan_files([path, other], CANARIES, workers=1)
    parallel = scan_files([path, other], CANARIES, workers=2, parallel_min_bytes=0)
    assert _result(parallel) == _result(serial)
    assert any(isinstance(e, CaptureFileError) and e.where == "record 59" for e in parallel.errors)
