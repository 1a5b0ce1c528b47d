"""A large capture scanned in spans by worker processes gives exactly the serial scan's result.

The spans must really be scanned in worker processes (their ids are in the result); when the
workers cannot run, the capture is scanned in this process and the result says so, and why.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import os
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool

import pytest
from plant import flow_bytes, http_flow

from telltale.detect import Canary, scan, scan_files
from telltale.detect.scan import _spans
from telltale.errors import CaptureFileError

TOKEN = "Zq7Xw2Pk9Lm4Rt8v"
CANARIES = [Canary("token", TOKEN), Canary("email", "jane.parallel@example.org")]



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
    data = flow_bytes(flows[:50]) + b"11:hello world," + flow_bytes(flows[50:])
    path = tmp_path / "big.mitm"
    path.write_bytes(data)
    assert len(_spans(str(path), 3)) == 3
    serial = scan_files([path], CANARIES, workers=1)
    assert serial.findings and serial.truncated and serial.errors
    assert serial.workers == () and serial.serial == ()
    for workers in (2, 3):
        parallel = scan_files([path], CANARIES, workers=workers, parallel_min_bytes=0)
        assert _result(parallel) == _result(serial)
        # scanned by worker processes, not by this one after a silent fallback
        assert parallel.serial == ()
        assert parallel.workers and os.getpid() not in parallel.workers
        assert len(parallel.workers) <= workers


def test_parallel_scan_of_a_cut_capture_names_the_damage_as_a_serial_scan(tmp_path):
    data = flow_bytes(_flows(60))
    path = tmp_path / "cut.mitm"
    path.write_bytes(data[:-25])
    other = tmp_path / "other.mitm"
    other.write_bytes(flow_bytes(_flows(7)))
    serial = scan_files([path, other], CANARIES, workers=1)
    parallel = scan_files([path, other], CANARIES, workers=2, parallel_min_bytes=0)
    assert _result(parallel) == _result(serial)
    assert any(isinstance(e, CaptureFileError) and e.where == "record 59" for e in parallel.errors)
    assert parallel.serial == () and parallel.workers and os.getpid() not in parallel.workers


class _Pool:
    """A stand-in for the worker pool whose every span fails with `error`."""

    error: BaseException = BrokenProcessPool("a child process terminated abruptly")

    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, *args, **kwargs):
        f: Future = Future()
        f.set_exception(self.error)
        return f


def _no_pool(*args, **kwargs):
    raise OSError(38, "Function not implemented")


@pytest.mark.parametrize("pool,why", [
    (_no_pool, "no worker processes here (OSError: [Errno 38] Function not implemented)"),
    (_Pool, "a worker process died (a child process terminated abruptly)"),
])
def test_workers_that_cannot_run_give_a_serial_scan_that_says_so(tmp_path, monkeypatch, caplog, pool, why):
    path = tmp_path / "big.mitm"
    path.write_bytes(flow_bytes(_flows(40)))
    serial = scan_files([path], CANARIES, workers=1)
    monkeypatch.setattr(scan, "ProcessPoolExecutor", pool)
    with caplog.at_level(logging.WARNING, logger="telltale.detect.scan"):
        fallback = scan_files([path], CANARIES, workers=2, parallel_min_bytes=0)
    assert _result(fallback) == _result(serial)
    assert fallback.workers == ()
    assert fallback.serial == (f"{path}: scanned serially: {why}",)
    assert [r.getMessage() for r in caplog.records] == list(fallback.serial)


def test_an_error_in_a_worker_that_is_no_pool_failure_is_not_hidden_by_a_serial_scan(tmp_path, monkeypatch):
    path = tmp_path / "big.mitm"
    path.write_bytes(flow_bytes(_flows(40)))

    class Failing(_Pool):
        error = KeyError("a bug in the scan")

    monkeypatch.setattr(scan, "ProcessPoolExecutor", Failing)
    with pytest.raises(KeyError, match="a bug in the scan"):
        scan_files([path], CANARIES, workers=2, parallel_min_bytes=0)
