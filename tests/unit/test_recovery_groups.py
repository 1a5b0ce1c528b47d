"""A process group is stopped while something of it runs, and is gone when only zombies are left
(dead processes their parent has not reaped: nothing to stop, and no reason to wait for them)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from telltale import recovery

# A group leader that leaves an unreaped child (a zombie of the group) and sleeps on.
LEADER = "import subprocess, time; subprocess.Popen(['true']); time.sleep(60)"


def _zombies_of(pgid: int) -> list[str]:
    out = subprocess.run(["ps", "-o", "pid=,stat=", "-g", str(pgid)], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.split()[1].startswith("Z")]


def test_a_group_with_only_zombies_left_is_gone(tmp_path):
    leader = subprocess.Popen([sys.executable, "-c", LEADER], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not _zombies_of(leader.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _zombies_of(leader.pid), "the planted zombie did not appear"
        assert recovery._group_exists(leader.pid)  # the leader runs
        leader.kill()
        leader.wait()
        # the child is dead and maybe not yet reaped by the process it was handed to: either way
        # nothing of the group runs
        assert not recovery._group_exists(leader.pid)
        ledger = tmp_path / "processes.jsonl"
        ledger.write_text(json.dumps({"pid": leader.pid, "start": None, "cmd": "planted"}) + "\n")
        assert recovery.stop_recorded(ledger) == []  # nothing said to be left running, nothing waited for
    finally:
        if leader.poll() is None:
            os.killpg(leader.pid, signal.SIGKILL)
            leader.wait()
