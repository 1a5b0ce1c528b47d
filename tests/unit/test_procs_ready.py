"""A started service that never answers is stopped and named, with its exit code and its log's
end; one that answers is left running."""

from __future__ import annotations

import sys

import pytest

from telltale import procs
from telltale.errors import SetupError


def test_a_service_that_exits_before_it_answers_is_named_with_its_log(tmp_path):
    log = tmp_path / "svc.log"
    proc = procs.spawn(["sh", "-c", "echo 'bind: address in use'; exit 3"], log)
    stopped = []
    with pytest.raises(SetupError, match=r"(?s)svc did not start \(exit 3\); log .*svc\.log:\n"
                                         r"bind: address in use"):
        procs.ready_or_fail(proc, lambda: False, 10, log, "svc did not start", lambda: stopped.append(1))
    assert stopped == [1]


def test_a_service_that_answers_is_left_running(tmp_path):
    log = tmp_path / "svc.log"
    proc = procs.spawn([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(30)"], log)
    try:
        procs.ready_or_fail(proc, lambda: "up" in procs.tail(log), 10, log, "svc", lambda: procs.stop(proc))
        assert proc.poll() is None
    finally:
        procs.stop(proc)
    assert proc.poll() is not None
