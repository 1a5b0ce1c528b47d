"""An interrupted run loses nothing and leaks nothing: Ctrl-C, a killed `telltale run` and a
reports folder that turns read-only mid-run all end with every process stopped, the captures
redacted and a manifest marked incomplete (at once, or by the next run)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from telltale import recovery
from telltale.results import environment

from .helpers import ROOT
from .test_redaction import SECRET, _files_with

pytestmark = pytest.mark.e2e
SUITE = "tests/e2e/suites/interrupt_suite.py"


def _start(reports: Path, run_id: str, marker: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "telltale.cli", "run", "--reports", str(reports), "--run-id", run_id,
         "--suite", SUITE, "--no-report", *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "TELLTALE_TEST_SECRET": SECRET, "TELLTALE_TEST_MARKER": str(marker)})


def _wait_for(marker: Path, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        assert time.monotonic() < deadline, "the scenario never reached its hold"
        time.sleep(0.2)


def _recorded(run: Path) -> list[tuple[int, int | None]]:
    """The processes the run's suite started, from its ledger (while the run is on)."""
    (ledger,) = [p for p in recovery.ledger_dir(ROOT / ".telltale").glob("*.processes.jsonl")
                 if p.name.startswith(f"{run.name}-")]
    rows = [json.loads(line) for line in ledger.read_text().splitlines() if line.strip()]
    cmds = " ".join(r["cmd"] for r in rows)
    assert "mitmdump" in cmds and "tcpdump" in cmds and "appium" in cmds, rows
    return [(r["pid"], r["start"]) for r in rows]


def _none_running(pids: list[tuple[int, int | None]]) -> None:
    left = [pid for pid, start in pids if recovery.alive(pid, start)]
    assert not left, f"still running: {left}"


def _finished_clean(run: Path) -> dict:
    assert _files_with(run, SECRET) == [], "a planted credential is still in the run folder"
    manifest = json.loads((run / "manifest.json").read_text())
    assert "incomplete" in manifest, manifest.keys()
    verify = subprocess.run([sys.executable, "-m", "telltale.cli", "verify", str(run)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    return manifest


def test_ctrl_c_stops_everything_and_finishes_the_folder(ready, tmp_path):
    marker = tmp_path / "holding"
    proc = _start(tmp_path, "int", marker)
    _wait_for(marker, proc)
    pids = _recorded(tmp_path / "int")
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 130, out[-3000:]
    assert "interrupted by SIGINT" in out
    _none_running(pids)
    manifest = _finished_clean(tmp_path / "int")
    assert "SIGINT" in manifest["incomplete"]
    env = environment(tmp_path / "int" / "allure-results")
    assert env["incomplete"].startswith("interrupted by SIGINT"), env


def test_a_killed_runner_is_finished_by_the_next_run(ready, tmp_path):
    marker = tmp_path / "holding"
    proc = _start(tmp_path, "killed", marker)
    _wait_for(marker, proc)
    pids = _recorded(tmp_path / "killed")
    (ledger,) = [p for p in recovery.ledger_dir(ROOT / ".telltale").glob("killed-*.json")]
    entry = json.loads(ledger.read_text())
    pids.append((entry["suite_pid"], entry["suite_start"]))  # the suite itself tears down too
    proc.send_signal(signal.SIGKILL)  # no handler, no teardown of its own: the suite gets SIGTERM
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 120
    while any(recovery.alive(p, s) for p, s in pids) and time.monotonic() < deadline:
        time.sleep(0.5)
    _none_running(pids)
    assert _files_with(tmp_path / "killed", SECRET), "the planted credential is in the capture (precondition)"
    assert not (tmp_path / "killed" / "manifest.json").exists()
    nxt = subprocess.run(
        [sys.executable, "-m", "telltale.cli", "run", "--reports", str(tmp_path), "--run-id", "next",
         "--no-report", "-k", "no_such_scenario"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert nxt.returncode == 5, nxt.stdout[-3000:] + nxt.stderr[-2000:]  # it ran nothing itself
    assert f"{tmp_path / 'killed'}: finished the run folder an earlier" in nxt.stdout
    assert "killed before it finished" in _finished_clean(tmp_path / "killed")["incomplete"]


def _mount_read_only(folder: Path) -> None:
    subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
    subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)


def test_a_folder_turned_read_only_is_named_and_finished_later(ready, tmp_path):
    marker = tmp_path / "holding"
    proc = _start(tmp_path, "ro", marker)
    _wait_for(marker, proc)
    run = tmp_path / "ro"
    _mount_read_only(run)
    try:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=180)
        assert proc.returncode == 130, out[-3000:]
        assert "error: redaction" in out and "Read-only file system" in out, out[-3000:]
        assert not (run / "manifest.json").exists()
    finally:
        subprocess.run(["umount", str(run)], check=True)
    nxt = subprocess.run(
        [sys.executable, "-m", "telltale.cli", "run", "--reports", str(tmp_path), "--run-id", "next",
         "--no-report", "-k", "no_such_scenario"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert f"{run}: finished the run folder an earlier" in nxt.stdout, nxt.stdout[-3000:]
    _finished_clean(run)
